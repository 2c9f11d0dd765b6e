"""tracing.selectors against the database: every read other apps make of the learner model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content.models import Course, Item, KnowledgeComponent
from tests.factories import CourseFactory, ItemFactory, KCFactory, PrerequisiteFactory, UserFactory
from tests.tracing.test_encoder import _random_encoder
from tracing import selectors, services
from tracing.learner_state import model_cache_clear
from tracing.models import LearnerKCState, LearnerTraits, Observation, TracingFit
from tracing.psikt.online import OnlineModel
from tracing.psikt.params import PsiktParams, difficulty_offset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    # Ids come back after a test's rollback, so a cached model could be another test's course's.
    model_cache_clear()
    yield
    model_cache_clear()


@pytest.fixture
def course() -> Course:
    course = Course.objects.create(slug="fractions", title="Fractions")
    a = KCFactory(course=course, slug="a", position=0)
    b = KCFactory(course=course, slug="b", position=1)
    KCFactory(course=course, slug="c", position=2)  # never practised
    PrerequisiteFactory(prerequisite=a, dependent=b, strength=0.9)
    for slug, kcs, difficulty in [("i1", [a], 2), ("i2", [b], 4), ("i3", [a, b], 3)]:
        ItemFactory(course=course, slug=slug, difficulty=difficulty).kcs.set(kcs)
    return course


def _kc(course: Course, slug: str) -> KnowledgeComponent:
    return KnowledgeComponent.objects.get(course=course, slug=slug)


def _item(course: Course, slug: str) -> Item:
    return Item.objects.get(course=course, slug=slug)


def _answer(learner: Any, item: Item, correct: bool, at: Any, tag: str) -> services.ResponseOutcome:
    return services.response_record(learner=learner, item=item, correct=correct, at=at, attempt_id=tag)


def _fit(course: Course, *, learners: dict[int, list[float]] | None = None, encoder: bool = False) -> TracingFit:
    """A finished fit with parameters made by hand (deterministic and instant): item i1 learned
    easier than its difficulty says, the a -> b edge learned at 0.75, ``learners`` (id -> traits
    loc) fitted, and optionally a history encoder with random weights."""
    kc_rows = KnowledgeComponent.objects.filter(course=course).order_by("position")
    kcs = [str(k) for k in kc_rows.values_list("pk", flat=True)]
    items = [_item(course, "i1"), _item(course, "i2")]
    learners = learners or {}
    n = len(learners)
    pop = OnlineModel.default().population
    params = PsiktParams(
        kcs=kcs,
        items=[str(i.pk) for i in items],
        learners=[str(k) for k in learners],
        item_kcs=[[0], [1]],
        population=pop,
        item_offset=np.array([1.7, -0.4]),
        item_offset_sd=np.array([0.1, 0.1]),
        edge_index=np.array([[-1], [0], [-1]]),
        edge_logit=np.array([[0.0], [np.log(0.75 / 0.25)], [0.0]]),
        learner_loc=np.array(list(learners.values()), dtype=float).reshape(n, 3),
        learner_sd=np.full((n, 3), 0.2),
        mu_mean=np.full(n, 0.5),
        mu_sd=np.full(n, 0.3),
        time_unit="day",
        kc_gain=np.array([[0.05, 0.2], [0.1, 0.3], [0.0, 0.0]]),
        encoder=_random_encoder(len(kcs), 4, seed=5).to_dict() if encoder else None,
    )
    return TracingFit.objects.create(course=course, version=1, status=TracingFit.Status.DONE, params=params.to_dict())


# ---------------------------------------------------------------------------------------------
# Predictions


def test_mastery_predict_covers_the_course_or_the_kcs_asked(course: Course) -> None:
    ada = UserFactory(username="ada")
    every = selectors.mastery_predict(learner=ada, course=course)
    assert set(every) == set(course.kcs.values_list("pk", flat=True))
    a = _kc(course, "a").pk
    only = selectors.mastery_predict(learner=ada, course=course, kcs=[a])
    assert set(only) == {a} and only[a] == every[a]
    now = timezone.now()
    for i in range(3):
        _answer(ada, _item(course, "i1"), True, now + timedelta(minutes=i), f"m{i}")
    soon = selectors.mastery_predict(learner=ada, course=course, kcs=[a], at=now + timedelta(minutes=3))[a]
    later = selectors.mastery_predict(learner=ada, course=course, kcs=[a], at=now + timedelta(days=30))[a]
    assert soon.mastery > every[a].mastery and soon.p_correct > every[a].p_correct
    assert later.p_correct < soon.p_correct  # forgetting
    assert selectors.mastery_predict(learner=ada, course=CourseFactory()) == {}


@pytest.mark.parametrize("encoder", [False, True])
def test_mastery_bulk_is_each_learners_own_prediction(course: Course, encoder: bool) -> None:
    ada, bob, cy, dan = (UserFactory(username=name) for name in ("ada", "bob", "cy", "dan"))
    _fit(course, learners={dan.pk: [-1.5, -0.3, 0.4]}, encoder=encoder)
    now = timezone.now() - timedelta(hours=2)
    for i, (item, correct) in enumerate([("i1", True), ("i3", True), ("i2", False), ("i1", True)]):
        _answer(ada, _item(course, item), correct, now + timedelta(minutes=i), f"ada{i}")
    for i, (item, correct) in enumerate([("i2", False), ("i2", False)]):
        _answer(bob, _item(course, item), correct, now + timedelta(minutes=i), f"bob{i}")
    if encoder:
        assert LearnerTraits.objects.get(learner=ada, course=course).raw.get("encoder")
    ids = [ada.pk, bob.pk, cy.pk, dan.pk]  # cy never answered; dan only has the fit's posterior
    kc_ids = list(course.kcs.values_list("pk", flat=True))
    at = [timezone.now(), timezone.now() + timedelta(days=9)]
    bulk = selectors.mastery_bulk(course=course, learner_ids=ids, kc_ids=kc_ids, at=at)
    for learner in (ada, bob, cy, dan):
        for t in at:
            own = selectors.mastery_predict(learner=learner, course=course, at=t)
            for kc_id in kc_ids:
                got = bulk.get(t, learner.pk, kc_id)
                for name in ("p_correct", "p_correct_sd", "mastery", "mean", "sd"):
                    assert getattr(got, name) == pytest.approx(getattr(own[kc_id], name), abs=1e-9), name
    assert bulk.mastery[at[0]][ada.pk] != bulk.mastery[at[0]][bob.pk]
    assert bulk.mastery[at[0]][dan.pk] != bulk.mastery[at[0]][cy.pk]  # the fit's posterior, not the prior
    a, b = _kc(course, "a").pk, _kc(course, "b").pk
    assert set(bulk.practised[ada.pk]) == {a, b} and set(bulk.practised[bob.pk]) == {b}
    assert cy.pk not in bulk.practised and dan.pk not in bulk.practised
    assert bulk.practised_before(ada.pk, timezone.now()) == {a, b}
    assert bulk.practised_before(ada.pk, now - timedelta(minutes=1)) == set()
    assert bulk.practised_before(cy.pk, timezone.now()) == set()


def test_mastery_bulk_reads_a_class_in_a_fixed_number_of_queries(course: Course) -> None:
    learners = [UserFactory(username=f"s{i}") for i in range(6)]
    now = timezone.now()
    for n, learner in enumerate(learners):
        _answer(learner, _item(course, "i3"), n % 2 == 0, now, f"q{n}")
    kc_ids = list(course.kcs.values_list("pk", flat=True))
    selectors.mastery_bulk(course=course, learner_ids=[learners[0].pk], kc_ids=kc_ids, at=[now])  # warm the cache
    counts = []
    for some in (learners[:1], learners):
        with CaptureQueriesContext(connection) as queries:
            selectors.mastery_bulk(course=course, learner_ids=[s.pk for s in some], kc_ids=kc_ids, at=[now])
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 3
    empty = selectors.mastery_bulk(course=course, learner_ids=[], kc_ids=kc_ids, at=[now])
    assert empty.p_correct == {now: {}} and empty.practised == {}


def test_item_predict_is_what_the_next_answer_is_recorded_against(course: Course) -> None:
    ada = UserFactory(username="ada")
    _fit(course, encoder=True)
    now = timezone.now()
    _answer(ada, _item(course, "i1"), True, now, "p0")
    item = _item(course, "i3")
    at = now + timedelta(hours=5)
    predicted = selectors.item_predict(learner=ada, item=item, at=at)
    assert _answer(ada, item, False, at, "p1").p_correct_before == pytest.approx(predicted, abs=1e-12)
    hard = selectors.item_predict(learner=ada, item=_item(course, "i2"), at=at)
    easy = selectors.item_predict(learner=ada, item=_item(course, "i1"), at=at)
    assert easy > hard


def test_item_offsets_are_the_filters_learned_or_prior(course: Course) -> None:
    items = list(Item.objects.filter(course=course).order_by("slug"))
    before = selectors.item_offsets(course=course, items=items)
    assert before == {i.pk: difficulty_offset(i.difficulty) for i in items}
    assert before[_item(course, "i1").pk] == 0.5  # difficulty 2
    _fit(course)
    after = selectors.item_offsets(course=course, items=items)
    # i1 and i2 were in the fit; i3 was not, so it keeps its prior.
    assert after == pytest.approx({items[0].pk: 1.7, items[1].pk: -0.4, items[2].pk: 0.0})


# ---------------------------------------------------------------------------------------------
# The fit


def test_learned_edges_after_a_fit(course: Course) -> None:
    assert selectors.learned_edges(course=course) == []
    _fit(course)
    edges = selectors.learned_edges(course=course)
    a, b = _kc(course, "a").pk, _kc(course, "b").pk
    assert [(e.prerequisite, e.dependent) for e in edges] == [(a, b)]
    assert edges[0].strength == pytest.approx(0.75) and edges[0].teacher_strength == pytest.approx(0.9)
    assert selectors.learned_edges(course=course, min_strength=0.8) == []


def test_traits_for_learner_stored_fitted_or_population(course: Course) -> None:
    ada, bob, cy = (UserFactory(username=name) for name in ("ada", "bob", "cy"))
    prior = selectors.traits_for_learner(course=course, learner=ada)
    pop = prior.population
    assert not prior.stored
    assert prior.loc == pytest.approx((pop["log_alpha_loc"], pop["log_sigma_loc"], pop["logit_gamma_loc"]))
    assert prior.sd == pytest.approx((pop["log_alpha_scale"], pop["log_sigma_scale"], pop["logit_gamma_scale"]))
    assert (prior.mu_mean, prior.mu_sd) == (pop["mu_loc"], pop["mu_scale"])
    _fit(course, learners={bob.pk: [-1.0, -0.2, 0.3]})
    fitted = selectors.traits_for_learner(course=course, learner=bob)
    assert not fitted.stored and fitted.loc == pytest.approx((-1.0, -0.2, 0.3))
    assert fitted.sd == pytest.approx((0.2, 0.2, 0.2))
    _answer(cy, _item(course, "i1"), True, timezone.now(), "t0")
    row = LearnerTraits.objects.get(learner=cy, course=course)
    stored = selectors.traits_for_learner(course=course, learner=cy)
    assert stored.stored and (stored.mu_mean, stored.mu_sd) == (row.mu_mean, row.mu_sd)
    assert stored.loc == pytest.approx(tuple(row.raw["loc"])) and stored.sd == pytest.approx(tuple(row.raw["sd"]))
    assert stored.mu_mean != prior.mu_mean  # the answer moved the level


# ---------------------------------------------------------------------------------------------
# Stored rows


def test_kc_practice_times_and_answer_counts(course: Course) -> None:
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    a, b, c = (_kc(course, s).pk for s in "abc")
    now = timezone.now()
    _answer(ada, _item(course, "i1"), True, now - timedelta(days=2), "k0")
    _answer(ada, _item(course, "i3"), False, now - timedelta(days=1), "k1")
    _answer(bob, _item(course, "i2"), True, now, "k2")
    other = ItemFactory(course=CourseFactory(slug="other"))
    other.kcs.set([KCFactory(course=other.course)])
    _answer(ada, other, True, now, "k3")
    services.observations_import(
        course=course,
        answers=[services.ImportedAnswer(ada.pk, "log-7", [b], True, now - timedelta(days=3), "imp-1")],
    )
    times = selectors.kc_practice_times(learner=ada, course=course)
    stored = LearnerKCState.objects.filter(learner=ada, kc__course=course).values_list("kc_id", "practised_at")
    assert times == dict(stored)
    assert set(times) == {a, b} and times[a] >= now - timedelta(days=1, seconds=1)
    assert selectors.kc_practice_times(learner=ada, course=course, kc_ids=[b, c]) == {b: times[b]}
    assert selectors.kc_practice_times(learner=UserFactory(username="cy"), course=course) == {}
    assert selectors.kc_answer_counts(learner=ada, course=course) == {a: 2, b: 2}
    assert selectors.kc_answer_counts(learner=bob, course=course) == {b: 1}


def test_mastery_after_answers_in_time_order(course: Course) -> None:
    ada = UserFactory(username="ada")
    a, b = _kc(course, "a").pk, _kc(course, "b").pk
    now = timezone.now()
    # Recorded out of time order on purpose.
    second = _answer(ada, _item(course, "i3"), True, now, "h1")
    first = _answer(ada, _item(course, "i1"), False, now - timedelta(hours=1), "h0")
    _answer(UserFactory(username="bob"), _item(course, "i1"), True, now, "h2")
    history = selectors.mastery_after_answers(learner=ada, course=course)
    assert set(history) == {a, b}
    assert [m for _, m in history[a]] == pytest.approx([first.mastery[a], second.mastery[a]])
    assert [m for _, m in history[b]] == pytest.approx([second.mastery[b]])
    assert history[a][0][0] < history[a][1][0]
    assert selectors.mastery_after_answers(learner=UserFactory(username="cy"), course=course) == {}


def test_research_querysets_filter_by_course_and_learners(course: Course) -> None:
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    now = timezone.now()
    _answer(ada, _item(course, "i3"), True, now, "r0")
    _answer(bob, _item(course, "i1"), False, now + timedelta(minutes=1), "r1")
    services.observations_import(
        course=course, answers=[services.ImportedAnswer(bob.pk, "log-1", [], True, now - timedelta(days=1), "r2")]
    )
    other = ItemFactory(course=CourseFactory(slug="other"))
    other.kcs.set([KCFactory(course=other.course)])
    _answer(ada, other, True, now, "r3")

    every = selectors.observations_for_course(course=course)
    assert sorted(every.values_list("attempt_id", flat=True)) == ["r0", "r1", "r2"]
    assert list(every.values_list("attempt_id", flat=True)) == ["r2", "r0", "r1"]  # time order
    only_ada = selectors.observations_for_course(course=course, learners=type(ada).objects.filter(pk=ada.pk))
    assert list(only_ada.values_list("attempt_id", flat=True)) == ["r0"]
    assert selectors.observations_for_course(course=course, learners=[bob.pk]).count() == 2
    with CaptureQueriesContext(connection) as queries:
        items = [o.item.slug if o.item is not None else o.item_ref for o in every]
    assert len(queries) == 1 and sorted(items) == ["i1", "i3", "log-1"]

    states = selectors.kc_states_for_course(course=course)
    assert sorted(states.values_list("learner_id", "kc__slug")) == sorted([(ada.pk, "a"), (ada.pk, "b"), (bob.pk, "a")])
    assert set(selectors.kc_states_for_course(course=course, learners=[bob]).values_list("learner_id", flat=True)) == {
        bob.pk
    }
    with CaptureQueriesContext(connection) as queries:
        slugs = sorted(s.kc.slug for s in states)
    assert len(queries) == 1 and slugs == ["a", "a", "b"]
    assert Observation.objects.filter(course=other.course).count() == 1  # the other course's rows stay out
