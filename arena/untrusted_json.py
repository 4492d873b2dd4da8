"""Read JSON that came from outside (request bodies, JSONL lines, uploaded .json files) safely.

Three things the standard library leaves to the caller:

- Depth. `json.loads` recurses once per nesting level, so 2 KB of `[[[[...]]]]` raises
  RecursionError (a 500) before any validation runs. The depth is measured first by a linear
  scan of the brackets outside strings, with no recursion at all, and anything deeper than
  `settings.JSON_MAX_DEPTH` is refused before the decoder sees it.
- Strings a database cannot store. PostgreSQL text and jsonb refuse U+0000, and neither
  database can encode an unpaired surrogate (`"\\ud800"`) as UTF-8: both would be a 500 at
  INSERT time. Every string, key or value, is checked and the first bad one is named by its
  path (`[3].text`, `metadata.note`).
- Numbers. `1e400` decodes to infinity, which no JSON renderer or jsonb column accepts, and
  NaN/Infinity literals are not JSON at all: both are refused.
"""

import json
import math
import re

from django.conf import settings

from .errors import ValidationFailed

# A JSON string: possessive quantifiers, so the regex engine keeps no backtracking state
# however long the string is.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_nesting_depth_exceeds(text: str, max_depth: int) -> bool:
    """True when arrays/objects in `text` nest deeper than `max_depth`, strings not counted.

    Malformed text is measured as well as it can be; the decoder reports its real fault after.
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    if len(brackets) <= max_depth:
        return False
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def string_problem(value: str) -> str | None:
    """Why a database text column could not store `value`, or None when it can."""
    if "\x00" in value:
        return "holds a NUL character (U+0000), which cannot be stored"
    if not value.isascii():
        surrogate = _SURROGATE.search(value)
        if surrogate:
            return f"holds an unpaired surrogate (U+{ord(surrogate.group()):04X}), which is not valid Unicode"
    return None


def _key_path(parent: str, key: str) -> str:
    shown = key.replace("\x00", "\\u0000")
    return f"{parent}.{shown}" if parent else shown


def unstorable_string(value) -> tuple[str, str] | None:
    """(path, problem) of the first string, key or value, in decoded JSON that cannot be stored.

    Walked with an explicit stack in document order, so no input can make it recurse.
    """
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = string_problem(item)
            if problem:
                return path or "(value)", problem
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                child_path = _key_path(path, key)
                problem = string_problem(key)
                if problem:
                    return child_path, f"has a key that {problem}"
                children.append((child_path, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def check_storable(value, *, where: str, line: int | None = None) -> None:
    """Refuse decoded data holding a string the database cannot store, naming its path."""
    found = unstorable_string(value)
    if found:
        path, problem = found
        raise ValidationFailed(f"{where}: {path} {problem}", field=path, line=line)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def untrusted_json_loads(text: str, *, where: str, line: int | None = None):
    """Decode JSON from outside, or raise ValidationFailed saying what is wrong and where."""
    max_depth = settings.JSON_MAX_DEPTH
    if json_nesting_depth_exceeds(text, max_depth):
        raise ValidationFailed(f"{where}: arrays or objects are nested deeper than {max_depth} levels", line=line)
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        # Within one line of a JSONL file the line is the caller's; in a whole text, the decoder's.
        if line is None:
            line, where = exc.lineno, f"{where}, line {exc.lineno}"
        raise ValidationFailed(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})", line=line) from None
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits, and _finite_float infinite floats.
        raise ValidationFailed(f"{where}: not valid JSON ({exc})", line=line) from None
    check_storable(value, where=where, line=line)
    return value
