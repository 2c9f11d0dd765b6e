"""Teacher controls and goals reach the planner: the student's chosen goal, the course's thresholds
and the experiment condition's overrides change what "Continue learning" picks."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from content.models import Course
from tests.factories import ItemFactory, KCFactory, StepFactory, UserFactory
from tracing import services as tracing_services
from tutor import roles
from tutor.courses import services as course_settings
from tutor.courses.models import Condition, CourseGoal, CourseSettings, StudentGoal
from tutor.planning import services as planning

pytestmark = pytest.mark.django_db


@pytest.fixture
def goals(course):
    """A second root KC ("decimals", unrelated to the fractions chain) with its own item, a fringe
    item on "equivalent", and two teacher goals."""
    decimals = KCFactory(course=course, slug="decimals", name="Decimals")
    dec_item = ItemFactory(course=course, slug="tenths", position=98)
    dec_item.kcs.add(decimals)
    StepFactory(item=dec_item, answer="0.1")
    eq_item = ItemFactory(course=course, slug="halves-as-quarters", position=99)
    eq_item.kcs.add(course.kcs.get(slug="equivalent"))
    StepFactory(item=eq_item, answer="2/4")
    dec_goal = CourseGoal.objects.create(course=course, name="Decimals", position=1)
    dec_goal.kcs.add(decimals)
    eq_goal = CourseGoal.objects.create(course=course, name="Equations", position=2)
    eq_goal.kcs.add(course.kcs.get(slug="equations"))
    return {"decimals": dec_goal, "equations": eq_goal, "dec_item": dec_item, "eq_item": eq_item}


def test_the_whole_course_without_goals_then_the_chosen_goal(client, course, student, goals):
    # No goal picked and no default: the whole course. "equivalent" leads to three KCs, "decimals"
    # to one, so the fractions chain starts first.
    item, reason = planning.item_next(student=student, course=course)
    assert item == goals["eq_item"]
    client.force_login(student)
    resp = client.post(reverse("goal-choose", args=[course.slug]), {"goal": goals["decimals"].pk})
    assert resp.status_code == 302 and resp["Location"] == reverse("home")
    assert StudentGoal.objects.get(student=student, course=course).goal == goals["decimals"]
    item, reason = planning.item_next(student=student, course=course)
    assert item == goals["dec_item"] and "one of your goals" in reason
    # Switching goal switches the plan back.
    client.post(reverse("goal-choose", args=[course.slug]), {"goal": goals["equations"].pk})
    assert planning.item_next(student=student, course=course)[0] == goals["eq_item"]


def test_the_default_goal_applies_until_the_student_picks(course, student, goals):
    goals["decimals"].is_default = True
    goals["decimals"].save()
    assert planning.item_next(student=student, course=course)[0] == goals["dec_item"]
    ctx = planning.plan_context(student=student, course=course)
    assert ctx is not None and [ctx.graph.kcs[k] for k in ctx.goal] == ["decimals"]


def test_goal_choice_errors_are_clear_and_never_500(client, course, student, goals):
    other = Course.objects.create(slug="other", title="Other course")
    foreign = CourseGoal.objects.create(course=other, name="Elsewhere")
    url = reverse("goal-choose", args=[course.slug])
    assert client.post(url, {"goal": goals["decimals"].pk}).status_code == 302  # anonymous: to the login
    client.force_login(student)
    resp = client.post(url, {"goal": foreign.pk})
    assert resp.status_code == 400 and b"another course" in resp.content
    assert client.post(url, {"goal": "nine"}).status_code == 400
    assert client.post(url, {}).status_code == 400
    assert client.post(url, {"goal": 987654}).status_code == 404
    missing = reverse("goal-choose", args=["no-such-course"])
    assert client.post(missing, {"goal": goals["decimals"].pk}).status_code == 404
    assert client.get(url).status_code == 405
    assert not StudentGoal.objects.filter(student=student).exists()
    # An off-site "next" is ignored; a local one is followed.
    resp = client.post(url, {"goal": goals["decimals"].pk, "next": "https://evil.example/"})
    assert resp["Location"] == reverse("home")
    resp = client.post(url, {"goal": goals["decimals"].pk, "next": reverse("progress", args=[course.slug])})
    assert resp["Location"] == reverse("progress", args=[course.slug])


def test_home_offers_the_course_goals_with_the_current_one_selected(client, course, student, goals):
    client.force_login(student)
    html = client.get(reverse("home")).content.decode()
    assert reverse("goal-choose", args=[course.slug]) in html
    assert "The whole course</option>" in html  # nothing picked, no default
    StudentGoal.objects.create(student=student, course=course, goal=goals["equations"])
    html = client.get(reverse("home")).content.decode()
    assert f'<option value="{goals["equations"].pk}" selected>Equations</option>' in html
    assert f'<option value="{goals["decimals"].pk}">Decimals</option>' in html
    assert "The whole course</option>" not in html


def test_a_course_without_goals_shows_no_goal_choice(client, course, student):
    client.force_login(student)
    assert reverse("goal-choose", args=[course.slug]) not in client.get(reverse("home")).content.decode()


def test_planner_settings_come_from_the_course_then_the_condition(course, student):
    ctx = planning.plan_context(student=student, course=course)
    assert ctx is not None
    assert (ctx.settings.mastery_threshold, ctx.settings.review_threshold, ctx.settings.target_success) == (
        0.8, 0.7, 0.75)
    CourseSettings.objects.create(course=course, mastery_threshold=0.9, review_threshold=0.6, target_success=0.8)
    ctx = planning.plan_context(student=student, course=course)
    assert ctx is not None
    assert (ctx.settings.mastery_threshold, ctx.settings.review_threshold, ctx.settings.target_success) == (
        0.9, 0.6, 0.8)
    Condition.objects.create(course=course, name="strict", overrides={"mastery_threshold": 0.95,
                                                                        "target_success": 0.85})
    other = UserFactory(username="grace", role=roles.STUDENT)
    ctx = planning.plan_context(student=other, course=course)
    assert ctx is not None
    assert (ctx.settings.mastery_threshold, ctx.settings.review_threshold, ctx.settings.target_success) == (
        0.95, 0.6, 0.85)


def test_a_condition_threshold_outside_the_valid_range_is_refused_and_never_runs_clamped(course, student):
    # One definition of the range (tutor.courses.rules): the admin refuses the arm with the reason...
    arm = Condition(course=course, name="lenient", overrides={"mastery_threshold": 0.3})
    with pytest.raises(ValidationError) as refused:
        arm.full_clean()
    assert "mastery_threshold must be between 0.55 and 0.99" in str(refused.value)
    # ...and a row written past the form (an old database) changes nothing, rather than running at
    # another value than the one recorded for it.
    arm.save()
    ctx = planning.plan_context(student=student, course=course)
    assert ctx is not None and ctx.settings.mastery_threshold == 0.8
    assert course_settings.settings_effective(course=course, student=student).overridden == ()
    _item, reason = planning.item_next(student=student, course=course)
    assert reason != "Next in the course order."


def test_the_teacher_mastery_threshold_changes_when_the_student_moves_on(course, student, goals):
    # Three right answers on "equivalent": mastered at the default 0.8, not at the teacher's 0.97.
    start = timezone.now() - timedelta(hours=1)
    for n in range(3):
        tracing_services.response_record(learner=student, item=goals["eq_item"], correct=True,
                                         at=start + timedelta(minutes=2 * n), attempt_id=f"goal-test-{n}")
    # Both KCs are goals, so three answers are within the planner's patience for "equivalent".
    both = CourseGoal.objects.create(course=course, name="Fractions to equations", position=3)
    both.kcs.add(course.kcs.get(slug="equivalent"), course.kcs.get(slug="equations"))
    StudentGoal.objects.create(student=student, course=course, goal=both)
    item, reason = planning.item_next(student=student, course=course)
    assert item == course.items.get(slug="add-halves-quarters") and "mastered Equivalent fractions" in reason
    CourseSettings.objects.create(course=course, mastery_threshold=0.97, review_threshold=0.7)
    item, reason = planning.item_next(student=student, course=course)
    assert item == goals["eq_item"]
