"""THE blind boundary: the one place that turns an assignment into what a reviewer sees.

`review_item_build` reads an allow-list of columns (`_ITEM_SQL`: prompt text and messages, the
two response texts, the campaign's name and guidelines, whether it has criteria) with one query,
and the campaign's criteria (key, question, required) with another when it has some, and returns
a plain `ReviewItem`. Reviewer-facing code (API, views, templates) only ever gets a
`ReviewItem`: never a Response, Contestant or Comparison object, so no label, model id,
response id, cost or token count can leak by accident. Whether an item is a repeat check is not
part of it either.
"""

from dataclasses import dataclass

from .conversations import conversation_for_reviewer
from .models import Assignment, Campaign, CampaignReviewer, Comparison, Criterion, Prompt, Response
from .raw_sql import Names, fetch_one
from .raw_sql import from_db as _from_db
from .rendering import render_markdown
from .selectors.reviewers import reviewer_progress
from .services.criteria import campaign_criteria


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
    # A prompt given as messages: every turn before the answer (arena/conversations.py); else None.
    conversation: list | None = None
    # The campaign's criteria, in order: ({"key", "question", "required"}, ...); () when none.
    criteria: tuple = ()

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
            "conversation": self.conversation,
            "criteria": [dict(c) for c in self.criteria],
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


_A, _K, _C, _P, _R, _M, _Q = (
    Names(m) for m in (Assignment, Campaign, Comparison, Prompt, Response, CampaignReviewer, Criterion)
)
# The allow-list: the only columns a reviewer's item is built from. SQL, not the ORM: see
# arena/raw_sql.py. The reviewer's vote count is their membership's counter (a subquery: the
# membership may be gone, the item is still theirs).
_ITEM_SQL = f"""
SELECT a.{_A.token}, a.{_A.a_on_left}, a.{_A.campaign}, a.{_A.reviewer},
       COALESCE((SELECT m.{_M.votes_cast} FROM {_M} m
                 WHERE m.{_M.campaign} = a.{_A.campaign} AND m.{_M.user} = a.{_A.reviewer}), 0),
       k.{_K.name}, k.{_K.guidelines}, k.{_K.votes_per_comparison}, k.{_K.created_at},
       p.{_P.id}, p.{_P.text}, p.{_P.messages}, p.{_P.html},
       ra.{_R.id}, ra.{_R.text}, ra.{_R.html}, rb.{_R.id}, rb.{_R.text}, rb.{_R.html},
       EXISTS (SELECT 1 FROM {_Q} q WHERE q.{_Q.campaign} = a.{_A.campaign})
FROM {_A} a
JOIN {_K} k ON k.{_K.id} = a.{_A.campaign}
JOIN {_C} c ON c.{_C.id} = a.{_A.comparison}
JOIN {_P} p ON p.{_P.id} = c.{_C.prompt}
JOIN {_R} ra ON ra.{_R.id} = c.{_C.response_a}
JOIN {_R} rb ON rb.{_R.id} = c.{_C.response_b}
WHERE a.{_A.id} = %s"""


def review_item_build(*, assignment_id: int) -> ReviewItem:
    """The item of this assignment as its reviewer sees it: one query for the allow-listed
    columns and the reviewer's vote count, and the stored HTML (rendered on first view)."""
    row = fetch_one(_ITEM_SQL, [assignment_id])
    if row is None:
        raise Assignment.DoesNotExist
    token, a_on_left, campaign_id, reviewer_id, done, name, guidelines, k, created = row[:9]
    prompt_id, prompt_text, messages, prompt_html = row[9:13]
    messages = _from_db(Prompt, "messages", messages)
    prompt = Prompt(text=prompt_text, messages=messages).display_text
    sides = [
        (row[14], _stored_html(Response, row[13], row[15], row[14])),
        (row[17], _stored_html(Response, row[16], row[18], row[17])),
    ]
    (left, left_html), (right, right_html) = sides if a_on_left else sides[::-1]
    progress = reviewer_progress(
        campaign_id=campaign_id,
        reviewer_id=reviewer_id,
        k=k,
        created=_from_db(Campaign, "created_at", created),
        done=done,
    )
    return ReviewItem(
        token=token,
        campaign_id=campaign_id,
        campaign_name=name,
        prompt=prompt,
        left=left,
        right=right,
        guidelines=guidelines,
        progress=progress,
        prompt_html=_stored_html(Prompt, prompt_id, prompt_html, prompt),
        left_html=left_html,
        right_html=right_html,
        conversation=conversation_for_reviewer(messages) if messages else None,
        # Read only when the campaign has criteria (the item's query says whether it has).
        criteria=tuple(
            {"key": key, "question": question, "required": required}
            for _pk, key, question, required in (campaign_criteria(campaign_id=campaign_id) if row[19] else ())
        ),
    )
