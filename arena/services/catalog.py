"""The model catalog (PRODUCT.md's prices and vendors) and the identity-leak detector built on it.

The catalog is seeded idempotently: missing entries are created, entries a lead has edited
(a price, an id filled in) are left alone. Leak detection does not depend on seeding: it uses
the built-in list as well as whatever the table holds.
"""

import re
from decimal import Decimal

from ..models import ModelCatalogEntry

# (label, API model id or "" when the brief does not give it, vendor, $ per million output
# tokens, aliases that name the model or vendor in a text).
CATALOG: list[tuple[str, str, str, str, list[str]]] = [
    ("DeepSeek V4 Flash", "deepseek-v4-flash", "DeepSeek", "0.25", ["DeepSeek"]),
    ("DeepSeek V3.2", "", "DeepSeek", "0.38", ["DeepSeek"]),
    ("DeepSeek V4 Pro", "", "DeepSeek", "0.78", ["DeepSeek"]),
    ("DeepSeek R1 (Reasoner)", "", "DeepSeek", "2.50", ["DeepSeek", "DeepSeek-R1", "DeepSeek Reasoner"]),
    ("DeepSeek Coder", "", "DeepSeek", "0.25", ["DeepSeek", "DeepSeek-Coder"]),
    ("Qwen3-8B", "Qwen/Qwen3-8B", "Alibaba (Qwen)", "0.01", ["Qwen", "Alibaba", "Tongyi"]),
    ("Qwen3-32B", "Qwen/Qwen3-32B", "Alibaba (Qwen)", "0.28", ["Qwen", "Alibaba", "Tongyi"]),
    ("Qwen3-Coder-30B", "", "Alibaba (Qwen)", "0.35", ["Qwen", "Alibaba", "Tongyi"]),
    ("Qwen3-VL-32B", "Qwen/Qwen3-VL-32B", "Alibaba (Qwen)", "0.52", ["Qwen", "Alibaba", "Tongyi"]),
    ("Qwen3-Omni-30B", "", "Alibaba (Qwen)", "0.52", ["Qwen", "Alibaba", "Tongyi"]),
    ("Qwen3.5-397B", "Qwen/Qwen3.5-397B", "Alibaba (Qwen)", "2.34", ["Qwen", "Alibaba", "Tongyi"]),
    ("Kimi K2.5", "", "Moonshot AI", "3.00", ["Kimi", "Moonshot"]),
    ("GLM-4-9B", "", "Zhipu AI", "0.01", ["GLM", "ChatGLM", "Zhipu"]),
    ("GLM-5", "", "Zhipu AI", "1.92", ["GLM", "ChatGLM", "Zhipu"]),
]

# Names outside the catalog that a model commonly uses for itself. Generic words ("Google",
# "Meta") only count inside a self-description, since a support answer may mention Google Pay.
WELL_KNOWN_NAMES = [
    "OpenAI",
    "ChatGPT",
    "GPT-3.5",
    "GPT-4",
    "GPT-4o",
    "GPT-5",
    "Anthropic",
    "Claude",
    "Gemini",
    "Llama",
    "Mistral AI",
    "Moonshot AI",
    "Zhipu AI",
    "Alibaba Cloud",
]
SELF_IDENTIFICATION_PATTERNS = [
    r"\bas an? (?:ai|artificial intelligence)(?: language)? (?:model|assistant)\b",
    r"\b(?:i am|i'm) an? (?:ai language model|large language model|language model)\b",
    r"\b(?:model|assistant|ai)[,]? (?:developed|created|trained|built|made) by\b",
    r"\b(?:developed|created|trained|built|made) by (?:google|meta|microsoft|amazon|openai|anthropic)\b",
]


def catalog_seed() -> int:
    """Create the missing catalog entries; returns how many were created. Idempotent."""
    created = 0
    for label, model, vendor, price, aliases in CATALOG:
        _, was_created = ModelCatalogEntry.objects.get_or_create(
            label=label,
            defaults={"model": model, "vendor": vendor, "price_per_mtok_out": Decimal(price), "aliases": aliases},
        )
        created += was_created
    return created


def catalog_entry_for_model(model: str) -> ModelCatalogEntry | None:
    return ModelCatalogEntry.objects.filter(model=model).first() if model else None


def identity_terms(*, extra: list[str] = ()) -> list[str]:
    """Every name that would tell a reviewer which model or vendor wrote a text."""
    terms: set[str] = set(WELL_KNOWN_NAMES)
    rows = [(label, model, vendor, aliases) for label, model, vendor, _, aliases in CATALOG]
    rows += list(ModelCatalogEntry.objects.values_list("label", "model", "vendor", "aliases"))
    for label, model, vendor, aliases in rows:
        terms.update([label, model, model.split("/")[-1], vendor, *(aliases or [])])
        terms.update(part.strip() for part in re.split(r"[()]", vendor))
    for name in extra:
        terms.update([name, name.split("/")[-1]])
    # Very short strings would match ordinary words; three letters (GLM) is the shortest kept.
    return sorted((t for t in terms if t and len(t.strip()) >= 3), key=len, reverse=True)


def identity_leak_pattern(*, extra: list[str] = ()) -> re.Pattern:
    names = "|".join(re.escape(t.strip()) for t in identity_terms(extra=extra))
    return re.compile(rf"(?<![\w/.-])(?:{names})(?![\w])|" + "|".join(SELF_IDENTIFICATION_PATTERNS), re.IGNORECASE)


def text_identifies_model(text: str, *, pattern: re.Pattern) -> bool:
    return bool(pattern.search(text or ""))
