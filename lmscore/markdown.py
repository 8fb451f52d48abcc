"""Markdown to safe HTML, for course content and learner-written text alike: raw HTML in the
source is shown as text, and the output is sanitised (no scripts, no event handlers, only
http(s)/mailto links, which get rel="nofollow noopener noreferrer")."""

from __future__ import annotations

from functools import cache, lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "img", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr",
    "ul", "span",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "td": {"style"},
    "th": {"style"},
}


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable(
        "strikethrough"
    )


#: Texts up to this size are cached: step pages render the same content on every request.
CACHE_CHARS = 50_000


def render(text: str | None) -> Markup:
    text = text or ""
    return Markup(_cached(text) if len(text) <= CACHE_CHARS else _render(text))


@lru_cache(maxsize=512)
def _cached(text: str) -> str:
    return _render(text)


def _render(text: str) -> str:
    return nh3.clean(
        _parser().render(text),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
