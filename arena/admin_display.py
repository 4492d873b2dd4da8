"""How the campaign admin shows its read-only values: progress bars, the frozen settings."""

import json

from django.utils.html import format_html
from django.utils.safestring import mark_safe


def progress_bar(done: int, total: int, failed: int = 0) -> str:
    # Drawn as SVG shapes, not styled <div>s: the Content-Security-Policy refuses inline style
    # attributes, and SVG sizes and colours are attributes of their own, which it allows.
    if not total:
        return mark_safe('<span class="quiet">–</span>')
    width = 110
    done_px = width * done / total
    failed_px = width * failed / total
    return format_html(
        '<svg width="{}" height="10" role="img" aria-label="{} / {}"><title>{} / {}</title>'
        '<rect width="{}" height="10" rx="5" fill="#e6e9f0"/><rect width="{}" height="10" fill="#2f8f4e"/>'
        '<rect x="{}" width="{}" height="10" fill="#c0392b"/></svg><br><small>{} / {}{}</small>',
        width,
        done,
        total,
        done,
        total,
        width,
        f"{done_px:.1f}",
        f"{done_px:.1f}",
        f"{failed_px:.1f}",
        done,
        total,
        f" ({failed} failed)" if failed else "",
    )


def frozen_settings_html(frozen: dict | None) -> str:
    """What every response is generated with, as indented JSON (admin showed one long line)."""
    if not frozen:
        return "Not frozen yet: they are copied here when generation starts."
    return format_html('<pre class="frozen-settings">{}</pre>', json.dumps(frozen, indent=2))
