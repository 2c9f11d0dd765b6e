from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from content.models import Course, Item, KnowledgeComponent
from tracing import selectors, services
from tracing.learner_state import model_cache_clear
from tracing.models import LearnerKCState, LearnerTraits, Observation, TracingFit
from tracing.psikt.timeunit import days_from_datetime

pytestmark = pytest.mark.django_db


@pytest.fixture
def learner():
    return get_user_model().objects.create_user(username="ada", password="x")


def _items(course: Course) -> dict[str, Item]:
    return {i.slug: i for i in Item.objects.filter(course=course)}


def test_cold_start_record_is_idempotent(course: Course, learner) -> None:
    item = _items(course)["i1"]
    now = timezone.now()
    first = services.response_record(learner=learner, item=item, correct=True, at=now, attempt_id="att-1")
    assert first.created
    assert 0.0 < first.p_correct_before < 1.0
    kc_a = item.kcs.get().pk
    assert set(first.mastery) == {kc_a}
    state = LearnerKCState.objects.get(learner=learner, kc_id=kc_a)
    traits = LearnerTraits.objects.get(learner=learner, course=course)
    again = services.response_record(learner=learner, item=item, correct=False, at=now, attempt_id="att-1")
    assert not again.created
    assert again.p_correct_before == pytest.approx(first.p_correct_before)
    assert again.mastery == pytest.approx(first.mastery)
    assert Observation.objects.count() == 1
    state.refresh_from_db()
    assert LearnerKCState.objects.get(pk=state.pk).mean == state.mean
    assert LearnerTraits.objects.get(pk=traits.pk).mu_mean == traits.mu_mean


def test_correct_answers_raise_mastery_and_p_correct(course: Course, learner) -> None:
    item = _items(course)["i1"]
    kc_a = item.kcs.get().pk
    start = timezone.now()
    before = selectors.mastery_predict(learner=learner, course=course)[kc_a]
    p_first = selectors.item_predict(learner=learner, item=item, at=start)
    outcomes = [
        services.response_record(
            learner=learner, item=item, correct=True, at=start + timedelta(minutes=i), attempt_id=f"a{i}"
        )
        for i in range(4)
    ]
    assert outcomes[0].p_correct_before == pytest.approx(p_first, abs=1e-9)
    assert outcomes[-1].p_correct_before > outcomes[0].p_correct_before
    after = selectors.mastery_predict(learner=learner, course=course, at=start + timedelta(minutes=4))[kc_a]
    assert after.mastery > before.mastery
    assert after.mean > before.mean
    assert 0 < after.p_correct_sd < 0.5


def test_forgetting_curve_and_clock_skew(course: Course, learner) -> None:
    item = _items(course)["i1"]
    kc_a = item.kcs.get().pk
    now = timezone.now()
    for i in range(3):
        services.response_record(
            learner=learner, item=item, correct=True, at=now + timedelta(minutes=i), attempt_id=f"f{i}"
        )
    curve = [
        selectors.mastery_predict(learner=learner, course=course, kcs=[kc_a], at=now + timedelta(days=d))[kc_a].mastery
        for d in (0, 7, 60, 3650)
    ]
    assert curve[0] >= curve[1] > curve[2] >= curve[3]
    # An answer stamped before the last one (clock skew) is filtered at the last practice time.
    out = services.response_record(
        learner=learner, item=item, correct=True, at=now - timedelta(hours=1), attempt_id="skew"
    )
    assert out.created and 0 < out.p_correct_before < 1
    state = LearnerKCState.objects.get(learner=learner, kc_id=kc_a)
    assert state.practised_at >= now + timedelta(minutes=2) - timedelta(seconds=1)


