"""Charts drawn on the server as SVG strings: no JavaScript, nothing fetched from elsewhere.

Every piece of text (model labels come from leads and may hold anything) goes through
`_text()`, which escapes it, so the returned markup is safe to mark as such in a template.
"""

from __future__ import annotations

from html import escape

from .build import LeaderboardRow, PairRow

A_COLOUR = "#2f6fdb"
B_COLOUR = "#e07b39"
TIE_COLOUR = "#b9bec7"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _text(value) -> str:
    return escape(str(value), quote=True)


def _label(x: float, y: float, text, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT}{extra}>{_text(text)}</text>'


def _clip(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def pair_bars(pairs: list[PairRow]) -> str:
    """One stacked bar per pair: A wins | ties and both bad | B wins, with the 95% prompt
    bootstrap interval of a_score as a whisker (a_score sits in the middle of the tie block)."""
    left, bar_w, right, row_h = 190, 420, 190, 34
    width, height = left + bar_w + right, 30 + row_h * max(1, len(pairs))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="Wins, ties and losses per model pair">',
        _label(left, 14, "A wins", extra=f' fill="{A_COLOUR}"'),
        _label(left + bar_w / 2, 14, "ties / both bad", "middle", ' fill="#555"'),
        _label(left + bar_w, 14, "B wins", "end", f' fill="{B_COLOUR}"'),
    ]
    for i, row in enumerate(pairs):
        y = 24 + i * row_h
        out.append(f"<g><title>{_text(f'{row.model_a} vs {row.model_b}: {row.votes} votes')}</title>")
        out.append(_label(left - 8, y + 16, _clip(row.model_a), "end"))
        out.append(_label(left + bar_w + 8, y + 16, _clip(row.model_b)))
        if not row.votes:
            out.append(f'<rect x="{left}" y="{y + 4}" width="{bar_w}" height="18" fill="none" stroke="#ccc"/>')
            out.append(_label(left + bar_w / 2, y + 17, "no votes", "middle", ' fill="#777"'))
            out.append("</g>")
            continue
        a, t = row.a_win_rate or 0.0, row.tie_rate or 0.0
        b = 1.0 - a - t
        x = left
        for share, colour in ((a, A_COLOUR), (t, TIE_COLOUR), (b, B_COLOUR)):
            w = share * bar_w
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="18" fill="{colour}"/>')
                if w > 34:
                    out.append(_label(x + w / 2, y + 17, f"{100 * share:.0f}%", "middle", ' fill="#fff"'))
            x += w
        if row.score_ci_low is not None and row.score_ci_high is not None:
            lo, hi, mid = (left + v * bar_w for v in (row.score_ci_low, row.score_ci_high, row.a_score or 0))
            out.append(
                f'<path d="M{lo:.1f} {y + 13}H{hi:.1f}M{lo:.1f} {y + 7}V{y + 19}M{hi:.1f} {y + 7}V{y + 19}" '
                f'stroke="#111" stroke-width="1.5" fill="none"/>'
                f'<circle cx="{mid:.1f}" cy="{y + 13}" r="3" fill="#111"/>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def leaderboard_chart(rows: list[LeaderboardRow]) -> str:
    """Ratings as dots with their 95% bootstrap intervals, best first."""
    if not rows:
        return ""
    left, plot_w, row_h = 200, 460, 26
    width, height = left + plot_w + 30, 40 + row_h * len(rows)
    lo = min(r.ci_low for r in rows)
    hi = max(r.ci_high for r in rows)
    span = max(hi - lo, 20.0)
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="Leaderboard ratings with 95% intervals">'
    ]
    step = _nice_step((hi - lo) / 5)
    tick = (int(lo // step) + 1) * step
    while tick < hi:
        x = sx(tick)
        out.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 22}" stroke="#e3e3e3"/>')
        out.append(_label(x, height - 6, f"{tick:g}", "middle", ' fill="#666"'))
        tick += step
    for i, r in enumerate(rows):
        y = 22 + i * row_h
        out.append(f"<g><title>{_text(f'{r.model}: {r.rating:.0f} ({r.ci_low:.0f}–{r.ci_high:.0f})')}</title>")
        out.append(_label(left - 10, y + 4, f"{r.rank}. {_clip(r.model)}", "end"))
        out.append(
            f'<line x1="{sx(r.ci_low):.1f}" y1="{y}" x2="{sx(r.ci_high):.1f}" y2="{y}" stroke="{A_COLOUR}" '
            f'stroke-width="3"/><circle cx="{sx(r.rating):.1f}" cy="{y}" r="5" fill="#111"/></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def heatmap(labels: list[str], matrix: list[list[float | None]], *, title: str) -> str:
    """Row model's score against column model (ties half): blue above 50%, orange below."""
    n = len(labels)
    if n == 0:
        return ""
    cell, left, top = 54, 170, 110
    width, height = left + cell * n + 10, top + cell * n + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{_text(title)}">'
    ]
    for j, label in enumerate(labels):
        x = left + j * cell + cell / 2
        out.append(
            f'<text transform="translate({x:.1f},{top - 8}) rotate(-40)" {FONT}>{_text(_clip(label, 18))}</text>'
        )
    for i, label in enumerate(labels):
        y = top + i * cell
        out.append(_label(left - 8, y + cell / 2 + 4, _clip(label, 22), "end"))
        for j in range(n):
            x = left + j * cell
            value = matrix[i][j] if i < len(matrix) and j < len(matrix[i]) else None
            if i == j or value is None:
                out.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="#f4f4f4" stroke="#fff"/>')
                continue
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_diverging(value)}" stroke="#fff">'
                f"<title>{_text(f'{labels[i]} vs {labels[j]}: {100 * value:.1f}%')}</title></rect>"
            )
            out.append(_label(x + cell / 2, y + cell / 2 + 4, f"{100 * value:.0f}%", "middle"))
    out.append("</svg>")
    return "".join(out)


def _diverging(value: float) -> str:
    """White at 0.5, blue towards 1, orange towards 0."""
    v = min(1.0, max(0.0, value))
    strength = abs(v - 0.5) * 2
    target = (47, 111, 219) if v >= 0.5 else (224, 123, 57)
    r, g, b = (round(255 + (t - 255) * strength * 0.85) for t in target)
    return f"#{r:02x}{g:02x}{b:02x}"
