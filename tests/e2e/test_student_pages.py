"""The student's front door and main path in a real browser, at 1280x800 and at 390x844: home, start
an item, the chat (layout, typing indicator, Send while a reply is pending, the live math preview),
send a message and get the reply, the progress page, and starting the next problem from it. Every
page passes ``page_check`` (no console error or CSP violation, no sideways scrolling on a phone, no
serious or critical axe-core violation) and leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pagecheck import page_check
from tests.e2e.server import Server, first_item, sign_up
from tests.e2e.test_student_flow import open_item

pytestmark = pytest.mark.e2e

ITEM = first_item()
# Every Content-Security-Policy violation the page reports, as the page sees it.
CSP_RECORDER = ("window.__csp = []; document.addEventListener('securitypolicyviolation',"
                " e => window.__csp.push(e.violatedDirective + ' ' + (e.sample || e.blockedURI)));")
# The chat's layout as the student sees it, without scrolling the page.
LAYOUT_JS = """() => {
  const box = document.getElementById('message').getBoundingClientRect();
  const send = document.querySelector('#chat-form button.send').getBoundingClientRect();
  const area = document.getElementById('chat-scroll');
  const column = document.getElementById('conversation');
  const scrolls = el => el.scrollHeight > el.clientHeight + 1 && getComputedStyle(el).overflowY === 'auto';
  return {innerHeight: window.innerHeight, docHeight: document.documentElement.scrollHeight,
          scrollY: window.scrollY, boxTop: box.top, boxBottom: box.bottom, sendBottom: send.bottom,
          scrollers: [area, column].filter(scrolls).length,
          mathml: document.querySelectorAll('#transcript .katex-mathml').length};
}"""
# Elements whose text is cut off: overflow hidden (or clipped) and content wider than the box.
CLIPPED_JS = """() => [...document.querySelectorAll('main *')].filter(el => {
  const s = getComputedStyle(el);
  if (!['hidden', 'clip'].includes(s.overflowX) || el.closest('.visually-hidden, svg, .katex')) return false;
  return el.scrollWidth > el.clientWidth + 1 && el.textContent.trim() !== '';
}).map(el => el.tagName + '.' + el.className)"""
# Text of the weekly chart that pokes out of the chart.
CHART_OVERFLOW_JS = """() => [...document.querySelectorAll('svg.weeks-chart text')].filter(t => {
  const b = t.getBBox(), v = t.ownerSVGElement.viewBox.baseVal;
  return b.x < v.x || b.y < v.y || b.x + b.width > v.x + v.width || b.y + b.height > v.y + v.height;
}).map(t => t.textContent)"""


def answers(server: Server, username: str) -> int:
    """How many answers the learner model has stored for this student."""
    with sqlite3.connect(Path(server.workdir.name) / "e2e.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM tracing_observation o JOIN auth_user u ON u.id = o.learner_id"
                              " WHERE u.username = ?", (username,)).fetchone()[0])


def reply_to(page: Any, text: str) -> Any:
    """Send ``text`` and wait until the tutor's final reply is in and Send is back."""
    before = page.locator(".turn-tutor").count()
    page.fill("#message", text)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function(
        "n => document.querySelectorAll('.turn-tutor').length > n && !document.querySelector('.turn-tutor.pending')"
        " && !document.querySelector('#chat-form button.send').disabled",
        arg=before,
    )
    return page.locator(".turn-tutor").last


def assert_one_screen(page: Any) -> dict[str, Any]:
    """The text box and Send are in the window without scrolling, and the page is no taller than it."""
    layout = page.evaluate(LAYOUT_JS)
    assert layout["scrollY"] == 0, layout
    assert layout["boxTop"] >= 0 and layout["boxBottom"] <= layout["innerHeight"], layout
    assert layout["sendBottom"] <= layout["innerHeight"], layout
    assert layout["docHeight"] <= layout["innerHeight"] + 1, layout
    return layout


