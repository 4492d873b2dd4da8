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
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def json_nesting_depth_exceeds(text: str, max_depth: int) -> bool:
    """True when arrays/objects in `text` nest deeper than `max_depth`, strings not counted.

    Malformed text is measured as well as it can be; the decoder reports its real fault after.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False  # too few openers to nest that deep, strings or not (a vote's body)
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


def _path(trail) -> str:
    """`[3].metadata.note` from the chain of (parent trail, key or index) links."""
    steps = []
    while trail is not None:
        trail, step = trail
        steps.append(step)
    path = ""
    for step in reversed(steps):
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            shown = step.replace("\x00", "\\u0000")
            path += f".{shown}" if path else shown
    return path or "(value)"


def unstorable_string(value) -> tuple[str, str] | None:
    """(path, problem) of the first string, key or value, in decoded JSON that cannot be stored.

    Walked with an explicit stack in document order, so no input can make it recurse; the path
    is only spelled out for the string at fault.
    """
    stack = [(value, None)]
    while stack:
        item, trail = stack.pop()
        if isinstance(item, str):
            problem = string_problem(item)
            if problem:
                return _path(trail), problem
        elif isinstance(item, dict):
            for key in item:
                problem = string_problem(key)
                if problem:
                    return _path((trail, key)), f"has a key that {problem}"
            stack.extend((child, (trail, key)) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((item[i], (trail, i)) for i in range(len(item) - 1, -1, -1))
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
    # Decoded JSON can only hold a NUL or a lone surrogate that was written as a \\u escape (the
    # strict decoder refuses raw control characters, and the text was valid UTF-8): without one
    # in the text there is nothing to look for.
    if "\\u0000" in text or _SURROGATE_ESCAPE.search(text):
        check_storable(value, where=where, line=line)
    return value
