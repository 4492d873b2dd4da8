"""Markdown from a model (or a lead's guidelines) to HTML that is safe to put on a page.

Two layers, so that one mistake does not open the page to a model's output:
1. Python-Markdown runs with its raw-HTML handling removed, so `<script>` or
   `<img src=x onerror=...>` in a response is escaped and shown as text, never parsed as markup.
2. nh3 (the Rust `ammonia` sanitiser) then keeps only an allow-list of tags and attributes.
   Images are not on the list: a remote image would load an asset from the internet and tell a
   third party who is reviewing.
"""

import threading

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "code": {"class"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


def _markdown_without_raw_html():
    # Imported here: markdown is a few MB that the generation worker (which imports the review
    # services through the tasks) pays only in the pool process that renders.
    import markdown

    md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"], output_format="html")
    # Without these two, raw HTML in the source is treated as text and escaped.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


_local = threading.local()


def render_markdown(text: str) -> str:
    """Safe HTML for `text` (markdown with fenced code, lists and tables)."""
    # Building a Markdown instance loads its extensions (about a millisecond); one per thread,
    # reset between documents, keeps that off every request.
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _markdown_without_raw_html()
    html = md.reset().convert(text or "")
    import nh3

    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
