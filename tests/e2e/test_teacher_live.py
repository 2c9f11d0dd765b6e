"""The live class view in a real browser: the teacher's class page is open while a student answers;
the answer appears in the page's feed and the student's heatmap row is replaced in place (htmx's
websocket extension and out-of-band swaps, as Chromium parses them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.server import STUDENT
from tests.e2e.test_student_flow import course_card, log_in, send

pytestmark = pytest.mark.e2e
TEACHER = ("demo-teacher", "teach-fractions-1")


def test_teacher_sees_a_students_answer_as_it_is_given(browser: Any, server: Any) -> None:
    teacher_ctx = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 900})
    student_ctx = browser.new_context(base_url=server.url, viewport={"width": 1000, "height": 800})
    teacher, student = teacher_ctx.new_page(), student_ctx.new_page()
    errors: list[str] = []
    teacher.on("pageerror", lambda exc: errors.append(str(exc)))
    # Any failed request of the page (a missing script, a refused socket) fails the test; the browser's
    # own favicon request is not the page's.
    teacher.on("response", lambda r: errors.append(f"{r.status} {r.url}")
               if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    teacher.on("console", lambda msg: errors.append(msg.text)
               if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    try:
        log_in(teacher, *TEACHER)
        teacher.goto("/teach/")
        teacher.get_by_role("link", name="Demo class").click()
        teacher.wait_for_url("**/teach/classes/*/")
        row = teacher.locator("#heatmap tr[data-student]", has=teacher.get_by_role("link", name=STUDENT[0],
                                                                                    exact=True))
        before = int(row.locator("[data-figure=attempts]").inner_text())
        assert teacher.locator("#live-answers li").count() == 0

        log_in(student, *STUDENT)
        course_card(student).get_by_role("button", name="Continue learning").click()
        student.wait_for_url("**/sessions/*/")
        student.wait_for_function("() => document.getElementById('conn').textContent === 'Connected.'")
        send(student, "0")

        line = teacher.locator("#live-answers li").first
        line.wait_for(timeout=5_000)
        assert STUDENT[0] in line.inner_text()
        teacher.wait_for_function(
            "([name, n]) => [...document.querySelectorAll('#heatmap tr[data-student]')]"
            ".some(tr => tr.querySelector('th a').textContent === name"
            " && tr.querySelector('[data-figure=attempts]').textContent === String(n))",
            arg=[STUDENT[0], before + 1], timeout=5_000)
        # Replaced in place: still one row for the student, still inside the table body.
        assert row.count() == 1
        assert teacher.locator("#heatmap tbody tr[data-student]").count() == teacher.locator(
            "#heatmap tr[data-student]").count()
        assert not errors, errors
    finally:
        teacher_ctx.close()
        student_ctx.close()
