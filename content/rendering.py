"""Markdown with LaTeX math to safe HTML, and student text shown as typed.

Math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) is lifted out before Markdown runs, so
Markdown never mangles underscores or asterisks inside it, and is put back as text in a
``<span class="math">`` that KaTeX renders in the browser. The result is sanitised with nh3: no
script, no event handlers, no ``javascript:`` links, no classes but the math ones (so no text can
dress itself up as a page element, e.g. a tutor bubble), whatever an author or a model wrote.

Student text is not Markdown (``render_plain``): it is escaped and shown as typed, with only its
math rendered, so ``2*3*4`` keeps its asterisks and nobody can post links or formatting.

Both drop control characters (the lifted math's placeholders use one, so text can never name a
placeholder) and the bidirectional formatting characters that could make text read differently
from what it is (U+202A to U+202E, U+2066 to U+2069, U+200E/U+200F, U+061C).
"""

from __future__ import annotations

import html
import re
import threading

import markdown as md
import nh3

_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|\\\[(.+?)\\\]|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\\\s])\$|\\\((.+?)\\\)",
    re.DOTALL,
)
# C0 controls but tab and newline, DEL, C1 controls; and the bidi embeddings, overrides, isolates and marks.
_UNSHOWN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PLACEHOLDER = re.compile(r"\x00MATH(\d+)\x00")
_ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a", "h3", "h4",
    "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "hr", "sup", "sub",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"align"}}
_MATH_CLASSES = {"span": {"math", "math-inline", "math-display"}}


def visible_text(text: str | None) -> str:
    """``text`` without control characters and bidirectional formatting characters."""
    return _UNSHOWN.sub("", (text or "").replace("\r\n", "\n"))


def _math_span(match: re.Match[str]) -> str:
    display = match.group(1) is not None or match.group(2) is not None
    body = next(g for g in match.groups() if g is not None)
    cls = "math math-display" if display else "math math-inline"
    return f'<span class="{cls}">{html.escape(body.strip())}</span>'


def _clean(body: str) -> str:
    return nh3.clean(
        body,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_MATH_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_converters = threading.local()


def _markdown(text: str) -> str:
    """Markdown to HTML with one converter per thread: building a ``Markdown`` (its extensions and
    pattern registries) cost four times the conversion of a step's prompt, paid for every prompt of
    a page (docs/performance.md). A converter keeps state while it converts, so threads share none."""
    converter: md.Markdown | None = getattr(_converters, "markdown", None)
    if converter is None:
        converter = md.Markdown(extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
        _converters.markdown = converter
    return converter.reset().convert(text)


def render_markdown(text: str | None) -> str:
    """Render untrusted Markdown+LaTeX (authored content, the tutor's replies) to HTML that is safe
    to insert into a page."""
    stash: list[str] = []

    def lift(match: re.Match[str]) -> str:
        stash.append(_math_span(match))
        return f"\x00MATH{len(stash) - 1}\x00"

    lifted = _MATH.sub(lift, visible_text(text))
    body = _markdown(lifted)
    # Every placeholder left in the output is one of ours: the text itself had no control characters.
    body = _PLACEHOLDER.sub(lambda m: stash[int(m.group(1))], body)
    return _clean(body)


def render_plain(text: str | None) -> str:
    """Student text as typed: escaped, line breaks kept, and only its math rendered."""
    out: list[str] = []
    last = 0
    source = visible_text(text).strip("\n")
    for match in _MATH.finditer(source):
        out.append(html.escape(source[last:match.start()]))
        out.append(_math_span(match))
        last = match.end()
    out.append(html.escape(source[last:]))
    return _clean("".join(out).replace("\n", "<br>"))
