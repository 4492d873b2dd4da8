"""The one CSV writer of the service (`stream_csv`) and the report's CSV files.

`stream_csv` yields text chunks, never the whole file, and every cell goes through
`spreadsheet_safe`: these files are made for spreadsheets, and a cell that starts with `=`,
`+`, `-`, `@`, a tab or a carriage return is a formula there (OWASP, "CSV Injection"), so such
a cell gets a leading single quote, which spreadsheets show as text. Numbers the service
computed are written as they are: ints and floats, and the text of `ComputedNumber` that the
`fmt_*` functions return (a negative rating stays a number).

The win-rate and leaderboard headers are contracts (PRODUCT.md): keep them exactly.
Rates are written with 6 fixed decimals; a p-value below 0.001 in scientific notation
(e.g. 3.051758e-05) so it keeps its precision; every number parses with float(). An empty
pair has empty rate cells, never a division error.
"""

from __future__ import annotations

import csv
import io
import itertools
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


def csv_cells(row: Iterable) -> list:
    """A row's values as the service writes them in any CSV: text that a spreadsheet would
    read as a formula gets a leading single quote; numbers (ints, floats, ComputedNumber)
    stay as they are; booleans are `true`/`false`; None is an empty cell (csv's own rule).

    One comprehension per row rather than a function call per cell: votes.csv has 22 cells
    a row and a million rows, and the call would cost more than the check.
    """
    return [
        ("'" + cell if cell[:1] in FORMULA_STARTS and not isinstance(cell, ComputedNumber) else cell)
        if isinstance(cell, str)
        else ("true" if cell else "false")
        if cell.__class__ is bool
        else cell
        for cell in row
    ]


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
    """Write rows through csv.writer (each row's cells through `csv_cells`) into a small
    buffer and yield it every few hundred rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_cells(header))
    rows = iter(rows)
    while batch := [csv_cells(row) for row in itertools.islice(rows, ROWS_PER_CHUNK)]:
        writer.writerows(batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def winrate_rows(report: CampaignReport) -> Iterator[list]:
    for row in report.overall.pairs:
        yield [
            report.campaign,
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


def leaderboard_rows(report: CampaignReport) -> Iterator[list]:
    for row in report.overall.leaderboard:
        yield [
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
