"""How the simulated API behaves: ``SimulatorConfig`` and the per-model settings it starts with.

Every setting is declared once, as a field of ``SimulatorConfig`` with its help text: the
runtime ``configure()`` / ``POST /_control/config`` and the command line (``python -m
simulator --help``) are both derived from these fields and their annotations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.hashing import stable_int

__all__ = ["DEFAULT_MODELS", "DEFAULT_MODEL_QUALITY", "FAULT_RATES", "SimulatorConfig", "model_quality"]

DEFAULT_MODELS: tuple[str, ...] = (
    "deepseek-v4-flash",
    "gpt-4o",
    "gpt-4o-mini",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-VL-32B",
    "Qwen/Qwen3.5-397B",
)

# Demo defaults: a higher quality gives longer, more specific answers.
DEFAULT_MODEL_QUALITY: dict[str, float] = {
    "gpt-4o": 0.85,
    "Qwen/Qwen3.5-397B": 0.85,
    "deepseek-v4-flash": 0.75,
    "gpt-4o-mini": 0.6,
    "Qwen/Qwen3-32B": 0.55,
    "Qwen/Qwen3-VL-32B": 0.55,
    "Qwen/Qwen3-8B": 0.35,
}

# The faults one random draw per chat request chooses among, as (fault name, rate field), in
# the order of that draw: the rates are stacked, so their sum must stay within 1.
FAULT_RATES: tuple[tuple[str, str], ...] = (
    ("rate_429", "rate_429_rate"),
    ("error_500", "error_500_rate"),
    ("hang", "hang_rate"),
    ("malformed", "malformed_rate"),
)


def _setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, help: str, **cli: str) -> Any:  # noqa: A002
    """A config field with its help text; ``cli`` may rename its flag (``flag``) or ``metavar``."""
    return field(default=default, default_factory=factory, metadata={"help": help, **cli})


@dataclass
class SimulatorConfig:
    """Behaviour of the simulator; every field can be changed at runtime.

    Fields named ``*_rate`` are probabilities in [0, 1], drawn per chat request from the fault
    RNG (``seed``); the other numbers are seconds or counts and never negative.
    """

    models: list[str] = _setting(
        factory=lambda: list(DEFAULT_MODELS),
        help="a model listed by GET /v1/models, replacing the default list (other model ids are "
        "accepted unless strict_models)",
        flag="--model",
        metavar="MODEL",
    )
    strict_models: bool = _setting(False, help="answer 404 model_not_found for a model not in models")
    model_quality: dict[str, float] = _setting(
        factory=dict,
        help="per-model quality in [0, 1] overriding the demo defaults and the name-hash default",
        metavar="MODEL=QUALITY",
    )
    latency: float = _setting(0.0, help="seconds before answering (successes, 500s, malformed bodies)")
    latency_jitter: float = _setting(0.0, help="uniform +/- jitter in seconds added to latency (clamped at 0)")
    error_500_rate: float = _setting(0.0, help="share of chat requests answered 500")
    rate_429_rate: float = _setting(0.0, help="share of chat requests answered 429 with Retry-After")
    retry_after: float = _setting(
        1.0, help="seconds sent in Retry-After (rounded up) and retry-after-ms on injected 429s"
    )
    hang_rate: float = _setting(0.0, help="share of chat requests that hang for hang_seconds")
    hang_seconds: float = _setting(
        30.0, help="a hung request sleeps this long (without blocking others), then answers normally"
    )
    malformed_rate: float = _setting(0.0, help="share of chat requests answered 200 with a truncated JSON body")
    served_model_overrides: dict[str, str] = _setting(
        factory=dict,
        help="requested model id -> model id reported in the response's model field",
        flag="--served-model-override",
        metavar="REQUESTED=SERVED",
    )
    self_identify_rate: float = _setting(
        0.0, help="share of answers (deterministic per request) that name the model's vendor"
    )
    self_identify_models: list[str] = _setting(
        factory=list,
        help='a model whose answers always name its vendor ("As an AI model developed by OpenAI")',
        flag="--self-identify-model",
        metavar="MODEL",
    )
    max_failures_per_key: int | None = _setting(
        None, help="at most this many injected faults per (model, prompt) key; then it always succeeds"
    )
    seed: int = _setting(0, help="seed of the fault RNG (reseeded on reset() and whenever seed is configured)")
    rpm_limit: int | None = _setting(
        None, help="answer 429 when more than this many requests were admitted in the last rpm_window"
    )
    rpm_window: float = _setting(60.0, help="seconds of the rpm_limit sliding window")
    require_key: bool = _setting(False, help="require Authorization: Bearer <key> (401 otherwise)")
    api_key: str | None = _setting(None, help="with require_key: the only accepted key (none given: any non-empty key)")
    verbose: bool = _setting(False, help="log every request to stderr")
    model_timing: dict[str, str] = _setting(
        factory=dict,
        help="per-model speed and length (simulator/timing.py): latency=LO-HI,ttft=LO-HI,tokens=N "
        "(seconds; replaces latency for that model)",
        metavar="MODEL=PROFILE",
    )
    stream_refused_models: list[str] = _setting(
        factory=list,
        help="a model that answers 400 to stream=true, as a provider without streaming does",
        flag="--stream-refused-model",
        metavar="MODEL",
    )
    # The simulated judge (simulator/judging.py).
    judge_models: list[str] = _setting(
        factory=list, help="a model that answers as a pairwise judge", flag="--judge-model", metavar="MODEL"
    )
    judge_rule: str = _setting("longer", help="how the judge picks: longer, marker or always_a")
    judge_marker: str = _setting("[best]", help="with judge_rule=marker: the text that makes an answer win")
    judge_first_rate: float = _setting(0.0, help="share of judge replies that pick the answer shown first")
    judge_no_verdict_rate: float = _setting(0.0, help="share of judge replies (random per call) without a verdict")
    judge_silent_marker: str = _setting("[no verdict]", help="a question containing this never gets a verdict")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be within [0, 1], got {value!r}")
            if f.type == "float" and value < 0:
                raise ValueError(f"{f.name} must be >= 0")
            if f.type == "int | None" and value is not None and value < 0:
                raise ValueError(f"{f.name} must be >= 0 or None")
        fault_sum = sum(getattr(self, rate) for _, rate in FAULT_RATES)
        if fault_sum > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {fault_sum}, more than 1")
        if self.rpm_window <= 0:
            raise ValueError("rpm_window must be > 0")
        from simulator.timing import parse_timing

        for name, spec in self.model_timing.items():
            parse_timing(name, spec)
        if self.judge_rule not in ("longer", "marker", "always_a"):
            raise ValueError("judge_rule must be longer, marker or always_a")
        for name, value in self.model_quality.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"model_quality[{name!r}] must be within [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, **fields: Any) -> SimulatorConfig:
        """A validated copy with ``fields`` replaced (values coerced; unknown names raise)."""
        types = {f.name: f.type for f in dataclasses.fields(self)}
        unknown = sorted(set(fields) - set(types))
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
        coerced = {}
        for name, value in fields.items():
            try:
                coerced[name] = _COERCE_BY_TYPE[types[name]](value)
            except (TypeError, ValueError):
                raise ValueError(f"invalid value for {name}: {value!r}") from None
        return dataclasses.replace(self, **coerced)


def model_quality(model: str, overrides: dict[str, float] | None = None) -> float:
    """Quality in [0, 1]: config override, then DEFAULT_MODEL_QUALITY, then a name hash."""
    if overrides and model in overrides:
        return float(overrides[model])
    if model in DEFAULT_MODEL_QUALITY:
        return DEFAULT_MODEL_QUALITY[model]
    return 0.4 + 0.4 * ((stable_int("quality", model) % 1000) / 1000.0)


# --------------------------------------------------------------------------- coercion
# Values arrive as JSON from POST /_control/config: each annotation has one coercion, which
# refuses what JSON would silently turn into something else (true as 1.0, "3" as a count).


def _finite_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    result = float(value)
    if not math.isfinite(result):
        raise ValueError
    return result


def _whole_number_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value:
        raise TypeError
    return int(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    return int(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError
    return list(value)


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError
    return dict(value)


def _float_map(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise TypeError
    return {str(k): float(v) for k, v in value.items()}


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _string_or_none(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError
    return value


_COERCE_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "float": _finite_float,
    "int | None": _whole_number_or_none,
    "int": _integer,
    "bool": _boolean,
    "list[str]": _string_list,
    "dict[str, str]": _string_map,
    "dict[str, float]": _float_map,
    "str | None": _string_or_none,
    "str": _string,
}

_uncoerced = [f.name for f in dataclasses.fields(SimulatorConfig) if f.type not in _COERCE_BY_TYPE]
if _uncoerced:  # a new field with a new annotation needs its coercion (and its CLI flag type)
    raise TypeError(f"SimulatorConfig fields without a coercion: {', '.join(_uncoerced)}")