def test_item_without_kcs_and_unknown_kcs(course: Course, learner) -> None:
    bare = Item.objects.create(course=course, slug="bare", title="bare", statement="?")
    out = services.response_record(learner=learner, item=bare, correct=True, at=timezone.now(), attempt_id="bare-1")
    assert out.created and out.mastery == {}
    new_kc = KnowledgeComponent.objects.create(course=course, slug="c", name="New", position=2)
    preds = selectors.mastery_predict(learner=learner, course=course, kcs=[new_kc.pk])
    assert 0 < preds[new_kc.pk].mastery < 1


@pytest.mark.slow
def test_fit_run_replays_states_and_warm_starts(course: Course, learner) -> None:
    items = _items(course)
    users = [learner] + [get_user_model().objects.create_user(username=f"u{i}") for i in range(11)]
    rng = np.random.default_rng(0)
    start = timezone.now() - timedelta(days=5)
    answers = []
    for u_i, user in enumerate(users):
        skill = rng.normal()
        for n in range(12):
            item = items[["i1", "i2", "i3"][n % 3]]
            answers.append(
                services.ImportedAnswer(
                    learner_id=user.pk,
                    item_ref=item.slug,
                    item_id=item.pk,
                    kc_ids=list(item.kcs.values_list("id", flat=True)),
                    correct=bool(rng.random() < 1 / (1 + np.exp(-skill))),
                    at=start + timedelta(hours=n, minutes=u_i),
                    attempt_id=f"imp-{u_i}-{n}",
                )
            )
    assert services.observations_import(course=course, answers=answers) == len(answers)
    assert services.observations_import(course=course, answers=answers[:5]) == 0
    seen: list[int] = []
    fit1 = services.fit_run(course=course, steps=15, progress=lambda s, n, loss: seen.append(s))
    assert fit1.status == TracingFit.Status.DONE and fit1.version == 1
    assert seen[-1] == 15
    assert fit1.n_observations == len(answers)
    assert LearnerTraits.objects.filter(course=course, fit=fit1).count() == len(users)
    assert LearnerKCState.objects.filter(learner=learner).count() == 2
    edges = selectors.learned_edges(course=course)
    a, b = KnowledgeComponent.objects.filter(course=course).order_by("position")[:2]
    drawn = [e for e in edges if (e.prerequisite, e.dependent) == (a.pk, b.pk)]
    assert drawn and drawn[0].teacher_strength == pytest.approx(0.9) and drawn[0].strength > 0.5
    # After a fit, predictions use the fitted model and requests still work.
    out = services.response_record(
        learner=learner, item=items["i2"], correct=False, at=timezone.now(), attempt_id="post"
    )
    assert out.created
    fit2 = services.fit_run(course=course, steps=5)
    assert fit2.version == 2 and fit2.metrics["warm_start_version"] == 1
    assert fit2.metrics["encoder"] == {"used": False, "reason": "12 learners, fewer than 500"}


