"""``python -m simulator --host 127.0.0.1 --port 8001 --latency 0.4``: the simulator in the foreground.

Prints its base URL once it listens, and stops cleanly on SIGINT or SIGTERM. Every flag but
``--host`` and ``--port`` is a ``SimulatorConfig`` field (``--error-500-rate`` sets
``error_500_rate``), derived from the field so that the two never drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from typing import Any

from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer


class _Pairs(argparse.Action):
    """A repeatable KEY=VALUE flag, collected into a dict."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any, *_: Any) -> None:
        key, sep, item = value.partition("=")
        if not sep or not key or not item:
            raise argparse.ArgumentError(self, f"expected {self.metavar}, got {value!r}")
        setattr(namespace, self.dest, {**getattr(namespace, self.dest, {}), key: item})


# How a field's annotation reads from the command line; ``SimulatorConfig.updated`` then
# checks the value as it checks one sent to POST /_control/config.
_ARGUMENT_BY_TYPE: dict[str, dict[str, Any]] = {
    "float": {"type": float},
    "int": {"type": int},
    "int | None": {"type": int},
    "str | None": {"type": str},
    "str": {"type": str},
    "bool": {"action": "store_true"},
    "list[str]": {"action": "append"},
    "dict[str, str]": {"action": _Pairs},
    "dict[str, float]": {"action": _Pairs},
}


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Simulated OpenAI-compatible chat-completions API (for tests, the demo and benchmarks).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (default 8001)")
    for f in dataclasses.fields(SimulatorConfig):
        argument = _ARGUMENT_BY_TYPE[f.type]
        help_text = f.metadata["help"]
        if f.default is not dataclasses.MISSING and f.type != "bool":
            help_text += f" (default {'none' if f.default is None else f.default})"
        elif argument.get("action") in ("append", _Pairs):
            help_text += "; repeat the flag for more"
        if "metavar" in f.metadata:
            argument = {**argument, "metavar": f.metadata["metavar"]}
        parser.add_argument(
            f.metadata.get("flag", "--" + f.name.replace("_", "-")),
            dest=f.name,
            default=argparse.SUPPRESS,  # only the flags given change the defaults
            help=help_text,
            **argument,
        )
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The config the flags describe: the defaults with each given flag applied."""
    names = {f.name for f in dataclasses.fields(SimulatorConfig)}
    return SimulatorConfig().updated(**{name: value for name, value in vars(args).items() if name in names})


def main(argv: list[str] | None = None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    server = SimulatorServer(config, host=args.host, port=args.port)
    server.start()

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Stop cleanly on SIGTERM, and on SIGINT even when started in the background (where the
    # shell makes the process ignore SIGINT).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        print(server.base_url, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
