"""Markdown is converted by one reused converter per thread (content/rendering.py): it gives what a
fresh converter gives, and nothing of one text carries over into the next, or into another thread."""

import threading

import markdown as md
import pytest

from content import rendering
from content.rendering import render_markdown

SAMPLES = [
    "What is the *sum* of $\\frac{1}{2}$ and $1/4$?",
    "| a | b |\n|---|---|\n| 1 | 2 |\n",
    "```\nx = 3\n```\n\nthen\n\n1. one\n2. two\n\n* a\n* b",
    "A [reference link][ref] and a footnote-like [^1].\n\n[ref]: https://example.org/",
    "<script>alert(1)</script> **bold** <b>raw</b>",
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_reused_converter_gives_what_a_fresh_one_gives(text):
    fresh = md.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    assert rendering._markdown(text) == fresh
    assert rendering._markdown(text) == fresh  # and again, from the same converter


def test_nothing_carries_over_from_one_text_to_the_next():
    assert 'href="https://example.org/"' in render_markdown("[a link][ref]\n\n[ref]: https://example.org/")
    # The reference was defined in the text before: here it is undefined and stays text.
    assert render_markdown("[a link][ref]") == "<p>[a link][ref]</p>"
    assert "<pre><code>" in render_markdown("```\ncode\n```")
    assert render_markdown("plain") == "<p>plain</p>"


def test_each_thread_converts_with_its_own_converter():
    seen: dict[int, object] = {}
    outputs: dict[int, list[str]] = {}

    def work(n: int) -> None:
        outputs[n] = [render_markdown(f"text **{n}** number {i}") for i in range(50)]
        seen[n] = rendering._converters.markdown

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen.values()}) == 4
    for n, texts in outputs.items():
        assert texts == [f"<p>text <strong>{n}</strong> number {i}</p>" for i in range(50)]
