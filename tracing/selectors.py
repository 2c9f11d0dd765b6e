"""The learner model's reads: the one door through which other apps read its tables, bulk reads
included (writes are ``tracing.services``).

Predictions come from the course's cached fitted model and the numpy filter
(``tracing.psikt.online``) that the writes use, so a page shows what the filter believes:
``mastery_predict`` for one learner, ``mastery_bulk`` for a class (equal to it learner by learner),
``item_predict`` for one item. The other functions hand out stored rows, shaped for their callers:
last practice times, answer counts, mastery after each answer, traits, and querysets of observations
and KC states for the research API. numpy and the model code are imported on first use.

Time is measured in days on the model's side (``tracing.psikt.timeunit``); callers pass datetimes.
"""

# ruff: noqa: RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from content.models import Course, Item, KnowledgeComponent, Prerequisite
from tracing.learner_state import (
    fit_params,
    item_offset,
    latest_fit,
    online_model,
    states_load,
    to_days,
    traits_arrays,
    traits_sd,
)
from tracing.models import LearnerKCState, LearnerTraits, Observation

# ---------------------------------------------------------------------------------------------
# Predictions


@dataclass(frozen=True)
class KCPrediction:
    p_correct: float  # a typical item of the KC
    p_correct_sd: float
    mastery: float  # P(state above the mastery threshold)
    mean: float  # state (logit scale)
    sd: float


def mastery_predict(
    *, learner: Any, course: Course, kcs: Iterable[int] | None = None, at: datetime | None = None,
    mastery_threshold: float | None = None,
) -> dict[int, KCPrediction]:
    """Per-KC predictions (KC id -> prediction; every KC of the course unless ``kcs`` names some)
    now or at any later time ``at`` (the forgetting curve). ``mastery`` is the probability that a
    typical item's p(correct) is at least ``mastery_threshold`` (pass the course's threshold)."""
    import numpy as np

    from tracing.psikt.online import MASTERY_P_CORRECT, forecast

    kc_ids = (
        list(kcs)
        if kcs is not None
        else list(KnowledgeComponent.objects.filter(course=course).values_list("id", flat=True))
    )
    if not kc_ids:
        return {}
    model, _ = online_model(course.pk, kc_ids)
    st = states_load(model, course_id=course.pk, learner_ids=[learner.pk]).states
    idx = np.array([model.kc_index[str(k)] for k in kc_ids], dtype=np.int64)
    fc = forecast(model, st, 0, idx, to_days(at or timezone.now()), mastery_p=mastery_threshold or MASTERY_P_CORRECT)
    return {
        int(k): KCPrediction(
            p_correct=float(fc.p_correct[i]),
            p_correct_sd=float(fc.p_correct_sd[i]),
            mastery=float(fc.mastery[i]),
            mean=float(fc.mean[i]),
            sd=float(fc.sd[i]),
        )
        for i, k in enumerate(kc_ids)
    }


@dataclass
class BulkPrediction:
    kc_ids: list[int]
    # {time: {learner id: [value per KC, in kc_ids order]}}
    p_correct: dict[datetime, dict[int, list[float]]]
    p_correct_sd: dict[datetime, dict[int, list[float]]]
    mastery: dict[datetime, dict[int, list[float]]]
    mean: dict[datetime, dict[int, list[float]]]
    sd: dict[datetime, dict[int, list[float]]]
    # learner id -> {KC id: when last answered, in days since the epoch} (KCs with a stored state;
    # learners with none are absent)
    practised: dict[int, dict[int, float]]

    def get(self, at: datetime, learner_id: int, kc_id: int) -> KCPrediction:
        j = self.kc_ids.index(kc_id)
        return KCPrediction(
            self.p_correct[at][learner_id][j],
            self.p_correct_sd[at][learner_id][j],
            self.mastery[at][learner_id][j],
            self.mean[at][learner_id][j],
            self.sd[at][learner_id][j],
        )

    def practised_before(self, learner_id: int, at: datetime) -> set[int]:
        """The KCs this learner last answered at or before ``at``."""
        cutoff = to_days(at)
        return {kc for kc, days in self.practised.get(learner_id, {}).items() if days <= cutoff}


