"""Names and Role Provisioning (the class roster follows the LMS) and Assignment and Grade Services
(scores the platform receives, re-sent when they change, failures retried with back-off and shown to
the teacher), against the in-process platform."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from lti_tool.models import LtiUser

from content.models import Course
from tests.lti.platform import INSTRUCTOR, LEARNER, MENTOR, Browser, LaunchSpec, Platform, User
from tutor import engine
from tutor.lti import selectors, services
from tutor.lti.models import Assignment, ContextClass, GradeSync
from tutor.models import TutoringSession
from tutor.teaching.models import Classroom, Enrolment

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = User("lms-user-grace", "Grace Hopper", INSTRUCTOR)
ADA = User("lms-user-ada", "Ada Lovelace", LEARNER)


def _member(sub: str, name: str, roles: list[str], status: str = "Active") -> dict[str, Any]:
    given, family = name.split()
    return {"user_id": sub, "name": name, "given_name": given, "family_name": family, "roles": roles,
            "status": status, "email": f"{given.lower()}@school.example"}


def _teacher(platform: Platform, link: str = "link-1") -> tuple[Browser, Classroom]:
    browser = Browser()
    page = browser.launch(platform, LaunchSpec(GRACE, resource_link_id=link))
    assert page.status_code == 200 and "/teach/classes/" in page.url, page.text[:1500]
    return browser, Classroom.objects.get()


def test_roster_sync_enrols_active_learners_and_removes_those_gone(tool: Any, platform: Platform,
                                                                   course: Course) -> None:
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    platform.members["course-101"] = [
        _member(GRACE.sub, GRACE.name, INSTRUCTOR), _member("s-ada", "Ada Lovelace", LEARNER),
        _member("s-bob", "Bob Moses", LEARNER), _member("s-cleo", "Cleo Park", LEARNER, status="Inactive"),
        _member("s-mia", "Mia Mentor", MENTOR),
    ]
    browser, classroom = _teacher(platform)
    # The class view links a class tied to an LMS course to its roster and grades page.
    class_view = browser.http.get(f"{tool.url}/teach/classes/{classroom.pk}/", timeout=30)
    assert f'href="/lti/classes/{classroom.pk}/">LMS roster and grades</a>' in class_view.text
    page = browser.http.get(f"{tool.url}/lti/classes/{classroom.pk}/", timeout=30)
    assert page.status_code == 200 and "Roster never synced" in page.text
    done = browser.submit(page, action="/roster/")
    assert done.status_code == 200 and "Roster synced from the LMS: 2 student(s), 1 teacher(s), 0 removed" in done.text

    enrolled = set(Enrolment.objects.filter(classroom=classroom).values_list("student__first_name", flat=True))
    assert enrolled == {"Ada", "Bob"}
    assert not any(u.has_usable_password() for u in get_user_model().objects.all())
    assert ContextClass.objects.get().roster_synced_at is not None

    # Bob left the LMS course; Cleo is active again.
    platform.members["course-101"] = [m for m in platform.members["course-101"] if m["user_id"] != "s-bob"]
    next(m for m in platform.members["course-101"] if m["user_id"] == "s-cleo")["status"] = "Active"
    services.roster_sync(context_class=ContextClass.objects.get())
    enrolled = set(Enrolment.objects.filter(classroom=classroom).values_list("student__first_name", flat=True))
    assert enrolled == {"Ada", "Cleo"}
    # A learner enrolled by the roster who launches later keeps the same account.
    ada = LtiUser.objects.get(sub="s-ada").auth_user
    Browser().launch(platform, LaunchSpec(User("s-ada", "Ada Lovelace", LEARNER)))
    assert LtiUser.objects.get(sub="s-ada").auth_user == ada and Enrolment.objects.filter(student=ada).count() == 1


def test_a_failed_roster_sync_is_shown_and_changes_nothing(tool: Any, platform: Platform, course: Course) -> None:
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    browser, classroom = _teacher(platform)
    platform.stop()
    page = browser.http.get(f"{tool.url}/lti/classes/{classroom.pk}/", timeout=30)
    done = browser.submit(page, action="/roster/")
    assert done.status_code == 200 and "Roster sync failed" in done.text and "data-roster-error" in done.text
    assert not Enrolment.objects.exists()


def _scores(platform: Platform, link: str) -> list[tuple[float, str, str]]:
    return [(s["scoreGiven"], s["activityProgress"], s["userId"]) for s in platform.scores_for(link)]


def test_completion_scores_reach_the_platform_and_are_resent_when_they_change(tool: Any, platform: Platform,
                                                                              course: Course) -> None:
    item = course.items.get(slug="add-halves-quarters")
    platform.link_add("item-link", custom={"tutor_target": f"item:{item.pk}", "tutor_grading": "completion"},
                      gradebook=True)
    assert Browser().launch(platform, LaunchSpec(ADA, resource_link_id="item-link")).status_code == 200
    run = services.grades_send_due()
    assert (run.sent, run.failed) == (1, 0)
    assert _scores(platform, "item-link") == [(0.0, "Started", ADA.sub)]
    assert platform.tokens_issued == 1  # the tool's signed client assertion was exchanged for a token

    session = TutoringSession.objects.get()
    engine.turn_take(session_id=session.pk, text="3/4")  # right: the item is finished
    assert GradeSync.objects.get().dirty  # marked by the answer, sent by the next run
    assert services.grades_send_due().sent == 1
    assert _scores(platform, "item-link")[-1] == (100.0, "Completed", ADA.sub)
    grade = GradeSync.objects.get()
    assert (grade.state, grade.score_sent, grade.dirty) == (GradeSync.State.SENT, 1.0, False)

    # Nothing changed: nothing is sent again.
    GradeSync.objects.update(dirty=True)
    run = services.grades_send_due()
    assert (run.sent, run.unchanged) == (0, 1) and len(platform.scores_for("item-link")) == 2


def test_failed_sends_back_off_are_shown_to_the_teacher_and_recover(tool: Any, platform: Platform,
                                                                   course: Course) -> None:
    platform.link_add("link-1", custom={"tutor_target": "course:mini", "tutor_grading": "completion"})
    browser, classroom = _teacher(platform)
    assert Browser().launch(platform, LaunchSpec(ADA)).status_code == 200
    # No line item in the launch: the tutor makes one (lineitem scope) tied to the resource link.
    platform.score_failures = 2
    now = timezone.now()
    assert services.grades_send_due(now=now).failed == 1
    grade = GradeSync.objects.get()
    assert grade.state == GradeSync.State.FAILED and grade.failures == 1 and "503" in grade.last_error
    assert grade.next_try_at == now + timedelta(seconds=60)
    assert [li["resourceLinkId"] for li in platform.lineitems.values()] == ["link-1"]
    assert Assignment.objects.get().lineitem_url

    page = browser.http.get(f"{tool.url}/lti/classes/{classroom.pk}/", timeout=30)
    assert 'data-state="failed"' in page.text and "gradebook temporarily unavailable" in page.text
    assert "1 score(s) could not be sent" in page.text
    relaunch = browser.launch(platform, LaunchSpec(GRACE))  # the teacher is told on the class page too
    assert "1 score(s) could not be sent to the LMS" in relaunch.text

    assert services.grades_send_due(now=now + timedelta(seconds=30)).failed == 0  # still waiting
    assert services.grades_send_due(now=now + timedelta(seconds=61)).failed == 1
    grade.refresh_from_db()
    assert grade.failures == 2 and grade.next_try_at == now + timedelta(seconds=61 + 120)
    assert services.grades_send_due(now=now + timedelta(seconds=200)).sent == 1
    grade.refresh_from_db()
    assert (grade.state, grade.failures, grade.last_error, grade.next_try_at) == (GradeSync.State.SENT, 0, "", None)
    assert _scores(platform, "link-1") == [(0.0, "Started", ADA.sub)]


def test_the_teacher_switches_to_mastery_and_the_score_is_recomputed(tool: Any, platform: Platform,
                                                                     course: Course) -> None:
    item = course.items.get(slug="add-halves-quarters")
    platform.link_add("link-1", custom={"tutor_target": f"item:{item.pk}", "tutor_grading": "completion"},
                      gradebook=True)
    browser, classroom = _teacher(platform)
    Browser().launch(platform, LaunchSpec(ADA))
    engine.turn_take(session_id=TutoringSession.objects.get().pk, text="3/4")
    services.grades_send_due()
    assert _scores(platform, "link-1")[-1][0] == 100.0

    page = browser.http.get(f"{tool.url}/lti/classes/{classroom.pk}/", timeout=30)
    assignment = Assignment.objects.get()
    done = browser.submit(page, action="/grading/", **{f"a{assignment.pk}-grading": "mastery"})
    assert done.status_code == 200 and "now scored by mastery" in done.text
    assert GradeSync.objects.get().dirty
    services.grades_send_due()
    student = get_user_model().objects.get(lti_users__sub=ADA.sub)
    expected = selectors.score_compute(assignment=Assignment.objects.get(), student=student)
    assert 0.0 <= expected < 1.0  # one right answer does not master both skills of the item
    assert _scores(platform, "link-1")[-1] == (round(expected * 100, 2), "InProgress" if expected else "Started",
                                               ADA.sub)


def test_a_link_without_grade_service_is_marked_so(tool: Any, platform: Platform, course: Course) -> None:
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    Browser().launch(platform, LaunchSpec(ADA, ags=False))
    assert services.grades_send_due().unsupported == 1
    assert GradeSync.objects.get().state == GradeSync.State.UNSUPPORTED and not platform.scores
