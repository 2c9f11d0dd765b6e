"""Launches from a real LTI 1.3 platform into the tutor: who the LMS user becomes, which class they
join, and where they land, with no password anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from lti_tool.models import LtiUser

from content.models import Course
from tests.lti.platform import INSTRUCTOR, LEARNER, Browser, LaunchSpec, Platform, User
from tutor import roles
from tutor.courses.models import CourseGoal
from tutor.lti.models import Assignment, ContextClass, GradeSync
from tutor.models import TutoringSession
from tutor.teaching.models import Classroom, Enrolment

pytestmark = pytest.mark.django_db(transaction=True)

ADA = User("lms-user-ada", "Ada Lovelace", LEARNER, "ada@school.example")
GRACE = User("lms-user-grace", "Grace Hopper", INSTRUCTOR, "grace@school.example")


def _account(sub: str) -> Any:
    return LtiUser.objects.select_related("auth_user").get(sub=sub).auth_user


def test_learner_launch_makes_an_enrolled_student_and_opens_the_course_in_a_tutoring_session(
        tool: Any, platform: Platform, course: Course, browser: Browser) -> None:
    platform.link_add("link-1", title="Fractions practice", custom={"tutor_target": "course:mini"}, gradebook=True)
    page = browser.launch(platform, LaunchSpec(ADA))
    assert page.status_code == 200, page.text[:2000]
    assert "/sessions/" in page.url  # the chat page of the planner's first item
    session = TutoringSession.objects.get()
    assert page.url.endswith(f"/sessions/{session.pk}/")
    assert session.course == course

    user = _account(ADA.sub)
    assert session.student == user
    assert not user.has_usable_password()
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", "ada@school.example")
    assert user.username.startswith("ada-lovelace-")
    assert roles.is_student(user) and not roles.is_teacher(user) and not user.is_staff
    link = ContextClass.objects.get()
    assert link.context.id_on_platform == "course-101" and link.course == course
    assert link.classroom.name == "Algebra 1, period 3"
    assert Enrolment.objects.filter(classroom=link.classroom, student=user).exists()
    assignment = Assignment.objects.get()
    assert (assignment.course, assignment.goal, assignment.item, assignment.grading) == (
        course, None, None, Assignment.Grading.MASTERY)
    assert assignment.lineitem_url.startswith(platform.url) and assignment.grades_possible
    assert GradeSync.objects.filter(assignment=assignment, student=user, dirty=True).exists()

    # The session cookie signs them in: the page of their session is theirs.
    again = browser.http.get(page.url, timeout=30)
    assert again.status_code == 200 and "Log out" in again.text


def test_instructor_launch_makes_a_teacher_of_the_class_and_opens_the_class_view(
        tool: Any, platform: Platform, course: Course, browser: Browser) -> None:
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    page = browser.launch(platform, LaunchSpec(GRACE))
    classroom = Classroom.objects.get()
    assert page.status_code == 200, page.text[:2000]
    assert page.url.endswith(f"/teach/classes/{classroom.pk}/")
    teacher = _account(GRACE.sub)
    assert list(classroom.teachers.all()) == [teacher]
    assert roles.is_teacher(teacher) and teacher.is_staff and not teacher.has_usable_password()
    assert not Enrolment.objects.exists() and not GradeSync.objects.exists()

    # A learner of the same LMS course joins the same class; a second launch changes nothing.
    Browser().launch(platform, LaunchSpec(ADA))
    browser.launch(platform, LaunchSpec(GRACE))
    assert Classroom.objects.count() == 1 and get_user_model().objects.count() == 2
    assert Enrolment.objects.get().student == _account(ADA.sub)


def test_goal_and_item_links_open_the_goal_and_the_item(tool: Any, platform: Platform, course: Course,
                                                        browser: Browser) -> None:
    goal = CourseGoal.objects.create(course=course, name="Equations")
    goal.kcs.set(course.kcs.filter(slug="equations"))
    item = course.items.get(slug="solve-x-plus-3")
    platform.link_add("goal-link", custom={"tutor_target": f"goal:{goal.pk}"})
    platform.link_add("item-link", custom={"tutor_target": f"item:{item.pk}", "tutor_grading": "completion"})

    page = browser.launch(platform, LaunchSpec(ADA, resource_link_id="item-link"))
    assert page.status_code == 200
    session = TutoringSession.objects.get()
    assert session.item == item and page.url.endswith(f"/sessions/{session.pk}/")
    assert Assignment.objects.get(resource_link__id_on_platform="item-link").grading == "completion"

    page = browser.launch(platform, LaunchSpec(ADA, resource_link_id="goal-link"))
    assert page.status_code == 200 and "/sessions/" in page.url
    student = _account(ADA.sub)
    assert student.course_goals.get(course=course).goal == goal
    # Both links of the LMS course share its class.
    assert Classroom.objects.count() == 1 and Enrolment.objects.count() == 1


def test_a_plain_link_is_set_up_by_the_instructor_and_refused_to_learners_until_then(
        tool: Any, platform: Platform, course: Course, browser: Browser) -> None:
    platform.link_add("plain")
    refused = Browser().launch(platform, LaunchSpec(ADA, resource_link_id="plain"))
    assert refused.status_code == 400 and 'data-refusal="not_set_up"' in refused.text
    assert not get_user_model().objects.exists()  # nothing kept of the refused launch

    page = browser.launch(platform, LaunchSpec(GRACE, resource_link_id="plain"))
    assert page.status_code == 200 and page.url.endswith("/lti/link-setup/")
    done = browser.submit(page, target=f"item:{course.items.get(slug='solve-x-plus-3').pk}", grading="completion")
    classroom = Classroom.objects.get()
    assert done.status_code == 200 and done.url.endswith(f"/teach/classes/{classroom.pk}/")
    assert Assignment.objects.get().item.slug == "solve-x-plus-3"

    page = Browser().launch(platform, LaunchSpec(ADA, resource_link_id="plain"))
    assert page.status_code == 200 and "/sessions/" in page.url