def check_pending_reply(page: Any, server: Server) -> None:
    """With the server frozen, a sent message waits: typing indicator on, Send and the canned buttons
    off, Enter sends nothing and the status does not claim a reply is coming in; then the reply
    arrives and all of it turns back."""
    typing = page.locator("#typing")
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        page.fill("#message", "Is it 5?")
        page.get_by_role("button", name="Send", exact=True).click()
        page.wait_for_function("() => document.getElementById('typing').classList.contains('active')")
        assert typing.is_visible()
        assert typing.inner_text().strip() == "Tutor is writing…"
        assert typing.get_attribute("role") == "status"
        for name in ("Send", "Hint", "I'm stuck"):
            assert page.get_by_role("button", name=name, exact=True).is_disabled(), name
        assert "repl" not in page.locator("#conn").inner_text().lower()
        page.fill("#message", "a second message")
        page.press("#message", "Enter")  # not sent while the first waits: it stays in the box
        assert page.input_value("#message") == "a second message"
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    page.locator(".turn-student", has_text="Is it 5?").wait_for()
    page.wait_for_function("() => !document.querySelector('.turn-tutor.pending')"
                           " && !document.querySelector('#chat-form button.send').disabled")
    assert not typing.is_visible() and typing.inner_text().strip() == ""
    assert page.locator(".turn-student", has_text="a second message").count() == 0
    assert page.get_by_role("button", name="Send", exact=True).is_enabled()
    page.fill("#message", "")


def check_math_preview(page: Any) -> None:
    """Typing TeX key by key (half-typed TeX does not parse) renders a preview and breaks no policy."""
    page.locator("#message").press_sequentially(r"\frac{1}{2} + x^2", delay=15)
    page.locator("#preview .katex").wait_for()
    assert page.evaluate("window.__csp") == []
    page.fill("#message", "")
    page.locator("#message").dispatch_event("input")
    assert page.locator("#preview").inner_text() == ""


def student_path(page: Any, server: Server, username: str) -> None:
    page.add_init_script(CSP_RECORDER)
    sign_up(page, username)
    page_check(page, "student-home")

    open_item(page)
    assert_one_screen(page)
    check_math_preview(page)
    page_check(page, "student-chat")

    reply = reply_to(page, ITEM["wrong"])
    assert reply.locator(".text").inner_text().strip()
    check_pending_reply(page, server)
    # Enough conversation to overflow the chat area, with formulas in it (their hidden MathML once
    # stretched the page far below the chat).
    for text in (r"I think it is $\frac{1}{2}$ of $-7 + 12$", r"or $x^2 = 25$ so $x = 5$", "I'm not sure"):
        reply_to(page, text)
    layout = assert_one_screen(page)
    assert layout["mathml"] >= 3, layout
    assert layout["scrollers"] == 1, layout  # one scroll area, and the page itself does not scroll
    assert reply_to(page, ITEM["answer"]).locator(".text").inner_text().strip()
    page_check(page, "student-chat-conversation")
    assert page.evaluate("window.__csp") == []

    page.get_by_role("link", name="My progress").click()
    page.wait_for_url("**/progress/")
    page_check(page, "student-progress")
    card = page.locator("li.kc", has=page.get_by_role("heading", name=ITEM["kc_name"], exact=True))
    assert re.fullmatch(r"\d+ in 10", card.locator("[data-figure=in-ten]").inner_text())
    not_started = page.locator("li.kc[data-state=not-started]")
    assert not_started.count() >= 1 and not_started.locator("[data-figure]").count() == 0
    assert "%" not in page.locator("main").inner_text()
    # This week's answers, as stored.
    assert page.locator("#weeks tbody tr").last.locator("td").first.inner_text() == str(answers(server, username))
    assert page.evaluate(CLIPPED_JS) == []
    assert page.evaluate(CHART_OVERFLOW_JS) == []

    # What to do next: the button starts the problem it names.
    title = page.locator(".next-step .next-title").inner_text()
    page.get_by_role("button", name="Start this problem").click()
    page.wait_for_url("**/sessions/*/")
    assert page.get_by_role("heading", level=1).inner_text() == title
    page.wait_for_function("() => document.getElementById('conn').textContent === 'Connected.'")
    assert_one_screen(page)
    page_check(page, "student-next-item")


def test_student_pages_desktop(page: Any, server: Server) -> None:
    student_path(page, server, "pages-desktop")


def test_student_pages_mobile(mobile_page: Any, server: Server) -> None:
    student_path(mobile_page, server, "pages-mobile")