def mastery_bulk(
    *, course: Course, learner_ids: Sequence[int], kc_ids: Sequence[int], at: Sequence[datetime],
    mastery_threshold: float | None = None,
) -> BulkPrediction:
    """Predictions for many learners at many times: two queries (traits and KC states) whatever the
    class size, then the filter's forecast for every learner at once per time
    (``tracing.psikt.online.forecast_learners``). Equal to :func:`mastery_predict` for each learner;
    plain lists, because a class is thousands of cells and objects per cell would cost more than the
    forecasts."""
    import numpy as np

    from tracing.psikt.online import MASTERY_P_CORRECT, forecast_learners

    def per_time() -> dict[datetime, dict[int, list[float]]]:
        return {t: {} for t in at}

    out = BulkPrediction(list(kc_ids), per_time(), per_time(), per_time(), per_time(), per_time(), {})
    if not learner_ids or not kc_ids:
        return out
    model, _ = online_model(course.pk, kc_ids)
    loaded = states_load(model, course_id=course.pk, learner_ids=learner_ids, days_from_db=True)
    out.practised = loaded.practised
    idx = np.array([model.kc_index[str(k)] for k in kc_ids], dtype=np.int64)
    for t in at:
        fc = forecast_learners(model, loaded.states, idx, to_days(t), mastery_p=mastery_threshold or MASTERY_P_CORRECT)
        for i, learner_id in enumerate(loaded.learner_ids):
            out.p_correct[t][learner_id] = fc.p_correct[i].tolist()
            out.p_correct_sd[t][learner_id] = fc.p_correct_sd[i].tolist()
            out.mastery[t][learner_id] = fc.mastery[i].tolist()
            out.mean[t][learner_id] = fc.mean[i].tolist()
            out.sd[t][learner_id] = fc.sd[i].tolist()
    return out


def item_predict(*, learner: Any, item: Item, at: datetime | None = None) -> float:
    """p(correct) for ``item`` now or at ``at``."""
    import numpy as np

    from tracing.psikt.online import answer_moments, p_correct

    kc_ids = sorted(item.kcs.values_list("id", flat=True))
    model, _ = online_model(item.course_id, kc_ids)
    st = states_load(model, course_id=item.course_id, learner_ids=[learner.pk]).states
    kcs = np.array([[model.kc_index[str(k)] for k in kc_ids] or [model.n_kcs]], dtype=np.int64)
    mx, vx = answer_moments(
        model,
        st,
        np.zeros(1, dtype=np.int64),
        kcs,
        np.array([item_offset(model, item)]),
        np.array([to_days(at or timezone.now())]),
    )
    return float(p_correct(mx, vx)[0])


def item_offsets(*, course: Course, items: Iterable[Item]) -> dict[int, float]:
    """Item id -> the offset (logits) the filter uses for it: learned by the latest fit when the fit
    saw the item, else the prior from its authored difficulty (``psikt.params.difficulty_offset``)."""
    model, _ = online_model(course.pk)
    return {item.pk: item_offset(model, item) for item in items}


# ---------------------------------------------------------------------------------------------
# The fit


@dataclass(frozen=True)
class LearnedEdge:
    prerequisite: int  # KC id
    dependent: int  # KC id
    strength: float  # learned, in (0, 1)
    teacher_strength: float | None  # the authored edge's strength, None if not drawn


def learned_edges(*, course: Course, min_strength: float = 0.1) -> list[LearnedEdge]:
    """Prerequisite strengths learned by the latest fit, strongest first (empty before any fit)."""
    fit = latest_fit(course.pk)
    if fit is None:
        return []
    params = fit_params(fit)
    teacher = {
        (j, k): s
        for j, k, s in Prerequisite.objects.filter(dependent__course=course).values_list(
            "prerequisite_id", "dependent_id", "strength"
        )
    }
    return [
        LearnedEdge(int(j), int(k), s, teacher.get((int(j), int(k)))) for j, k, s in params.learned_edges(min_strength)
    ]


