import pytest
from django.urls import reverse

from tests.factories import ItemFactory, StepFactory, UserFactory
from tests.tutor.streaming import reply_fragments
from tutor import engine, roles
from tutor.models import Turn, TutoringSession
from tutor.planning import services as planning

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


@pytest.mark.django_db(transaction=True)
def test_next_item_does_not_serve_the_problem_just_solved(course, student, backend):
    """Three items on "equivalent" (the only KC a new learner is ready for): after one is solved and
    "equivalent" is still not mastered, Next item serves another one, not the same again."""
    for n, answer in enumerate(("2/4", "4/8", "3/6")):
        extra = ItemFactory(course=course, slug=f"equivalent-{n}", position=90 + n, difficulty=1)
        extra.kcs.add(course.kcs.get(slug="equivalent"))
        StepFactory(item=extra, answer=answer)
    served = []
    for _ in range(3):
        item, _reason = planning.item_next(student=student, course=course)
        assert item is not None
        served.append(item.slug)
        session = engine.session_start(student=student, item=item)
        engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=session.step.answer))
        session.refresh_from_db()
        assert session.status == TutoringSession.Status.FINISHED
    assert len(set(served)) == 3, served


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


# "Try a similar problem" after the worked answer was shown.

WRONG = ["5", "7", "9", "11", "13", "15", "17", "19"]


@pytest.fixture
def similar_items(course):
    """Two more items on the original's KCs (adding + equivalent, difficulty 2): one as hard, one
    much harder."""
    kcs = [course.kcs.get(slug="adding"), course.kcs.get(slug="equivalent")]
    same = ItemFactory(course=course, slug="add-thirds-sixths", position=50, difficulty=2)
    hard = ItemFactory(course=course, slug="add-fifths-tenths", position=51, difficulty=5)
    for item, answer in ((same, "1/2"), (hard, "3/10")):
        item.kcs.add(*kcs)
        StepFactory(item=item, answer=answer)
    return same, hard


def until_worked_answer(session, limit=12):
    """Wrong answers until the tutor shows the worked answer; returns each reply's final fragment."""
    finals = []
    for i in range(limit):
        plan = engine.turn_take(session_id=session.pk, text=WRONG[i % len(WRONG)])
        finals.append((plan, reply_fragments(plan)[-1]))
        if plan.released:
            return finals
    raise AssertionError("the worked answer was never shown")


@pytest.mark.django_db(transaction=True)
def test_after_the_worked_answer_the_tutor_offers_a_similar_item(client, session, similar_items, backend):
    same, _hard = similar_items
    finals = until_worked_answer(session)
    url = reverse("session-similar", args=[session.pk])
    *before, (last_plan, last_html) = finals
    assert Turn.objects.get(pk=last_plan.tutor_turn_id).move == "bottom_out"
    assert "Try a similar problem" in last_html and url in last_html
    assert all("Try a similar problem" not in html for _plan, html in before)  # only after the answer
    session.refresh_from_db()
    assert engine.similar_offer_turn(session) == last_plan.tutor_turn_id
    # The offer survives later turns and a reload, and sits on the turn that showed the answer.
    engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text="ok, thanks"))
    session.refresh_from_db()
    assert engine.similar_offer_turn(session) == last_plan.tutor_turn_id
    client.force_login(session.student)
    page = client.get(reverse("session", args=[session.pk])).content.decode()
    assert page.count("Try a similar problem") == 1
    assert page.index(f'id="turn-{last_plan.tutor_turn_id}"') < page.index("Try a similar problem")
    # Pressing it starts the similar item (same KCs, matched difficulty) and says why.
    resp = client.post(url, follow=True)
    assert resp.status_code == 200
    assert resp.context["item"] == same and resp.context["session"].pk != session.pk
    assert any("similar problem on the same skills" in m.message for m in resp.context["messages"])


def test_similar_item_bridge_matches_kcs_and_difficulty(course, student, similar_items):
    same, hard = similar_items
    original = course.items.get(slug="add-halves-quarters")
    item, reason = planning.item_similar(student=student, item=original)
    assert item == same and "about as hard" in reason
    # From the hard one, the nearest in difficulty on the same KCs is... still not itself.
    item, _ = planning.item_similar(student=student, item=hard)
    assert item is not None and item != hard and set(item.kcs.all()) == set(hard.kcs.all())
    # An item whose KCs no other item practises has no similar item.
    assert planning.item_similar(student=student, item=course.items.get(slug="solve-x-plus-3")) == (None, "")


def test_similar_is_refused_without_an_offer_and_for_another_student(client, session, similar_items):
    url = reverse("session-similar", args=[session.pk])
    assert client.post(url).status_code == 302  # anonymous: to the login page
    client.force_login(session.student)
    assert client.post(url).status_code == 400  # no worked answer shown yet
    assert client.get(url).status_code == 405
    session.progress = {engine.SIMILAR_OFFER: {"turn": 1}}
    session.save()
    other = UserFactory(username="bob", role=roles.STUDENT)
    client.force_login(other)
    assert client.post(url).status_code == 404


def test_similar_over_htmx_redirects_the_page(client, session, similar_items):
    session.progress = {engine.SIMILAR_OFFER: {"turn": 1}}
    session.save()
    client.force_login(session.student)
    resp = client.post(reverse("session-similar", args=[session.pk]), HTTP_HX_REQUEST="true")
    assert resp.status_code == 204
    new = TutoringSession.objects.exclude(pk=session.pk).get(student=session.student)
    assert resp["HX-Redirect"] == reverse("session", args=[new.pk]) and new.item == similar_items[0]


def test_no_similar_item_says_so_and_stays(client, course, student):
    item = course.items.get(slug="solve-x-plus-3")
    session = engine.session_start(student=student, item=item)
    session.progress = {engine.SIMILAR_OFFER: {"turn": 1}}
    session.save()
    client.force_login(student)
    resp = client.post(reverse("session-similar", args=[session.pk]))
    assert resp.status_code == 302 and resp["Location"] == reverse("session", args=[session.pk])
    assert TutoringSession.objects.filter(student=student).count() == 1


def test_similar_falls_back_to_the_same_kcs_when_the_learner_model_fails(course, student, similar_items, monkeypatch):
    monkeypatch.setattr(planning, "plan_context", lambda **kw: 1 / 0)
    item, reason = planning.item_similar(student=student, item=course.items.get(slug="add-halves-quarters"))
    assert item == similar_items[0] and reason
