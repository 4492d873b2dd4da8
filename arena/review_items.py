"""THE blind boundary: the one place that turns an assignment into what a reviewer sees.

`review_item_build` reads an allow-list of columns (`_ITEM_FIELDS`: prompt text, the two response
texts, the campaign's name and guidelines) with one query and returns a plain `ReviewItem`. Reviewer-facing
code (API, views, templates) only ever gets a `ReviewItem`: never a Response, Contestant or
Comparison object, so no label, model id, response id, cost or token count can leak by accident.
Whether an item is a repeat check is not part of it either.
"""

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from .models import Assignment, Prompt, Response, Vote
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
    model.objects.filter(pk=pk, html="").update(html=html)
    return html


# The allow-list: the only columns a reviewer's item is built from.
_SIDES = ("comparison__response_a", "comparison__response_b")
_ITEM_FIELDS = (
    *("token", "a_on_left", "campaign_id", "reviewer_id", "done"),
    *("campaign__name", "campaign__guidelines", "campaign__votes_per_comparison", "campaign__created_at"),
    *("comparison__prompt_id", "comparison__prompt__text", "comparison__prompt__messages", "comparison__prompt__html"),
    *(f"{side}{column}" for side in _SIDES for column in ("", "__text", "__html")),
)


def _counted_votes_of_reviewer():
    """The reviewer's counted votes in the assignment's campaign, counted in the item's query.

    An index-only scan of their own entries (the partial index vote_counted_by_reviewer). The
    campaign is compared as `campaign_id + 0` so that the planner stays off the (campaign,
    counted, resolved) index, which it combined with stale statistics into a bitmap of every
    vote in the campaign (2 ms at 14k votes).
    """
    votes = (
        Vote.objects.filter(reviewer_id=OuterRef("reviewer_id"), counted=True)
        .alias(campaign_key=F("campaign_id") + 0)
        .filter(campaign_key=OuterRef("campaign_id"))
        .order_by()
        .values("reviewer_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(votes), 0)


def review_item_build(*, assignment_id: int) -> ReviewItem:
    """The item of this assignment as its reviewer sees it: one query for the allow-listed
    columns and the reviewer's vote count, and the stored HTML (rendered on first view)."""
    items = Assignment.objects.filter(pk=assignment_id).annotate(done=_counted_votes_of_reviewer())
    row = items.values(*_ITEM_FIELDS).first()
    if row is None:
        raise Assignment.DoesNotExist
    prompt = Prompt(text=row["comparison__prompt__text"], messages=row["comparison__prompt__messages"]).display_text
    sides = [
        (row[f"{side}__text"], _stored_html(Response, row[side], row[f"{side}__html"], row[f"{side}__text"]))
        for side in _SIDES
    ]
    (left, left_html), (right, right_html) = sides if row["a_on_left"] else sides[::-1]
    progress = reviewer_progress(
        campaign_id=row["campaign_id"],
        reviewer_id=row["reviewer_id"],
        k=row["campaign__votes_per_comparison"],
        created=row["campaign__created_at"],
        done=row["done"],
    )
    return ReviewItem(
        token=row["token"],
        campaign_id=row["campaign_id"],
        campaign_name=row["campaign__name"],
        prompt=prompt,
        left=left,
        right=right,
        guidelines=row["campaign__guidelines"],
        progress=progress,
        prompt_html=_stored_html(Prompt, row["comparison__prompt_id"], row["comparison__prompt__html"], prompt),
        left_html=left_html,
        right_html=right_html,
    )