@dataclass(frozen=True)
class TraitsEstimate:
    """One learner's traits as the filter uses them, on the model's unconstrained scale, beside the
    population they are drawn from (to say how unusual they are)."""

    loc: tuple[float, float, float]  # posterior mean of (log α, log σ, logit γ)
    sd: tuple[float, float, float]  # their posterior sd
    mu_mean: float  # long-term level μ (logit scale), refined by every answer
    mu_sd: float
    # The fit's population (the prior's before any fit): ``mu_loc``, ``mu_scale`` and
    # ``<trait>_loc``/``<trait>_scale`` for log_alpha, log_sigma and logit_gamma.
    population: dict[str, float]
    stored: bool  # False: nothing is stored for this learner yet, the figures are the population's


def traits_for_learner(*, course: Course, learner: Any) -> TraitsEstimate:
    """The learner's traits in the course: those stored with their state, else the latest fit's
    posterior for them, else the population's."""
    model, _ = online_model(course.pk)
    row = LearnerTraits.objects.filter(course=course, learner=learner).first()
    loc, mu_mean, mu_sd = traits_arrays(row, model, learner.pk)
    sd = traits_sd(row, model, learner.pk)
    return TraitsEstimate(
        loc=(float(loc[0]), float(loc[1]), float(loc[2])),
        sd=(float(sd[0]), float(sd[1]), float(sd[2])),
        mu_mean=float(mu_mean),
        mu_sd=float(mu_sd),
        population=dict(model.population),
        stored=row is not None and row.raw.get("loc") is not None,
    )


# ---------------------------------------------------------------------------------------------
# Stored rows


def kc_practice_times(*, learner: Any, course: Course, kc_ids: Iterable[int] | None = None) -> dict[int, datetime]:
    """KC id -> when the learner last answered on it, for the course's KCs they have practised (only
    those of ``kc_ids`` when given)."""
    rows = LearnerKCState.objects.filter(learner=learner, kc__course=course)
    if kc_ids is not None:
        rows = rows.filter(kc_id__in=list(kc_ids))
    return dict(rows.values_list("kc_id", "practised_at"))


def kc_answer_counts(*, learner: Any, course: Course) -> dict[int, int]:
    """KC id -> how many of the learner's answers in the course were on it (tutor and imported)."""
    counts: Counter[int] = Counter()
    for kc_list in Observation.objects.filter(learner=learner, course=course).values_list("kcs", flat=True):
        counts.update(int(k) for k in kc_list or () if str(k).isdigit())
    return dict(counts)


def mastery_after_answers(*, learner: Any, course: Course) -> dict[int, list[tuple[datetime, float]]]:
    """KC id -> (time, mastery) after each of the learner's tutor answers on it, in time order (the
    outcome stored when the answer was recorded; imported answers carry none)."""
    history: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    rows = Observation.objects.filter(course=course, learner=learner).order_by("at", "id")
    for at, mastery_after in rows.values_list("at", "mastery_after"):
        for kc, value in (mastery_after or {}).items():
            history[int(kc)].append((at, float(value)))
    return dict(history)


def observations_for_course(*, course: Course, learners: Iterable[Any] | None = None) -> QuerySet[Observation]:
    """The course's answers (the model's training data) of ``learners`` (users, ids or a queryset of
    either; everyone when None), each with its item (``select_related``), in time order."""
    rows = Observation.objects.filter(course=course)
    if learners is not None:
        rows = rows.filter(learner__in=learners)
    return rows.select_related("item")


def kc_states_for_course(*, course: Course, learners: Iterable[Any] | None = None) -> QuerySet[LearnerKCState]:
    """The stored state of each (learner, KC of the course) of ``learners`` (users, ids or a queryset
    of either; everyone when None), each with its KC (``select_related``)."""
    rows = LearnerKCState.objects.filter(kc__course=course)
    if learners is not None:
        rows = rows.filter(learner__in=learners)
    return rows.select_related("kc")


__all__ = [
    "BulkPrediction",
    "KCPrediction",
    "LearnedEdge",
    "TraitsEstimate",
    "item_offsets",
    "item_predict",
    "kc_answer_counts",
    "kc_practice_times",
    "kc_states_for_course",
    "learned_edges",
    "mastery_after_answers",
    "mastery_bulk",
    "mastery_predict",
    "observations_for_course",
    "traits_for_learner",
]
