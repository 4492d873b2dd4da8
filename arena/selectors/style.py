"""Style features of a campaign's responses, read from their texts (for style control).

Each response's `arena.style.style_counts` (characters, markdown headers, list items, bold
spans), stored with its text by the generation engine; a response stored without them (an older
row) is counted from its text, read in chunks. Then looked up for the A and B response of every
comparison.
"""

from __future__ import annotations

import numpy as np

from ..models import Campaign, Response
from ..style import STYLE_FEATURES, style_counts


def response_style_counts(*, campaign: Campaign) -> tuple[np.ndarray, np.ndarray]:
    """Response ids (sorted) and their (n, 4) style counts: as stored with the text, else
    counted from it."""
    ids, counts = [], []
    rows = Response.objects.filter(campaign=campaign).order_by("id")
    for response_id, stored in rows.filter(style__isnull=False).values_list("id", "style").iterator(chunk_size=5000):
        ids.append(response_id)
        counts.append(stored)
    for response_id, text in rows.filter(style__isnull=True).values_list("id", "text").iterator(chunk_size=2000):
        ids.append(response_id)
        counts.append(style_counts(text))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(STYLE_FEATURES)))
    ids, counts = np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.float64)
    order = np.argsort(ids, kind="stable")
    return ids[order], counts[order]


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
