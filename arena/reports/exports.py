"""Raw votes (CSV and JSONL) and preference pairs (JSONL for DPO/RLHF), streamed.

Each export reads the database with `.iterator(chunk_size=...)` (a server-side cursor on
PostgreSQL, a stepped cursor on SQLite) and yields text a few hundred rows at a time, so
memory stays flat whatever the campaign's size.

Reviewers appear under a pseudonym: a keyed hash (HMAC-SHA256 with the site's SECRET_KEY)
of the campaign and user ids. It is stable within a campaign, so per-reviewer analysis works,
but it cannot be reversed to a username or linked across campaigns without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, F, Q

from ..models import Campaign, CampaignReviewer, Comparison, Vote
from .csv import ROWS_PER_CHUNK, stream_csv

CHUNK_SIZE = 2000

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
    "too_fast",
    "seconds_on_task",
    "assigned_at",
    "voted_at",
    "comment",
]


def reviewer_pseudonym(*, campaign_id: int, user_id: int) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"reviewer:{campaign_id}:{user_id}".encode(), hashlib.sha256)
    return "r-" + digest.hexdigest()[:16]


def _prompt_text(text: str, messages) -> str:
    if messages:
        return json.dumps(messages, ensure_ascii=False)
    return text


def vote_records(*, campaign: Campaign) -> Iterator[dict]:
    """Every vote of the campaign (counted or not, excluded reviewers flagged), oldest first."""
    labels = dict(campaign.contestants.values_list("id", "label"))
    excluded = set(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    pseudonyms: dict[int, str] = {}
    rows = (
        Vote.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list(
            "pk",
            "comparison_id",
            "comparison__prompt__external_id",
            "comparison__prompt__category",
            "comparison__prompt__text",
            "comparison__prompt__messages",
            "comparison__contestant_a_id",
            "comparison__contestant_b_id",
            "choice",
            "resolved",
            "a_on_left",
            "reviewer_id",
            "counted",
            "too_fast",
            "seconds_on_task",
            "assignment__leased_at",
            "created_at",
            "comment",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for (
        vote_id,
        comparison_id,
        external_id,
        category,
        text,
        messages,
        a_id,
        b_id,
        choice,
        resolved,
        a_on_left,
        reviewer_id,
        counted,
        too_fast,
        seconds,
        assigned_at,
        voted_at,
        comment,
    ) in rows:
        model_a, model_b = labels.get(a_id, ""), labels.get(b_id, "")
        pseudonym = pseudonyms.get(reviewer_id)
        if pseudonym is None:
            pseudonym = pseudonyms[reviewer_id] = reviewer_pseudonym(campaign_id=campaign.pk, user_id=reviewer_id)
        yield {
            "campaign": campaign.name,
            "vote_id": vote_id,
            "comparison_id": comparison_id,
            "prompt_id": external_id,
            "category": category,
            "prompt": text,
            "messages": messages,
            "model_a": model_a,
            "model_b": model_b,
            "left_model": model_a if a_on_left else model_b,
            "right_model": model_b if a_on_left else model_a,
            "choice": choice,
            "resolved": resolved,
            "winner": model_a if resolved == "a" else model_b if resolved == "b" else resolved,
            "reviewer": pseudonym,
            "counted": counted,
            "reviewer_excluded": reviewer_id in excluded,
            "too_fast": too_fast,
            "seconds_on_task": seconds,
            "assigned_at": assigned_at.isoformat() if assigned_at else None,
            "voted_at": voted_at.isoformat() if voted_at else None,
            "comment": comment,
        }


def votes_csv(*, campaign: Campaign) -> Iterator[str]:
    def rows():
        for r in vote_records(campaign=campaign):
            r["prompt"] = _prompt_text(r["prompt"], r.pop("messages"))
            r["counted"] = "true" if r["counted"] else "false"
            r["reviewer_excluded"] = "true" if r["reviewer_excluded"] else "false"
            r["too_fast"] = "true" if r["too_fast"] else "false"
            r["seconds_on_task"] = "" if r["seconds_on_task"] is None else f"{r['seconds_on_task']:.3f}"
            yield [r[name] if r[name] is not None else "" for name in VOTES_HEADER]

    return stream_csv(VOTES_HEADER, rows())


def _jsonl(records) -> Iterator[str]:
    lines: list[str] = []
    for record in records:
        lines.append(json.dumps(record, ensure_ascii=False))
        if len(lines) >= ROWS_PER_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def votes_jsonl(*, campaign: Campaign) -> Iterator[str]:
    return _jsonl(vote_records(campaign=campaign))


def preference_records(*, campaign: Campaign) -> Iterator[dict]:
    """One record per comparison whose counted votes agree on a winner.

    Kept: at least one decisive vote, no decisive vote for the other side, and the winner
    holds a strict majority of all the comparison's counted votes (so [A, A, tie] is kept with
    agreement 2/3, [A, tie, tie] and [A, B, A] are not). Ties and both-bad never make a pair.
    Excluded reviewers and repeat votes are left out, as in the report.
    """
    labels = dict(campaign.contestants.values_list("id", "label"))
    excluded = list(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    counted = Q(votes__counted=True)
    if excluded:
        counted &= ~Q(votes__reviewer_id__in=excluded)
    rows = (
        Comparison.objects.filter(campaign=campaign, excluded=False)
        .annotate(
            n=Count("votes", filter=counted),
            na=Count("votes", filter=counted & Q(votes__resolved="a")),
            nb=Count("votes", filter=counted & Q(votes__resolved="b")),
        )
        .annotate(na2=F("na") * 2, nb2=F("nb") * 2)
        .filter(Q(na__gt=0, nb=0, na2__gt=F("n")) | Q(nb__gt=0, na=0, nb2__gt=F("n")))
        .order_by("pk")
        .values_list(
            "pk",
            "prompt__external_id",
            "prompt__category",
            "prompt__text",
            "prompt__messages",
            "contestant_a_id",
            "contestant_b_id",
            "response_a__text",
            "response_b__text",
            "n",
            "na",
            "nb",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for pk, external_id, category, text, messages, a_id, b_id, text_a, text_b, n, na, nb in rows:
        a_won = na > 0
        yield {
            # Conversational prompts keep their messages (the format TRL's DPO trainer reads).
            "prompt": messages if messages else text,
            "chosen": text_a if a_won else text_b,
            "rejected": text_b if a_won else text_a,
            "chosen_model": labels.get(a_id if a_won else b_id, ""),
            "rejected_model": labels.get(b_id if a_won else a_id, ""),
            "votes": n,
            "chosen_votes": na if a_won else nb,
            "agreement": round((na if a_won else nb) / n, 6),
            "campaign": campaign.name,
            "comparison_id": pk,
            "prompt_id": external_id,
            "category": category,
        }


def preferences_jsonl(*, campaign: Campaign) -> Iterator[str]:
    return _jsonl(preference_records(campaign=campaign))
