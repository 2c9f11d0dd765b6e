"""Markdown with LaTeX math to safe HTML.

Math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) is lifted out before Markdown runs, so
Markdown never mangles underscores or asterisks inside it, and is put back as text in a
``<span class="math">`` that KaTeX renders in the browser. The result is sanitised with nh3: no
script, no event handlers, no ``javascript:`` links, whatever an author, a student or a model wrote.
"""

from __future__ import annotations

import html
import re

import markdown as md
import nh3

_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|\\\[(.+?)\\\]|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\\\s])\$|\\\((.+?)\\\)",
    re.DOTALL,
)
_ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a", "h3", "h4",
    "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "hr", "sup", "sub",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "span": {"class"}, "div": {"class"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    """Render untrusted Markdown+LaTeX to HTML that is safe to insert into a page."""
    stash: list[str] = []

    def lift(match: re.Match[str]) -> str:
        display = match.group(1) is not None or match.group(2) is not None
        body = next(g for g in match.groups() if g is not None)
        cls = "math math-display" if display else "math math-inline"
        stash.append(f'<span class="{cls}">{html.escape(body.strip())}</span>')
        return f"\x00MATH{len(stash) - 1}\x00"

    lifted = _MATH.sub(lift, text or "")
    body = md.markdown(lifted, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    body = re.sub(r"\x00MATH(\d+)\x00", lambda m: stash[int(m.group(1))], body)
    return nh3.clean(
        body,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
