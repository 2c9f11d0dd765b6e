"""Each role's front door and the researcher's whole path in a real browser, at desktop and phone
sizes: log-in page, the teacher's and the researcher's doors, the API token, Swagger UI with the API's
operations listed, and an export downloaded from the door. Every page passes ``page_check`` (no
console error or CSP violation, no sideways scrolling at 390 px, no serious or critical axe-core
violation) and leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from tests.e2e.pagecheck import page_check
from tests.e2e.server import COURSE_TITLE
from tests.e2e.test_student_flow import log_in

pytestmark = pytest.mark.e2e
TEACHER = ("demo-teacher", "teach-fractions-1")
RESEARCHER = ("demo-researcher", "study-fractions-1")
SIZES = ["page", "mobile_page"]


@pytest.mark.parametrize("size", SIZES)
def test_log_in_page_and_the_teachers_door(size: str, request: pytest.FixtureRequest) -> None:
    page = request.getfixturevalue(size)
    page.goto("/accounts/login/")
    page_check(page, "login")
    assert page.request.get("/favicon.ico").status == 200  # redirected to the site's icon
    page.fill("#id_username", TEACHER[0])
    page.fill("#id_password", TEACHER[1])
    started = time.perf_counter()
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    page.wait_for_load_state("load")
    # from the click to the front door loaded (the password check, the session, the redirect, the door)
    print(f"log-in to the front door ({size}): {(time.perf_counter() - started) * 1000:.0f} ms")
    assert page.get_by_role("heading", level=1).inner_text() == "Teaching"
    classes = page.locator("#door-classes")
    assert classes.get_by_role("link", name="Demo class", exact=True).is_visible()
    authoring = page.locator("#door-courses")
    assert COURSE_TITLE in authoring.inner_text()
    assert authoring.get_by_role("link", name=f"Tutor settings and goals of {COURSE_TITLE}").is_visible()
    page_check(page, "door-teacher")
    # the teacher can still learn: their student door is one link away
    page.locator(".other-doors").get_by_role("link", name="Learning").click()
    page.wait_for_url("**/?door=student")
    assert page.get_by_role("heading", level=1).inner_text() == "Courses"
    page_check(page, "door-teacher-as-student")


@pytest.mark.parametrize("size", SIZES)
def test_the_researchers_path(size: str, request: pytest.FixtureRequest) -> None:
    page = request.getfixturevalue(size)
    log_in(page, *RESEARCHER)
    assert page.get_by_role("heading", level=1).inner_text() == "Research"
    grant = page.locator("#door-grants li", has_text=COURSE_TITLE)
    assert "consenting student" in grant.inner_text()
    page_check(page, "door-researcher")

    if page.locator("#token-key").count() == 0:  # the first of the two sizes creates it
        page.get_by_role("button", name="Create my API token").click()
        page.wait_for_url("**/?door=research#api-token")
    token = page.locator("#token-key").inner_text()
    assert len(token) == 40
    page_check(page, "door-researcher-token")

    # the token works on its own, with no browser session
    api = page.context.request.get("/api/research/courses/", headers={"Authorization": f"Token {token}"})
    assert api.status == 200 and api.json()[0]["title"] == COURSE_TITLE

    # an export link on the door downloads the DataShop file, with the demo's why-question in it
    with page.expect_download() as download:
        grant.get_by_role("link", name=f"DataShop export (.tsv) of {COURSE_TITLE}").click()
    path = download.value.path()
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8")), delimiter="\t"))
    assert rows and any(r["Student Response Type"] == "WHY_QUESTION" for r in rows)

    page.get_by_role("link", name="Open the API docs").click()
    page.wait_for_url("**/api/docs/")
    page.locator(".opblock").first.wait_for()  # Swagger UI rendered the schema's operations
    assert page.locator(".opblock").count() >= 10
    assert page.locator(".opblock", has_text="/api/research/courses/").count() >= 1
    page_check(page, "api-docs")
