"""Style features of a campaign's responses, read from their texts (for style control).

One read of the campaign's response texts (in chunks, not all held at once), each counted
once by `arena.style.style_counts` (characters, markdown headers, list items, bold spans),
then looked up for the A and B response of every comparison.
"""

from __future__ import annotations

import numpy as np

from ..models import Campaign, Response
from ..style import STYLE_FEATURES, style_counts


def response_style_counts(*, campaign: Campaign) -> tuple[np.ndarray, np.ndarray]:
    """Response ids (sorted) and their (n, 4) style counts."""
    ids, counts = [], []
    texts = Response.objects.filter(campaign=campaign).order_by("id").values_list("id", "text")
    for response_id, text in texts.iterator(chunk_size=2000):
        ids.append(response_id)
        counts.append(style_counts(text))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(STYLE_FEATURES)))
    return np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.float64)


def comparison_style_counts(
    *, campaign: Campaign, response_a_id: np.ndarray, response_b_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The style counts of each comparison's response A and response B, (n, 4) each; a
    response that is missing counts as empty."""
    ids, counts = response_style_counts(campaign=campaign)

    def lookup(wanted: np.ndarray) -> np.ndarray:
        wanted = np.asarray(wanted, dtype=np.int64)
        if not len(ids):
            return np.zeros((len(wanted), len(STYLE_FEATURES)))
        at = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
        return np.where((ids[at] == wanted)[:, None], counts[at], 0.0)

    return lookup(response_a_id), lookup(response_b_id)
