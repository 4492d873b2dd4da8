"""Raw votes (CSV and JSONL) and preference pairs (JSONL for DPO/RLHF), streamed.

All three render the rows of one selector, `arena.selectors.votes.vote_rows`: this module
only chooses columns and formats them. The CSV goes through the service's one CSV writer
(`arena.reports.csv.stream_csv`, which also makes every cell spreadsheet-safe).

A vote's row carries the three flags that decide whether the report counts it: `counted`
(false for repeat checks), `reviewer_excluded` and `comparison_excluded`. The report counts
exactly the rows where counted is true and both exclusions are false, so votes.csv alone
reproduces every number of report.csv.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from operator import itemgetter

from ..models import Vote
from ..selectors.votes import (
    VOTE_COLUMNS,
    comparison_details,
    comparison_outcome_counts,
    reviewer_pseudonym,
    vote_criteria_keys,
    vote_rows,
)
from .csv import ROWS_PER_CHUNK, fmt_seconds, stream_csv

__all__ = ["VOTES_HEADER", "reviewer_pseudonym", "votes_csv", "votes_jsonl", "preferences_jsonl"]

VOTES_HEADER = [
    "campaign",
    "vote_id",
    "comparison_id",
    "prompt_id",
    "category",
    "prompt",
    "model_a",
    "model_b",
    "left_model",
    "right_model",
    "choice",
    "resolved",
    "winner",
    "reviewer",
    "counted",
    "reviewer_excluded",
    "comparison_excluded",
    "too_fast",
    "seconds_on_task",
    "assigned_at",
    "voted_at",
    "comment",
]

# votes.jsonl: the CSV's columns, with a chat prompt's messages as JSON rather than as text,
# and the criteria answers as one object, `criteria` ({key: a|b|tie|both_bad}, {} when none).
# votes.csv has one column per criterion instead, `criterion_<key>`, after the columns above
# (only for a campaign with criteria), holding the same resolved answers (empty: not answered).
_AFTER_PROMPT = VOTES_HEADER.index("prompt") + 1
VOTES_JSONL_KEYS = [*VOTES_HEADER[:_AFTER_PROMPT], "messages", *VOTES_HEADER[_AFTER_PROMPT:]]
_CRITERIA_AT = len(VOTE_COLUMNS)


# One encoder for every line: `json.dumps` with an option builds a new encoder per call.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _columns(names: list[str]) -> itemgetter:
    """A function that takes the named values out of a `vote_rows` row (in one C call)."""
    return itemgetter(*(VOTE_COLUMNS.index(name) for name in names))


_CSV_VALUES = _columns(VOTES_HEADER)
_JSONL_VALUES = _columns(VOTES_JSONL_KEYS)
_PROMPT = VOTE_COLUMNS.index("prompt")
_MESSAGES = VOTE_COLUMNS.index("messages")
_SECONDS = VOTE_COLUMNS.index("seconds_on_task")


def _votes_csv_cells(rows: Iterable[list]) -> Iterator[tuple]:
    # Each row is a new list that only this loop holds, so its values are formatted in place
    # rather than copied into another list first.
    for row in rows:
        # A chat prompt is written as its messages' JSON: its text alone would lose the turns.
        if messages := row[_MESSAGES]:
            row[_PROMPT] = _to_json(messages)
        row[_SECONDS] = fmt_seconds(row[_SECONDS])
        yield (*_CSV_VALUES(row), *row[_CRITERIA_AT:])


def votes_csv(*, campaign_id: int) -> Iterator[str]:
    """Every vote of the campaign as CSV (VOTES_HEADER, then `criterion_<key>` per criterion),
    oldest first, streamed."""
    header = VOTES_HEADER + [f"criterion_{key}" for _pk, key in vote_criteria_keys(campaign_id=campaign_id)]
    return stream_csv(header, _votes_csv_cells(vote_rows(campaign_id=campaign_id)))


def _jsonl(records) -> Iterator[str]:
    lines: list[str] = []
    for record in records:
        lines.append(_to_json(record))
        if len(lines) >= ROWS_PER_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def votes_jsonl(*, campaign_id: int) -> Iterator[str]:
    """Every vote as one JSON object a line (VOTES_JSONL_KEYS and `criteria`), oldest first, streamed."""
    keys = [key for _pk, key in vote_criteria_keys(campaign_id=campaign_id)]

    def record(row: list) -> dict:
        values = dict(zip(VOTES_JSONL_KEYS, _JSONL_VALUES(row), strict=True))
        values["criteria"] = {k: v for k, v in zip(keys, row[_CRITERIA_AT:], strict=True) if v is not None}
        return values

    return _jsonl(record(row) for row in vote_rows(campaign_id=campaign_id))


def preference_winner(*, votes: int, a_votes: int, b_votes: int) -> str | None:
    """The side ("a" or "b") a comparison's counted votes agree on, or None.

    Kept: at least one decisive vote, no decisive vote for the other side, and the winner
    holds a strict majority of all the votes (so [A, A, tie] is kept with agreement 2/3,
    [A, tie, tie] and [A, B, A] are not). Ties and both-bad never make a pair.
    """
    if a_votes and not b_votes and 2 * a_votes > votes:
        return Vote.Resolved.A
    if b_votes and not a_votes and 2 * b_votes > votes:
        return Vote.Resolved.B
    return None


def _preference_records(*, campaign_id: int) -> Iterator[dict]:
    """One record per comparison whose votes in the report agree on a winner (see
    `preference_winner`); excluded reviewers, excluded comparisons and repeat checks are
    left out, as in the report."""
    counts = comparison_outcome_counts(campaign_id=campaign_id)
    # Winners are found a batch of comparisons at a time, so what the kept ones show (prompt,
    # labels, both texts) is read with one query per batch rather than one per comparison.
    while batch := list(itertools.islice(counts, ROWS_PER_CHUNK)):
        kept = [
            (pk, votes, winner, a_votes if winner == Vote.Resolved.A else b_votes)
            for pk, votes, a_votes, b_votes in batch
            if (winner := preference_winner(votes=votes, a_votes=a_votes, b_votes=b_votes))
        ]
        details = comparison_details(campaign_id=campaign_id, comparison_ids=[pk for pk, *_ in kept])
        for pk, votes, winner, chosen_votes in kept:
            shown = details[pk]
            a_won = winner == Vote.Resolved.A
            yield {
                # Conversational prompts keep their messages (the format TRL's DPO trainer reads).
                "prompt": shown["messages"] if shown["messages"] else shown["prompt"],
                "chosen": (shown["text_a"] if a_won else shown["text_b"]) or "",
                "rejected": (shown["text_b"] if a_won else shown["text_a"]) or "",
                "chosen_model": shown["model_a"] if a_won else shown["model_b"],
                "rejected_model": shown["model_b"] if a_won else shown["model_a"],
                "votes": votes,
                "chosen_votes": chosen_votes,
                "agreement": round(chosen_votes / votes, 6),
                "campaign": shown["campaign"],
                "comparison_id": pk,
                "prompt_id": shown["prompt_id"],
                "category": shown["category"],
            }


def preferences_jsonl(*, campaign_id: int) -> Iterator[str]:
    """The DPO preference pairs, one JSON object a line, in comparison order, streamed."""
    return _jsonl(_preference_records(campaign_id=campaign_id))