@pytest.mark.slow
def test_fit_tracing_command(course: Course, learner, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("fit_tracing", "--course", course.slug, "--steps", "3")
    assert "no observations" in capsys.readouterr().out
    item = _items(course)["i1"]
    services.response_record(learner=learner, item=item, correct=True, at=timezone.now(), attempt_id="c1")
    call_command("fit_tracing", "--steps", "3")
    assert TracingFit.objects.filter(course=course, status=TracingFit.Status.DONE).count() == 1
    # One learner: too few to hold some out, so the fit says why it has no history encoder.
    assert "history encoder not used: 1 learners, fewer than 500" in capsys.readouterr().out


def test_mastery_predict_thousand_kcs(learner) -> None:
    # Speed is measured by `python -m tracing.benchmarks --predict-kcs 1000`, not asserted here.
    course = Course.objects.create(slug="big", title="Big")
    KnowledgeComponent.objects.bulk_create(
        [KnowledgeComponent(course=course, slug=f"k{i}", name=f"k{i}", position=i) for i in range(1000)]
    )
    preds = selectors.mastery_predict(learner=learner, course=course)
    assert len(preds) == 1000
    assert all(0.0 < p.p_correct < 1.0 for p in preds.values())


def test_requests_step_and_store_the_history_encoder(course: Course, learner) -> None:
    from tests.tracing.test_encoder import _random_encoder
    from tracing.psikt.data import DatasetBuilder
    from tracing.psikt.fit import FitConfig, fit

    items = _items(course)
    kc_ids = [str(k) for k in KnowledgeComponent.objects.filter(course=course).values_list("id", flat=True)]
    builder = DatasetBuilder(kcs=kc_ids, items=[str(i.pk) for i in items.values()], time_unit="day")
    for n, item in enumerate(items.values()):
        builder.add("other", str(item.pk), [str(k) for k in item.kcs.values_list("id", flat=True)], n % 2, n)
    params = fit(builder.build(), config=FitConfig(steps=3, encoder=None)).params
    bare = params.to_dict()
    params.encoder = _random_encoder(len(kc_ids), 6, seed=1).to_dict()
    model_cache_clear()
    TracingFit.objects.create(course=course, version=1, status=TracingFit.Status.DONE, params=params.to_dict())
    now = timezone.now()
    services.response_record(learner=learner, item=items["i3"], correct=True, at=now, attempt_id="e1")
    stored = LearnerTraits.objects.get(learner=learner, course=course).raw["encoder"]
    assert len(stored["h"]) == 6 and stored["t"] == pytest.approx(days_from_datetime(now))
    assert any(abs(x) > 1e-3 for x in stored["h"])
    again = services.response_record(learner=learner, item=items["i3"], correct=False, at=now, attempt_id="e1")
    assert not again.created
    assert LearnerTraits.objects.get(learner=learner, course=course).raw["encoder"] == stored
    # The next prediction carries the encoder's shift: it differs from the same fit without one.
    later = now + timedelta(minutes=1)
    with_enc = selectors.item_predict(learner=learner, item=items["i1"], at=later)
    model_cache_clear()
    TracingFit.objects.filter(course=course).update(params=bare)
    without = selectors.item_predict(learner=learner, item=items["i1"], at=later)
    assert abs(with_enc - without) > 1e-3
    model_cache_clear()


def test_the_learners_level_moves_and_is_stored_between_requests(course: Course, learner) -> None:
    """Traits that move: each answer widens the learner's level μ by ``MU_DRIFT``, and the stored
    state carries it, so a new process (cache cleared) goes on from the moved level. Replaying the
    same answers in memory with the drift matches what is stored; with μ fixed it does not."""
    from dataclasses import replace

    from tracing.learner_state import item_offset, online_model, to_days
    from tracing.psikt.online import MU_DRIFT, LearnerStates, observe

    item = _items(course)["i1"]
    kc = item.kcs.get().pk
    start = timezone.now()
    answers = [(start + timedelta(minutes=5 * i), i % 3 != 0) for i in range(6)]
    for i, (at, correct) in enumerate(answers):
        model_cache_clear()  # as after a restart: only the stored state is left
        services.response_record(learner=learner, item=item, correct=correct, at=at, attempt_id=f"mv{i}")
    stored = LearnerTraits.objects.get(learner=learner, course=course)
    model, _ = online_model(course.pk, [kc])
    assert model.mu_drift == MU_DRIFT > 0.0
    replayed = {}
    for name, m in (("moving", model), ("fixed", replace(model, mu_drift=0.0))):
        st = LearnerStates.new(m, m.population_traits()[None, :])
        for at, correct in answers:
            observe(m, st, np.zeros(1, dtype=np.int64), np.array([[m.kc_index[str(kc)]]]),
                    np.array([item_offset(m, item)]), np.array([float(correct)]), np.array([to_days(at)]))
        replayed[name] = (float(st.m[0]), float(np.sqrt(st.v[0])))
    assert stored.mu_mean == pytest.approx(replayed["moving"][0], abs=1e-6)
    assert stored.mu_sd == pytest.approx(replayed["moving"][1], abs=1e-6)
    assert stored.mu_sd > replayed["fixed"][1] + 1e-4
