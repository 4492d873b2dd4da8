"""Safe HTML of a campaign's prompts and responses, rendered by a worker before reviewers ask.

Markdown costs about a millisecond per text on this machine's CPU (more for long answers), and a
fresh comparison shows three texts: rendered on the review hot path, they were a fifth of the CPU
of "next". A worker renders them when generation finishes and again when review opens (both
enqueue this on commit); the review item still renders and stores any text that is not ready
yet (`review_items._stored_html`), so this is a head start, never a requirement. Every write is
conditional on the HTML still being empty, so this and a reviewer's first view never disagree.
"""

from django.db import transaction

from ..models import Prompt, Response

BATCH = 200


def html_prerender(*, campaign_id: int) -> int:
    """Render and store the HTML of every prompt and done response that has none. Returns how many."""
    # Imported here: the generation worker imports this module, and markdown is a few MB that
    # a pool process pays only once it renders.
    from ..rendering import render_markdown

    rendered = 0
    sources = (
        (Prompt.objects.filter(campaign_id=campaign_id), lambda p: p.display_text),
        (Response.objects.filter(campaign_id=campaign_id, status=Response.Status.DONE), lambda r: r.text),
    )
    for queryset, text_of in sources:
        last = 0
        while True:
            batch = list(queryset.filter(html="", pk__gt=last).order_by("pk")[:BATCH])
            if not batch:
                break
            last = batch[-1].pk
            html = {row.pk: render_markdown(text_of(row)) for row in batch if text_of(row)}
            with transaction.atomic():
                for pk, value in html.items():
                    rendered += queryset.model.objects.filter(pk=pk, html="").update(html=value)
    return rendered


def html_prerender_later(*, campaign_id: int) -> None:
    """Enqueue `html_prerender` for when the caller's transaction commits."""
    from ..tasks import html_prerender as task

    transaction.on_commit(lambda: task.delay(campaign_id))
