"""The style features of one answer, counted as FastChat counts them (no numpy, no Django):
the generation worker stores them with each answer, and arena/style.py's style control reads
them."""

import re

STYLE_FEATURES = ("length", "headers", "list_items", "bold")

# FastChat's patterns (add_markdown_info.py).
_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")


def style_counts(text: str) -> tuple[int, int, int, int]:
    """(characters, headers, list items, bold spans) of one answer.

    Headers are lines starting with 1-6 '#' and a space; list items lines starting with
    "1. " or "-", "*", "+" and a space; bold spans **x** or __x__ on one line; all counted
    after removing ``` fenced blocks (FastChat's `count_markdown_elements`).
    """
    text = text or ""
    prose = _CODE_BLOCK.sub("", text)
    lists = len(_ORDERED.findall(prose)) + len(_UNORDERED.findall(prose))
    bold = len(_BOLD_STARS.findall(prose)) + len(_BOLD_UNDERSCORES.findall(prose))
    return len(text), len(_HEADER.findall(prose)), lists, bold
