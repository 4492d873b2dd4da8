"""The quality-against-cost chart: each model's rating (with its interval) over its cost per
1,000 responses, and the frontier of models that no other beats on both (arena/reports/models.py).

Text goes through svg.py's escaping helpers, so the markup is safe to mark as such.
"""

from __future__ import annotations

import math

from .models import ModelEconomics
from .svg import A_COLOUR, B_COLOUR, _clip, _label, _nice_step, _text


def quality_cost_chart(rows: list[ModelEconomics]) -> str:
    """Cost per 1,000 responses across (a log scale when the costs span more than 10x and none
    is zero), rating up; frontier models in orange, joined by a line in order of cost."""
    points = [r for r in rows if r.rating is not None and r.usd_per_1k_responses is not None]
    if len(points) < 2:
        return ""
    left, top, plot_w, plot_h, bottom = 70, 20, 520, 260, 50
    width, height = left + plot_w + 170, top + plot_h + bottom
    costs = [float(r.usd_per_1k_responses) for r in points]
    log = min(costs) > 0 and max(costs) / min(costs) > 10
    scale = (lambda c: math.log10(c)) if log else (lambda c: c)
    x_lo, x_hi = scale(min(costs)), scale(max(costs))
    if x_hi - x_lo <= 0:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = 0.08 * (x_hi - x_lo)
    x_lo, x_hi = x_lo - pad, x_hi + pad
    y_lo = min(r.ci_low if r.ci_low is not None else r.rating for r in points)
    y_hi = max(r.ci_high if r.ci_high is not None else r.rating for r in points)
    span = max(y_hi - y_lo, 20.0)
    y_lo, y_hi = y_lo - 0.06 * span, y_hi + 0.06 * span

    def sx(cost: float) -> float:
        return left + (scale(cost) - x_lo) / (x_hi - x_lo) * plot_w

    def sy(rating: float) -> float:
        return top + (y_hi - rating) / (y_hi - y_lo) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="Rating against cost per 1,000 responses, with the frontier">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>',
    ]
    step = _nice_step((y_hi - y_lo) / 5)
    tick = (int(y_lo // step) + 1) * step
    while tick < y_hi:
        out.append(f'<line x1="{left}" y1="{sy(tick):.1f}" x2="{left + plot_w}" y2="{sy(tick):.1f}" stroke="#eee"/>')
        out.append(_label(left - 6, sy(tick) + 4, f"{tick:g}", "end", ' fill="#666"'))
        tick += step
    for cost in sorted(set(costs)):
        out.append(_label(sx(cost), top + plot_h + 16, f"${cost:.3g}", "middle", ' fill="#666"'))
    scale_note = ", log scale" if log else ""
    out.append(_label(left + plot_w / 2, height - 10, f"USD per 1,000 responses{scale_note}", "middle"))
    out.append(_label(14, top + plot_h / 2, "rating", "middle", f' transform="rotate(-90 14 {top + plot_h / 2})"'))
    frontier = sorted((r for r in points if r.on_frontier), key=lambda r: float(r.usd_per_1k_responses))
    if len(frontier) > 1:
        path = "".join(
            f"{'M' if i == 0 else 'L'}{sx(float(r.usd_per_1k_responses)):.1f} {sy(r.rating):.1f}"
            for i, r in enumerate(frontier)
        )
        out.append(f'<path d="{path}" fill="none" stroke="{B_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/>')
    for r in points:
        x, y = sx(float(r.usd_per_1k_responses)), sy(r.rating)
        colour = B_COLOUR if r.on_frontier else A_COLOUR
        note = "on the frontier" if r.on_frontier else "beaten on both by another model"
        title = f"{r.model}: rating {r.rating:.0f}, ${r.usd_per_1k_responses:.4g} per 1,000 responses, {note}"
        out.append(f"<g><title>{_text(title)}</title>")
        if r.ci_low is not None and r.ci_high is not None:
            out.append(
                f'<line x1="{x:.1f}" y1="{sy(r.ci_low):.1f}" x2="{x:.1f}" y2="{sy(r.ci_high):.1f}" '
                f'stroke="{colour}" stroke-width="2" opacity="0.6"/>'
            )
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        out.append(_label(x + 8, y - 6, _clip(r.model, 24)) + "</g>")
    out.append(_label(left + plot_w + 12, top + 12, "● on the frontier", extra=f' fill="{B_COLOUR}"'))
    out.append(_label(left + plot_w + 12, top + 30, "● beaten on both", extra=f' fill="{A_COLOUR}"'))
    out.append("</svg>")
    return "".join(out)
