"""Deep linking: an instructor picks a course, a goal or one problem in the tutor; the platform
receives a signed LtiDeepLinkingResponse (checked against the tutor's key set), makes the link and
its gradebook column, and a learner following that link lands where the teacher chose."""

from __future__ import annotations

import re
from typing import Any

import pytest

from content.models import Course
from tests.lti.platform import INSTRUCTOR, LEARNER, Browser, LaunchSpec, Platform, User
from tutor.courses.models import CourseGoal
from tutor.lti.models import Assignment
from tutor.models import TutoringSession

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = User("lms-user-grace", "Grace Hopper", INSTRUCTOR)
ADA = User("lms-user-ada", "Ada Lovelace", LEARNER)


def _pick(browser: Browser, platform: Platform, **choice: str) -> tuple[str, dict[str, Any]]:
    picker = browser.launch(platform, LaunchSpec(GRACE, resource_link_id=None, deep_link=True))
    assert picker.status_code == 200 and picker.url.endswith("/lti/deep-link/"), picker.text[:1500]
    returned = browser.submit(picker, action="/lti/deep-link/", **choice)
    # The tutor's page posts the signed response back to the LMS (a script does it in a browser).
    assert returned.status_code == 200 and 'data-autosubmit' in returned.text
    assert returned.headers["Content-Security-Policy"].count(platform.url) >= 1  # form-action allows the LMS
    back = browser.submit(returned, action="/deep_link_return/")
    assert back.status_code == 200, (back.text, platform.deep_link_errors)
    (link_id,) = back.json()["created"]
    return link_id, platform.links[link_id].__dict__


@pytest.mark.parametrize("kind", ["course", "goal", "item"])
def test_an_instructor_picks_a_course_goal_or_item_and_the_link_opens_it(
        tool: Any, platform: Platform, course: Course, browser: Browser, kind: str) -> None:
    goal = CourseGoal.objects.create(course=course, name="Solve equations")
    goal.kcs.set(course.kcs.filter(slug="equations"))
    item = course.items.get(slug="solve-x-plus-3")
    target = {"course": "course:mini", "goal": f"goal:{goal.pk}", "item": f"item:{item.pk}"}[kind]
    link_id, link = _pick(browser, platform, target=target, grading="completion", gradebook="on")

    assert link["custom"] == {"tutor_target": target, "tutor_grading": "completion"}
    assert link["title"] == {"course": "Mini course", "goal": "Solve equations · Mini course",
                             "item": "Solve for x"}[kind]
    lineitem = platform.lineitems[link["lineitem_id"]]
    assert lineitem["scoreMaximum"] == 100 and lineitem["resourceId"] == target

    page = Browser().launch(platform, LaunchSpec(ADA, resource_link_id=link_id))
    assert page.status_code == 200 and re.search(r"/sessions/\d+/$", page.url), page.text[:1500]
    assignment = Assignment.objects.get()
    assert assignment.target == target and assignment.grading == "completion"
    assert assignment.lineitem_url.endswith(f"/lineitems/{link['lineitem_id']}")
    if kind == "item":
        assert TutoringSession.objects.get().item == item


def test_without_a_gradebook_column_the_link_has_no_line_item(tool: Any, platform: Platform, course: Course,
                                                              browser: Browser) -> None:
    _, link = _pick(browser, platform, target="course:mini", grading="mastery", gradebook="")
    assert link["lineitem_id"] is None and not platform.lineitems


def test_learners_cannot_make_links(tool: Any, platform: Platform, course: Course, browser: Browser) -> None:
    page = browser.launch(platform, LaunchSpec(ADA, resource_link_id=None, deep_link=True))
    assert page.status_code == 403 and 'data-refusal="not_a_teacher"' in page.text
    assert browser.http.get(f"{tool.url}/lti/deep-link/", timeout=30).url.startswith(f"{tool.url}/accounts/login/")


def test_the_picker_needs_a_deep_linking_launch(tool: Any, platform: Platform, course: Course,
                                                browser: Browser) -> None:
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    assert browser.launch(platform, LaunchSpec(GRACE)).status_code == 200  # a plain launch, signed in
    assert browser.http.get(f"{tool.url}/lti/deep-link/", timeout=30).status_code == 403
