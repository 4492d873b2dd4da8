"""The pairing schedule: which pairs of contestants are compared on every prompt.

`all_pairs` compares every pair in the campaign's order (A is listed first), so with m models
each model appears in m-1 pairs per prompt, equally often. `vs_baseline` compares every other
model with the baseline, which is always B.
"""

from itertools import combinations

from django.db import transaction

from ..errors import ValidationFailed
from ..models import Campaign, Comparison, Contestant, Response


def baseline_of(contestants: list[Contestant]) -> Contestant:
    """The contestant flagged as baseline, or else the one listed last (the incumbent)."""
    flagged = [c for c in contestants if c.is_baseline]
    if len(flagged) > 1:
        raise ValidationFailed("only one contestant may be the baseline", field="is_baseline")
    return flagged[0] if flagged else contestants[-1]


def contestant_pairs(*, contestants: list[Contestant], pairing: str) -> list[tuple[Contestant, Contestant]]:
    contestants = sorted(contestants, key=lambda c: (c.position, c.id))
    if len(contestants) < 2:
        raise ValidationFailed("a campaign needs at least two contestants", field="contestants")
    if pairing == Campaign.Pairing.VS_BASELINE:
        baseline = baseline_of(contestants)
        return [(c, baseline) for c in contestants if c.id != baseline.id]
    return list(combinations(contestants, 2))


@transaction.atomic
def comparisons_build(*, campaign: Campaign) -> int:
    """Create the comparisons for every prompt whose two responses are done. Idempotent."""
    pairs = contestant_pairs(contestants=list(campaign.contestants.all()), pairing=campaign.pairing)
    done = {
        (r.prompt_id, r.contestant_id): r.id
        for r in Response.objects.filter(campaign=campaign, status=Response.Status.DONE).only(
            "id", "prompt_id", "contestant_id"
        )
    }
    flagged = set(Response.objects.filter(campaign=campaign, self_identifies=True).values_list("id", flat=True))
    rows = []
    for prompt_id in campaign.prompts.values_list("id", flat=True):
        for a, b in pairs:
            ra, rb = done.get((prompt_id, a.id)), done.get((prompt_id, b.id))
            if ra is None or rb is None:
                continue
            rows.append(
                Comparison(
                    campaign=campaign,
                    prompt_id=prompt_id,
                    contestant_a=a,
                    contestant_b=b,
                    response_a_id=ra,
                    response_b_id=rb,
                    # A response naming its model would break the blind: held back until the
                    # lead decides (they can include it again in admin).
                    excluded=(ra in flagged or rb in flagged),
                )
            )
    before = Comparison.objects.filter(campaign=campaign).count()
    Comparison.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return Comparison.objects.filter(campaign=campaign).count() - before
