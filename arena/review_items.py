"""THE blind boundary: the one place that turns an assignment into what a reviewer sees.

`review_item_build` reads an allow-list of columns (prompt text, the two response texts, the
campaign's name and guidelines) with one query and returns a plain `ReviewItem`. Reviewer-facing
code (API, views, templates) only ever gets a `ReviewItem`: never a Response, Contestant or
Comparison object, so no label, model id, response id, cost or token count can leak by accident.
Whether an item is a repeat check is not part of it either.
"""

import json
from dataclasses import dataclass

from .db import hot_cursor
from .models import Assignment, Campaign, Comparison, Prompt, Response, Vote
from .rendering import render_markdown
from .selectors.reviewers import reviewer_progress


@dataclass(frozen=True)
class ReviewItem:
    token: str
    campaign_id: int
    campaign_name: str
    prompt: str
    left: str
    right: str
    guidelines: str
    progress: dict

    prompt_html: str
    left_html: str
    right_html: str

    def as_api(self) -> dict:
        """The JSON of `GET /api/review/next/` (the contract fields plus progress and safe HTML).

        The guidelines come as markdown only: the review page renders them once, not per item.
        """
        return {
            "assignment": self.token,
            "campaign": {"id": self.campaign_id, "name": self.campaign_name},
            "prompt": self.prompt,
            "prompt_html": self.prompt_html,
            "left": {"text": self.left, "html": self.left_html},
            "right": {"text": self.right, "html": self.right_html},
            "guidelines": self.guidelines,
            "progress": self.progress,
        }


def _stored_html(model, pk: int, html: str, text: str) -> str:
    """The stored safe HTML of a prompt or response, rendered and stored on first view.

    Markdown is the costliest step of "next" for real answers (a few milliseconds each), and a
    comparison is shown k times, a response in several comparisons: rendering once and keeping
    the result takes it off the hot path. The UPDATE is conditional, so two reviewers seeing it
    first at the same moment both store the same HTML, neither overwrites a different one.
    Texts do not change once a comparison exists (comparisons are built from done responses).
    """
    if html or not text:
        return html
    html = render_markdown(text)
    with hot_cursor() as cursor:  # SQL: the ORM's UPDATE cost more CPU than rendering
        cursor.execute(f"UPDATE {model._meta.db_table} SET html = %s WHERE id = %s AND html = ''", [html, pk])
    return html


_A, _K, _C, _P, _R, _V = (m._meta.db_table for m in (Assignment, Campaign, Comparison, Prompt, Response, Vote))


# Written as SQL because this is the hot path of review: the ORM spent about 2 ms of CPU building
# this one statement, several times what the database needs to run it.
# The reviewer's vote count is an index-only scan of their own counted votes (the partial index
# vote_counted_by_reviewer): before it, a heap visit per vote they ever cast, growing through the
# campaign. `+ 0` keeps the planner off the (campaign, counted, ...) index, which it combined
# with stale statistics into a bitmap of every vote in the campaign (2 ms at 14k votes).
def item_select(source: str, *, lead: str = "") -> str:
    """The item's SELECT over `source` aliased `a`: the assignment table, or a CTE that returns
    an assignment's token, a_on_left, campaign_id, reviewer_id and comparison_id (the claim on
    PostgreSQL reads the item in the statement that creates the lease: one round trip fewer).
    `lead` puts other columns of `a` first (e.g. "a.id, ")."""
    return f"""
SELECT {lead}a.token, a.a_on_left, a.campaign_id, a.reviewer_id,
       (SELECT COUNT(*) FROM {_V} v WHERE v.reviewer_id = a.reviewer_id AND v.campaign_id + 0 = a.campaign_id
        AND v.counted),
       k.name, k.guidelines, k.votes_per_comparison, k.created_at,
       p.id, p.text, p.messages, p.html, ra.id, ra.text, ra.html, rb.id, rb.text, rb.html
FROM {source} a
JOIN {_K} k ON k.id = a.campaign_id
JOIN {_C} c ON c.id = a.comparison_id
JOIN {_P} p ON p.id = c.prompt_id
JOIN {_R} ra ON ra.id = c.response_a_id
JOIN {_R} rb ON rb.id = c.response_b_id"""


_ITEM_SQL = item_select(_A) + "\nWHERE a.id = %s"


def review_item_build(*, assignment: Assignment) -> ReviewItem:
    """One query: the allow-listed columns, the stored HTML and the reviewer's vote count.

    No query when the claim already read that row (`assignment.item_row`, `item_select`'s columns).
    """
    row = assignment.__dict__.get("item_row")
    if row is None:
        with hot_cursor() as cursor:
            cursor.execute(_ITEM_SQL, [assignment.pk])
            row = cursor.fetchone()
    if row is None:
        raise Assignment.DoesNotExist
    (token, a_on_left, campaign_id, reviewer_id, done, name, guidelines, k, created) = row[:9]
    prompt_id, prompt_text, messages, prompt_html = row[9:13]
    if isinstance(messages, str):  # JSON comes back as text to a raw cursor
        messages = json.loads(messages)
    if isinstance(created, str):
        created = Campaign._meta.get_field("created_at").to_python(created)
    prompt = Prompt(text=prompt_text, messages=messages).display_text
    sides = [
        (row[14], _stored_html(Response, row[13], row[15], row[14])),
        (row[17], _stored_html(Response, row[16], row[18], row[17])),
    ]
    (left, left_html), (right, right_html) = sides if a_on_left else sides[::-1]
    return ReviewItem(
        token=token,
        campaign_id=campaign_id,
        campaign_name=name,
        prompt=prompt,
        left=left,
        right=right,
        guidelines=guidelines,
        progress=reviewer_progress(campaign_id=campaign_id, reviewer=reviewer_id, k=k, created=created, done=done),
        prompt_html=_stored_html(Prompt, prompt_id, prompt_html, prompt),
        left_html=left_html,
        right_html=right_html,
    )
