"""A student's path through the real app in a real browser: log in, tutor chat over the websocket
(wrong answer, hint, right answer), then the progress page reflects the answers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.pagecheck import overflow_x
from tests.e2e.server import COURSE_TITLE, STUDENT, TIMING_JS, first_item

pytestmark = pytest.mark.e2e

ITEM = first_item()


def log_in(page: Any, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    assert page.get_by_role("button", name=re.compile(f"Log out {re.escape(username)}")).is_visible()


def course_card(page: Any) -> Any:
    return page.locator("section.card", has=page.get_by_role("heading", name=COURSE_TITLE))


def kc_figure(page: Any, kc_name: str) -> tuple[float, str]:
    """The model's p(correct) for a KC on the progress page, and what the student is shown: "about N in
    10" for a practised skill, "not started" for one never practised."""
    card = page.locator("li.kc", has=page.get_by_role("heading", name=kc_name, exact=True))
    figure = card.locator("[data-figure=in-ten]")
    shown = figure.inner_text() if figure.count() else card.get_attribute("data-state")
    return float(card.get_attribute("data-p-correct")), shown


def send(page: Any, text: str | None = None, button: str = "Send") -> Any:
    """Type (unless a canned button) and send; wait for the tutor's reply to finish; return it."""
    before = page.locator(".turn-tutor").count()
    if text is not None:
        page.fill("#message", text)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_function(
        "n => document.querySelectorAll('.turn-tutor').length > n && !document.querySelector('.turn-tutor.pending')",
        arg=before,
    )
    return page.locator(".turn-tutor").last


def open_item(page: Any) -> None:
    course_card(page).get_by_role("button", name="Continue learning").click()
    page.wait_for_url("**/sessions/*/")
    assert page.get_by_role("heading", level=1).inner_text() == ITEM["title"]
    page.wait_for_function("() => document.getElementById('conn').textContent === 'Connected.'")


def test_student_learns_and_progress_changes(page: Any) -> None:
    log_in(page, *STUDENT)
    course_card(page).get_by_role("link", name=re.compile("My progress")).click()
    page.wait_for_url("**/progress/")
    assert page.get_by_role("heading", name="My progress", exact=True).is_visible()
    before, before_shown = kc_figure(page, ITEM["kc_name"])
    page.get_by_role("link", name="My courses").first.click()

    open_item(page)
    page.evaluate(TIMING_JS)

    # A wrong answer: the reply streams in token by token, then is replaced by the final text.
    reply = send(page, ITEM["wrong"])
    streamed = page.evaluate("window.__timing")
    assert streamed["t1"] is not None and streamed["t1"] >= streamed["t0"], "no tutor text was seen"
    assert streamed["streamed"], "the first tutor text was the final reply, not a streamed token"
    assert reply.get_attribute("data-move") not in ("praise_advance", "")
    assert reply.locator(".text").inner_text().strip()
    assert page.locator(".turn-student").last.inner_text().endswith(ITEM["wrong"])

    hint = send(page, button="Hint")
    assert hint.get_attribute("data-move") == "hint"
    assert int(hint.get_attribute("data-hint-level")) >= 1
    assert re.search(r"hint \d", hint.locator(".who").inner_text())

    praise = send(page, ITEM["answer"])
    assert praise.get_attribute("data-move") == "praise_advance"
    assert "finished this problem" in praise.inner_text()
    page.reload()
    assert page.get_by_text("You finished this item.").is_visible()

    page.get_by_role("link", name="My progress").click()
    page.wait_for_url("**/progress/")
    after, after_shown = kc_figure(page, ITEM["kc_name"])
    assert after != pytest.approx(before, abs=1e-4), (before, after)
    print(f"\n{ITEM['kc_name']}: p(correct) {before_shown} -> {after_shown} ({before:.4f} -> {after:.4f})")
    assert before_shown == "not-started" and re.fullmatch(r"\d+ in 10", after_shown), (before_shown, after_shown)
    assert not page.js_errors, page.js_errors


def test_mobile_student_flow(mobile_page: Any) -> None:
    page = mobile_page
    page.goto("/accounts/signup/")
    page.fill("#id_username", "mobile-student")
    page.fill("#id_password1", "a-long-mobile-pass-42")
    page.fill("#id_password2", "a-long-mobile-pass-42")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")
    open_item(page)
    assert overflow_x(page) <= 0  # nothing wider than the phone
    reply = send(page, ITEM["wrong"])
    assert reply.locator(".text").inner_text().strip()
    assert page.get_by_role("button", name="Hint").is_visible()
    praise = send(page, ITEM["answer"])
    assert praise.get_attribute("data-move") == "praise_advance"

    page.get_by_role("link", name="My progress").click()
    page.wait_for_url("**/progress/")
    assert overflow_x(page) <= 0  # nothing wider than the phone
    card = page.locator("li.kc", has=page.get_by_role("heading", name=ITEM["kc_name"], exact=True))
    assert card.bounding_box()["width"] <= 390
    assert card.get_attribute("data-p-correct")
    assert not page.js_errors, page.js_errors
