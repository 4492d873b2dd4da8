"""Campaign criteria: the questions asked beside the overall choice, and their answers' rules.

A campaign may ask up to `CRITERIA_MAX` criteria; each is answered left/right/tie/both_bad like
the overall choice (which is always asked) and resolved to the pair (a/b) by the same function,
`voting.resolve_choice`. `criteria_check` holds the rules of their definition (the API's create
and admin's inline both call it); `criteria_answers_check` those of a vote's answers.
"""

import re
from dataclasses import dataclass

from ..errors import ValidationFailed
from ..models import Campaign, Criterion, Vote

CRITERIA_MAX = 8
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
QUESTION_MAX = 300


@dataclass(frozen=True)
class CriterionSpec:
    key: str
    question: str
    required: bool = True


def criteria_check(*, criteria: list[CriterionSpec], where: str = "criteria") -> None:
    """At most CRITERIA_MAX, keys matching KEY_PATTERN and unique, a question each.

    Raises ValidationFailed naming the item (`criteria[2].key`)."""
    if len(criteria) > CRITERIA_MAX:
        raise ValidationFailed(f"a campaign may ask at most {CRITERIA_MAX} criteria", field=where)
    seen = set()
    for i, spec in enumerate(criteria):
        at = f"{where}[{i}]"
        if not isinstance(spec.key, str) or not KEY_PATTERN.fullmatch(spec.key):
            raise ValidationFailed(
                f"{at}.key {spec.key!r} must match [a-z][a-z0-9_]{{0,31}} (lower case, digits and _)", field=f"{at}.key"
            )
        if spec.key in seen:
            raise ValidationFailed(f"{at}.key {spec.key!r} is used twice", field=f"{at}.key")
        seen.add(spec.key)
        if not isinstance(spec.question, str) or not spec.question.strip():
            raise ValidationFailed(f"{at}.question must not be empty", field=f"{at}.question")
        if len(spec.question) > QUESTION_MAX:
            raise ValidationFailed(f"{at}.question is longer than {QUESTION_MAX} characters", field=f"{at}.question")


def criteria_create(*, campaign: Campaign, criteria: list[CriterionSpec]) -> None:
    """Store a new campaign's criteria in the order given (call criteria_check first)."""
    Criterion.objects.bulk_create(
        Criterion(campaign=campaign, position=i, key=s.key, question=s.question.strip(), required=s.required)
        for i, s in enumerate(criteria)
    )


def campaign_criteria(*, campaign_id: int) -> list[tuple[int, str, str, bool]]:
    """(id, key, question, required) of each of the campaign's criteria, in order."""
    return list(
        Criterion.objects.filter(campaign_id=campaign_id)
        .order_by("position", "id")
        .values_list("id", "key", "question", "required")
    )


def criteria_answers_check(*, defined: list[tuple[int, str, str, bool]], answers) -> dict[int, str]:
    """The vote's criteria answers, checked against the campaign's criteria: criterion id ->
    choice as shown (left/right/tie/both_bad). A missing required key, an unknown key or a bad
    value raises ValidationFailed naming the key (`criteria.accuracy`)."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        raise ValidationFailed("criteria must be an object of key: left|right|tie|both_bad", field="criteria")
    by_key = {key: (pk, required) for pk, key, _question, required in defined}
    for key in answers:
        if key not in by_key:
            key = str(key)[:64]
            known = ", ".join(by_key) or "none"
            raise ValidationFailed(
                f"criteria.{key}: this campaign has no such criterion (its criteria: {known})", field=f"criteria.{key}"
            )
    checked = {}
    for key, (pk, required) in by_key.items():
        value = answers.get(key)
        if value is None:
            if required:
                raise ValidationFailed(f"criteria.{key}: this criterion must be answered", field=f"criteria.{key}")
            continue
        if value not in Vote.Choice.values:
            raise ValidationFailed(
                f"criteria.{key} must be one of {', '.join(Vote.Choice.values)}", field=f"criteria.{key}"
            )
        checked[pk] = value
    return checked
