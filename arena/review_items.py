"""THE blind boundary: the one place that turns an assignment into what a reviewer sees.

`review_item_build` reads an allow-list of columns (prompt text, the two response texts, the
campaign's name and guidelines) with one query and returns a plain `ReviewItem`. Reviewer-facing
code (API, views, templates) only ever gets a `ReviewItem`: never a Response, Contestant or
Comparison object, so no label, model id, response id, cost or token count can leak by accident.
Whether an item is a repeat check is not part of it either.
"""

from dataclasses import dataclass

from .models import Assignment, Prompt
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

    def as_api(self) -> dict:
        """The JSON of `GET /api/review/next/` (the contract fields plus progress and safe HTML).

        The guidelines come as markdown only: the review page renders them once, not per item.
        """
        return {
            "assignment": self.token,
            "campaign": {"id": self.campaign_id, "name": self.campaign_name},
            "prompt": self.prompt,
            "prompt_html": render_markdown(self.prompt),
            "left": {"text": self.left, "html": render_markdown(self.left)},
            "right": {"text": self.right, "html": render_markdown(self.right)},
            "guidelines": self.guidelines,
            "progress": self.progress,
        }


def review_item_build(*, assignment: Assignment) -> ReviewItem:
    row = (
        Assignment.objects.filter(pk=assignment.pk)
        .values(
            "token",
            "a_on_left",
            "campaign_id",
            "campaign__name",
            "campaign__guidelines",
            "campaign__votes_per_comparison",
            "campaign__created_at",
            "comparison__prompt__text",
            "comparison__prompt__messages",
            "comparison__response_a__text",
            "comparison__response_b__text",
        )
        .get()
    )
    text_a, text_b = row["comparison__response_a__text"], row["comparison__response_b__text"]
    left, right = (text_a, text_b) if row["a_on_left"] else (text_b, text_a)
    prompt = Prompt(text=row["comparison__prompt__text"], messages=row["comparison__prompt__messages"])
    return ReviewItem(
        token=row["token"],
        campaign_id=row["campaign_id"],
        campaign_name=row["campaign__name"],
        prompt=prompt.display_text,
        left=left,
        right=right,
        guidelines=row["campaign__guidelines"],
        progress=reviewer_progress(
            campaign_id=row["campaign_id"],
            reviewer=assignment.reviewer_id,
            k=row["campaign__votes_per_comparison"],
            created=row["campaign__created_at"],
        ),
    )
