"""The one CSV writer of the service (`stream_csv`) and the report's CSV files.

`stream_csv` yields text chunks, never the whole file, and every row goes through `csv_line`,
which makes each cell spreadsheet-safe: these files are made for spreadsheets, and a cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula there (OWASP, "CSV
Injection"), so such a cell gets a leading single quote, which spreadsheets show as text.
Numbers the service computed are written as they are: ints and floats, and the text of
`ComputedNumber` that the `fmt_*` functions return (a negative rating stays a number).

`csv_line` writes what the standard library's `csv.writer` writes with its defaults
(QUOTE_MINIMAL: a cell with a comma, a double quote or a line break is quoted and its quotes
doubled; RFC 4180 with CRLF line ends), in the same pass over the cells as the neutralising.
It replaced csv.writer for speed: votes.csv has 22 cells a row and a million rows, and
csv.writer's character-by-character quoting check plus a second Python pass to neutralise the
cells cost about 1.5 times as long as this one pass, which uses C string searches.

The win-rate and leaderboard headers are contracts (PRODUCT.md): keep them exactly.
Rates are written with 6 fixed decimals; a p-value below 0.001 in scientific notation
(e.g. 3.051758e-05) so it keeps its precision; every number parses with float(). An empty
pair has empty rate cells, never a division error.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

from .build import CampaignReport

WINRATE_HEADER = [
    "campaign",
    "model_a",
    "model_b",
    "votes",
    "a_wins",
    "b_wins",
    "ties",
    "both_bad",
    "a_win_rate",
    "b_win_rate",
    "tie_rate",
    "a_score",
    "decisive_share",
    "ci_low",
    "ci_high",
    "p_value",
]
LEADERBOARD_HEADER = ["model", "rating", "ci_low", "ci_high", "votes", "wins", "losses", "ties"]
ROWS_PER_CHUNK = 500

# What a spreadsheet reads as the start of a formula (OWASP's list).
FORMULA_STARTS = frozenset(("=", "+", "-", "@", "\t", "\r"))


class ComputedNumber(str):
    """The text of a number the service computed (a rate, a rating, a p-value): written as it
    is, even when it starts with a minus sign."""


# What makes csv.writer (QUOTE_MINIMAL, CRLF line ends) quote a cell.
_NEEDS_QUOTES = re.compile('[",\r\n]').search


def csv_line(row: Iterable) -> str:
    """A row's values as one line of any CSV the service writes (CRLF included): text that a
    spreadsheet would read as a formula gets a leading single quote; numbers (ints, floats,
    ComputedNumber) stay as they are; booleans are `true`/`false`; None is an empty cell; a
    cell with a comma, a double quote or a line break is quoted, its quotes doubled.

    One loop per row with the checks inline rather than a function call per cell: at a million
    rows the calls would cost more than the checks.
    """
    cells = []
    for cell in row:
        if isinstance(cell, str):
            if cell and cell[0] in FORMULA_STARTS and not isinstance(cell, ComputedNumber):
                cell = "'" + cell
        elif cell.__class__ is bool:
            cell = "true" if cell else "false"
        elif cell is None:
            cell = ""
        else:
            cell = str(cell)
        if _NEEDS_QUOTES(cell):
            cell = '"' + cell.replace('"', '""') + '"'
        cells.append(cell)
    if len(cells) == 1 and not cells[0]:
        # csv.writer's rule: a line of one empty cell is written as "" (a blank line would be
        # read back as no row at all).
        return '""\r\n'
    return ",".join(cells) + "\r\n"


def fmt_rate(value: float | None) -> str:
    return "" if value is None else ComputedNumber(f"{value:.6f}")


def fmt_p(value: float | None) -> str:
    if value is None:
        return ""
    return ComputedNumber(f"{value:.6f}" if value >= 1e-3 else f"{value:.6e}")


def fmt_rating(value: float | None) -> str:
    return "" if value is None else ComputedNumber(f"{value:.2f}")


def fmt_seconds(value: float | None) -> str:
    return "" if value is None else ComputedNumber(f"{value:.3f}")


def stream_csv(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """Write the header and the rows through `csv_line` and yield the text every few hundred
    rows (the header comes with the first rows)."""
    head = csv_line(header)
    rows = iter(rows)
    while lines := [csv_line(row) for row in itertools.islice(rows, ROWS_PER_CHUNK)]:
        yield head + "".join(lines)
        head = ""
    if head:
        yield head


def pair_cells(row) -> list:
    """A pair row's cells after `campaign` in the win-rate CSV (and in criteria.csv)."""
    return [
        row.model_a,
        row.model_b,
        row.votes,
        row.a_wins,
        row.b_wins,
        row.ties,
        row.both_bad,
        fmt_rate(row.a_win_rate),
        fmt_rate(row.b_win_rate),
        fmt_rate(row.tie_rate),
        fmt_rate(row.a_score),
        fmt_rate(row.decisive_share),
        fmt_rate(row.ci_low),
        fmt_rate(row.ci_high),
        fmt_p(row.p_value),
    ]


def winrate_rows(report: CampaignReport) -> Iterator[list]:
    for row in report.overall.pairs:
        yield [report.campaign, *pair_cells(row)]


def leaderboard_rows(report: CampaignReport, rows=None) -> Iterator[list]:
    """The leaderboard's rows (or `rows`, e.g. the style-controlled ones): a model that is not
    estimable has empty rating and interval cells, a bound that is not estimable an empty cell."""
    for row in report.overall.leaderboard if rows is None else rows:
        yield board_cells(row)


def board_cells(row) -> list:
    """A leaderboard row's cells in the leaderboard CSV (the report's, the style-controlled
    one and a judge's)."""
    return [
        row.model,
        fmt_rating(row.rating),
        fmt_rating(row.ci_low),
        fmt_rating(row.ci_high),
        row.votes,
        row.wins,
        row.losses,
        row.ties,
    ]


def winrate_csv(report: CampaignReport) -> Iterator[str]:
    return stream_csv(WINRATE_HEADER, winrate_rows(report))


def leaderboard_csv(report: CampaignReport) -> Iterator[str]:
    return stream_csv(LEADERBOARD_HEADER, leaderboard_rows(report))


def leaderboard_style_csv(report: CampaignReport) -> Iterator[str]:
    """leaderboard_style.csv: the leaderboard header, ratings with style held fixed."""
    return stream_csv(LEADERBOARD_HEADER, leaderboard_rows(report, report.style.leaderboard))
