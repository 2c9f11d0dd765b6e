import pytest
from django.urls import reverse

from tests.factories import ItemFactory, StepFactory
from tutor import engine, planning

pytestmark = pytest.mark.django_db


@pytest.fixture
def fringe_item(course):
    item = ItemFactory(course=course, slug="halves-as-quarters", position=99)
    item.kcs.add(course.kcs.get(slug="equivalent"))
    StepFactory(item=item, answer="2/4")
    return item


def test_planner_picks_from_the_fringe_with_a_reason(course, student, fringe_item):
    item, reason = planning.item_next(student=student, course=course)
    # "equivalent" has no prerequisite: the only KC a new learner is ready for, although its item
    # comes last in the course order
    assert item == fringe_item
    assert "Equivalent fractions" in reason and "Next in the course order" not in reason


def test_continue_learning_uses_the_planner_and_says_why(client, course, student, fringe_item):
    client.force_login(student)
    resp = client.post(reverse("continue-learning", args=[course.slug]), follow=True)
    assert resp.status_code == 200
    assert resp.context["item"] == fringe_item
    assert any("Equivalent fractions" in m.message for m in resp.context["messages"])


def test_falls_back_to_course_order_when_planning_fails(course, student, monkeypatch):
    monkeypatch.setattr(planning, "_planned", lambda **kw: 1 / 0)
    item, reason = planning.item_next(student=student, course=course)
    assert item is not None and reason == "Next in the course order."
    engine.session_start(student=student, item=item)
