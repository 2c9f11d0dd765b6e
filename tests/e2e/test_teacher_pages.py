"""The teacher's main path in a real browser, at desktop (1280x800) and phone (390x844) sizes: the
admin's prerequisite graph, item statistics, the preview sandbox conversation, and the class
heatmap and student view of a large class (55 skills, 35 students). Every page visited passes
``page_check`` (no console error or CSP violation, no sideways scrolling on a phone, no serious or
critical axe-core violation) and leaves a screenshot under test-artifacts/screenshots/."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.pagecheck import page_check
from tests.e2e.server import DEMO_PACK, ROOT, first_item
from tests.e2e.test_student_flow import log_in

pytestmark = pytest.mark.e2e
TEACHER = ("demo-teacher", "teach-fractions-1")
SIZES = ("page", "mobile_page")
PACK = json.loads(DEMO_PACK.read_text(encoding="utf-8"))


@pytest.fixture(params=SIZES)
def teacher(request: pytest.FixtureRequest) -> Any:
    """A page at either size, logged in as the demo teacher."""
    page = request.getfixturevalue(request.param)
    log_in(page, *TEACHER)
    return page


def test_prerequisite_graph_is_whole_and_scrolls(teacher: Any) -> None:
    teacher.goto("/admin/content/course/")
    teacher.get_by_role("link", name="From fractions to linear equations").click()
    box = teacher.locator(".prereq-graph")
    box.wait_for()
    svg = box.locator("svg")
    # Every KC of the course is drawn, and the box scrolls to the far edge of the drawing.
    assert svg.locator("g > rect").count() == len(PACK["kcs"])
    assert box.evaluate("b => getComputedStyle(b).overflow") == "auto"
    # Scrolled to its far corner, the box shows the drawing's right-most and lowest nodes in full.
    box.evaluate("b => { b.scrollLeft = b.scrollWidth; b.scrollTop = b.scrollHeight; }")
    inside = box.evaluate("""b => {
        const outer = b.getBoundingClientRect();
        const rects = [...b.querySelectorAll('svg g > rect')].map(r => r.getBoundingClientRect());
        const right = Math.max(...rects.map(r => r.right)), bottom = Math.max(...rects.map(r => r.bottom));
        return right <= outer.right + 1 && bottom <= outer.bottom + 1; }""")
    assert inside
    # The box is no wider than the window: it scrolls, the page does not.
    assert box.evaluate("b => b.getBoundingClientRect().right") <= teacher.viewport_size["width"]
    page_check(teacher, "admin-prerequisite-graph")


def test_preview_sandbox_conversation(teacher: Any) -> None:
    """From the admin's item list: "Preview as a student", a wrong answer gets the misconception's
    feedback, a hint request gets a hint, and "Start over" clears the conversation."""
    item = first_item()
    teacher.goto("/admin/content/item/")
    row = teacher.locator("tr", has=teacher.get_by_role("link", name=item["title"], exact=True))
    # The link opens a new tab; followed in this one, the page keeps the fixture's error listeners.
    teacher.goto(row.get_by_role("link", name="Preview as a student").get_attribute("href"))
    page = teacher
    assert page.locator(".sandbox-note").is_visible()
    turns = page.locator("#sandbox .transcript-t > li")
    assert turns.count() == 1  # the tutor presents the problem

    page.fill("#id_message", item["wrong"])
    page.get_by_role("button", name="Send", exact=True).click()
    feedback = page.locator("#sandbox li.t-tutor[data-move=misconception_feedback]")
    feedback.wait_for()
    assert page.locator("#sandbox .o-misconception").count() == 1
    assert page.locator("#id_message").input_value() == ""  # a fresh form, focused for the next message
    assert page.evaluate("document.activeElement.id") == "id_message"

    page.get_by_role("button", name="Hint", exact=True).click()
    page.locator("#sandbox li.t-tutor[data-move=hint]").wait_for()
    assert "hint level 1" in page.locator("#sandbox li.t-tutor").last.inner_text()
    page.wait_for_function("() => document.querySelectorAll('span.math[data-rendered]').length > 0")
    page_check(page, "teacher-preview-sandbox")

    page.get_by_role("button", name="Start over").click()
    page.wait_for_function("() => document.querySelectorAll('#sandbox .transcript-t > li').length === 1")


def test_item_statistics_render_maths_and_fit_a_phone(teacher: Any) -> None:
    teacher.goto("/teach/")
    page_check(teacher, "teacher-my-classes")
    teacher.get_by_role("link", name="item statistics").first.click()
    teacher.wait_for_url("**/items/")
    table = teacher.locator("#items")
    teacher.wait_for_function("() => document.querySelectorAll('#items span.math[data-rendered]').length > 0")
    # KaTeX rendered every formula: outside its output no TeX is left. Counts read as words, not "\u00d7 2" (times).
    text = table.evaluate("t => { const c = t.cloneNode(true); c.querySelectorAll('.katex').forEach(k => k.remove());"
                          " return c.textContent; }")
    assert "$" not in text and "\\frac" not in text and "\\div" not in text
    assert not any("\u00d7" in w for w in teacher.locator("#items ul.wrong li").all_inner_texts())
    assert teacher.locator("#items ul.wrong .given").count() > 0
    given = teacher.locator("#items ul.wrong .given").all_inner_texts()
    assert all(g.startswith("given ") and "student" in g for g in given), given
    # The table scrolls inside its own box, which is no wider than the window.
    box = teacher.locator(".table-scroll")
    assert box.evaluate("b => b.getBoundingClientRect().right") <= teacher.viewport_size["width"]
    page_check(teacher, "teacher-item-statistics")


# A class the size the issue names (50+ skills, 30+ students), made by the page-timing benchmark's
# generator in the server's database, taught by the demo teacher.
LARGE = {"students": 35, "kcs": 55, "items_per_kc": 1, "answers": 12}
SEED = f"""
import random, django
django.setup()
from django.contrib.auth import get_user_model
from tutor.teaching.management.commands.teacher_bench import class_generate
world = class_generate(random.Random(7), {LARGE!r})
world["classroom"].teachers.add(get_user_model().objects.get(username="{TEACHER[0]}"))
print(world["classroom"].pk, world["busiest"])
"""


@pytest.fixture(scope="module")
def large_class(server: Any) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=server.env, check=True, capture_output=True,
                          text=True, timeout=240)
    classroom, busiest = map(int, done.stdout.split()[-2:])
    return {"classroom": classroom, "student": busiest}


def test_class_heatmap_of_a_large_class(teacher: Any, large_class: dict[str, int]) -> None:
    teacher.goto(f"/teach/classes/{large_class['classroom']}/")
    table = teacher.locator("#heatmap")
    assert table.locator("tbody tr[data-student]").count() == LARGE["students"]
    headers = table.locator("thead th[data-kc]")
    assert headers.count() == LARGE["kcs"]
    # Each skill's full name on hover (title) and for screen readers (the header's accessible text).
    first = headers.first
    full = first.get_attribute("title")
    assert full and first.locator(".visually-hidden").inner_text() == full
    assert teacher.locator("#heat-legend .legend-scale li").count() == 10
    box = teacher.locator(".heat-wrap")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth && b.scrollHeight > b.clientHeight")
    assert box.evaluate("b => b.getBoundingClientRect().right") <= teacher.viewport_size["width"]
    # Scrolled to the far corner, the header row and the names column stay in view.
    box.evaluate("b => { b.scrollLeft = b.scrollWidth; b.scrollTop = b.scrollHeight; }")
    stuck = box.evaluate("""b => {
        const outer = b.getBoundingClientRect();
        const head = b.querySelector('thead th.who').getBoundingClientRect();
        const name = b.querySelector('tbody tr:last-child th.who').getBoundingClientRect();
        return [Math.abs(head.top - outer.top) < 3, Math.abs(name.left - outer.left) < 3]; }""")
    assert stuck == [True, True]
    page_check(teacher, "teacher-class-heatmap-large")


def test_student_view_with_many_skills(teacher: Any, large_class: dict[str, int]) -> None:
    teacher.goto(f"/teach/classes/{large_class['classroom']}/students/{large_class['student']}/")
    teacher.get_by_role("heading", name="Mastery over time").wait_for()
    page_check(teacher, "teacher-student-view-large")
