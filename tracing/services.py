"""The learner model's writes: the one door through which its tables change.

``response_record`` (an answer from the tutor), ``observations_import`` (logs), ``fit_run`` (SVI
over a course's observations). Reads are in ``tracing.selectors``. numpy and the model code are
imported on first use, so Django start-up never loads torch or pyro; ``fit_run`` is the only
function that imports torch.

Time is measured in days (the model's forgetting rate α is per day; ``tracing.psikt.timeunit``).
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from content.models import Course, Item, KnowledgeComponent, Prerequisite
from tracing.learner_state import (
    fit_params,
    from_days,
    item_offset,
    latest_fit,
    online_model,
    states_load,
    to_days,
    traits_arrays,
    traits_sd,
)
from tracing.models import LearnerKCState, LearnerTraits, Observation, TracingFit
from tracing.psikt.params import difficulty_offset


@dataclass(frozen=True)
class ResponseOutcome:
    attempt_id: str
    p_correct_before: float
    mastery: dict[int, float]  # KC id -> mastery probability after the answer
    created: bool  # False when the attempt_id had been recorded before


@dataclass(frozen=True)
class ImportedAnswer:
    learner_id: int
    item_ref: str
    kc_ids: Sequence[int]
    correct: bool
    at: datetime
    attempt_id: str
    item_id: int | None = None


def _natural_traits(loc: Sequence[float], sd: Sequence[float]) -> dict[str, float]:
    """Posterior mean/sd in natural units from the unconstrained Normal (log-normal α, σ; γ by the
    delta method through the sigmoid)."""

    def lognormal(m: float, s: float) -> tuple[float, float]:
        mean = math.exp(m + s * s / 2)
        return mean, mean * math.sqrt(max(math.expm1(s * s), 0.0))

    alpha = lognormal(loc[0], sd[0])
    sigma = lognormal(loc[1], sd[1])
    g = 1 / (1 + math.exp(-loc[2]))
    return {
        "alpha_mean": alpha[0],
        "alpha_sd": alpha[1],
        "sigma_mean": sigma[0],
        "sigma_sd": sigma[1],
        "gamma_mean": g,
        "gamma_sd": g * (1 - g) * sd[2],
    }


def _save_traits(
    learner_id: int,
    course_id: int,
    fit: TracingFit | None,
    loc: Sequence[float],
    sd: Sequence[float],
    mu_mean: float,
    mu_sd: float,
    encoder_state: dict[str, Any] | None = None,
) -> None:
    raw: dict[str, Any] = {"loc": [float(x) for x in loc], "sd": [float(x) for x in sd]}
    if encoder_state is not None:
        raw["encoder"] = encoder_state
    LearnerTraits.objects.update_or_create(
        learner_id=learner_id,
        course_id=course_id,
        defaults={
            "fit": fit,
            "mu_mean": float(mu_mean),
            "mu_sd": float(mu_sd),
            "raw": raw,
            **_natural_traits(loc, sd),
        },
    )


# ---------------------------------------------------------------------------------------------
# Writes


def response_record(
    *, learner: Any, item: Item, correct: bool, at: datetime, attempt_id: str, mastery_threshold: float | None = None
) -> ResponseOutcome:
    """Record one answer and update the learner's state for the item's KCs, in one transaction.
    ``mastery_after`` is stored as the probability of p(correct) at least ``mastery_threshold`` (the
    course's threshold for this learner; the model's default when None).

    Idempotent on ``attempt_id``: a repeat returns the stored outcome and changes nothing.
    """
    import numpy as np

    from tracing.psikt.online import MASTERY_P_CORRECT, forecast, observe

    existing = Observation.objects.filter(attempt_id=attempt_id).first()
    if existing is not None:
        return _stored_outcome(existing)
    kc_ids = sorted(item.kcs.values_list("id", flat=True))
    model, fit = online_model(item.course_id, kc_ids)
    try:
        with transaction.atomic():
            loaded = states_load(model, course_id=item.course_id, learner_ids=[learner.pk], lock=True)
            st, traits_row = loaded.states, loaded.traits.get(learner.pk)
            # Re-check under the lock: a concurrent request may have recorded this attempt.
            again = Observation.objects.filter(attempt_id=attempt_id).first()
            if again is not None:
                return _stored_outcome(again)
            kcs = np.array([[model.kc_index[str(k)] for k in kc_ids] or [model.n_kcs]], dtype=np.int64)
            t = to_days(at)
            # Clock skew: an answer stamped before the KC's last practice is filtered at that time.
            t = max([t, *(float(st.tlast[0, k]) for k in kcs[0] if k < model.n_kcs and st.seen[0, k])])
            p_before = float(
                observe(
                    model,
                    st,
                    np.zeros(1, dtype=np.int64),
                    kcs,
                    np.array([item_offset(model, item)]),
                    np.array([1.0 if correct else 0.0]),
                    np.array([t]),
                )[0]
            )
            touched = [k for k in kcs[0] if k < model.n_kcs]
            fc = forecast(model, st, 0, np.array(touched, dtype=np.int64), t,
                          mastery_p=mastery_threshold or MASTERY_P_CORRECT) if touched else None
            mastery = {int(kc_ids[i]): float(fc.mastery[i]) for i in range(len(touched))} if fc else {}
            Observation.objects.create(
                learner=learner,
                course_id=item.course_id,
                item=item,
                item_ref=str(item.pk),
                kcs=kc_ids,
                correct=bool(correct),
                at=at,
                attempt_id=attempt_id,
                source=Observation.Source.TUTOR,
                p_correct_before=p_before,
                mastery_after={str(k): v for k, v in mastery.items()},
            )
            practised = from_days(t)
            for i, k in enumerate(touched):
                assert fc is not None
                LearnerKCState.objects.update_or_create(
                    learner=learner,
                    kc_id=kc_ids[i],
                    defaults={
                        "mean": float(fc.mean[i]),
                        "var": float(fc.sd[i] ** 2),
                        "beta": float(st.beta[0, k]),
                        "rho": float(st.rho[0, k]),
                        "eps": float(st.eps[0, k]),
                        "practised_at": practised,
                    },
                )
            loc, _, _ = traits_arrays(traits_row, model, learner.pk)
            _save_traits(
                learner.pk,
                item.course_id,
                fit if traits_row is None else traits_row.fit,
                [float(x) for x in loc],
                traits_sd(traits_row, model, learner.pk),
                float(st.m[0]),
                math.sqrt(float(st.v[0])),
                st.encoder_state(0),
            )
    except IntegrityError:
        # Lost a race on the unique attempt_id: the other request's outcome is the answer.
        return _stored_outcome(Observation.objects.get(attempt_id=attempt_id))
    return ResponseOutcome(attempt_id, p_before, mastery, created=True)


def _stored_outcome(obs: Observation) -> ResponseOutcome:
    return ResponseOutcome(
        attempt_id=obs.attempt_id,
        p_correct_before=float(obs.p_correct_before) if obs.p_correct_before is not None else float("nan"),
        mastery={int(k): float(v) for k, v in (obs.mastery_after or {}).items()},
        created=False,
    )


def observations_import(*, course: Course, answers: Iterable[ImportedAnswer], batch_size: int = 2000) -> int:
    """Bulk-write imported answers (no online update; run ``fit_run`` afterwards). Returns how many
    were new; answers whose ``attempt_id`` exists are skipped."""
    created = 0
    batch: list[Observation] = []

    def flush() -> int:
        ids = [o.attempt_id for o in batch]
        known = set(Observation.objects.filter(attempt_id__in=ids).values_list("attempt_id", flat=True))
        fresh = [o for o in batch if o.attempt_id not in known]
        Observation.objects.bulk_create(fresh, ignore_conflicts=True)
        batch.clear()
        return len(fresh)

    for a in answers:
        batch.append(
            Observation(
                learner_id=a.learner_id,
                course=course,
                item_id=a.item_id,
                item_ref=a.item_ref,
                kcs=list(a.kc_ids),
                correct=a.correct,
                at=a.at,
                attempt_id=a.attempt_id,
                source=Observation.Source.IMPORT,
            )
        )
        if len(batch) >= batch_size:
            created += flush()
    if batch:
        created += flush()
    return created


def fit_run(
    *,
    course: Course,
    steps: int = 500,
    progress: Callable[[int, int, float], None] | None = None,
    max_seconds: float | None = None,
    encoder_progress: Callable[[int, int, float, float], None] | None = None,
) -> TracingFit:
    """Fit the course's learner model on all its observations (warm-started from the latest fit),
    then replay every learner's history so their stored states match the new parameters."""
    from tracing.psikt.data import DatasetBuilder
    from tracing.psikt.fit import FitConfig, fit

    kc_ids = list(KnowledgeComponent.objects.filter(course=course).values_list("id", flat=True))
    items = {i.pk: i for i in Item.objects.filter(course=course).only("id", "difficulty")}
    builder = DatasetBuilder(kcs=[str(k) for k in kc_ids], items=[str(i) for i in items], time_unit="day")
    n_obs = 0
    for learner_id, item_id, item_ref, kcs, correct, at in Observation.objects.filter(course=course).values_list(
        "learner_id", "item_id", "item_ref", "kcs", "correct", "at"
    ):
        key = str(item_id) if item_id is not None else f"ref:{item_ref}"
        builder.add(str(learner_id), key, [str(k) for k in kcs], correct, to_days(at))
        n_obs += 1
    if n_obs == 0:
        raise ValueError(f"course {course.slug!r} has no observations to fit")
    dataset = builder.build()
    prior_edges = [
        (str(j), str(k), float(s))
        for j, k, s in Prerequisite.objects.filter(dependent__course=course).values_list(
            "prerequisite_id", "dependent_id", "strength"
        )
    ]
    item_prior = {str(pk): difficulty_offset(i.difficulty) for pk, i in items.items()}
    previous = latest_fit(course.pk)
    warm = fit_params(previous) if previous is not None else None
    with transaction.atomic():
        version = (TracingFit.objects.filter(course=course).aggregate(v=Max("version"))["v"] or 0) + 1
        record = TracingFit.objects.create(course=course, version=version, n_observations=n_obs)
    started = time.perf_counter()
    try:
        result = fit(
            dataset,
            prior_edges=prior_edges,
            item_prior=item_prior,
            config=FitConfig(steps=steps, max_seconds=max_seconds),
            warm_start=warm,
            progress=progress,
            encoder_progress=encoder_progress,
        )
        record.params = result.params.to_dict()
        record.metrics = {
            "final_loss_per_answer": result.losses[-1] if result.losses else None,
            "mean_loss_last_10pct": (
                sum(result.losses[-max(1, len(result.losses) // 10) :]) / max(1, len(result.losses) // 10)
                if result.losses
                else None
            ),
            "steps": result.steps,
            "warm_start_version": previous.version if previous else None,
            "n_learners": len(dataset.seqs),
            "population": result.params.population,
            "encoder": result.encoder,
        }
        record.status = TracingFit.Status.DONE
        record.seconds = time.perf_counter() - started
        with transaction.atomic():
            record.save()
            _replay(record, result.params, dataset)
    except Exception:
        record.status = TracingFit.Status.FAILED
        record.seconds = time.perf_counter() - started
        record.save(update_fields=["status", "seconds"])
        raise
    return record


def _replay(record: TracingFit, params: Any, dataset: Any) -> None:
    """Refilter each learner's history with the new fit and store the end states."""
    import numpy as np

    from tracing.psikt.online import LearnerStates, OnlineModel, observe

    model = OnlineModel.from_params(params)
    for seq in dataset.seqs:
        learner_key = dataset.learners[seq.learner]
        st = LearnerStates.new(model, model.traits_of(learner_key)[None, :])
        row = np.zeros(1, dtype=np.int64)
        kcs = np.where(seq.kcs >= 0, seq.kcs, model.n_kcs)
        for t in range(len(seq)):
            observe(
                model,
                st,
                row,
                kcs[t][None, :],
                model.item_offset[seq.items[t]][None],
                seq.correct[t][None].astype(float),
                seq.times[t][None],
            )
        learner_id = int(learner_key)
        touched = np.nonzero(st.seen[0, : model.n_kcs])[0]
        LearnerKCState.objects.filter(learner_id=learner_id, kc__course_id=record.course_id).delete()
        states = []
        for k in touched:
            mean = st.beta[0, k] * st.m[0] + st.rho[0, k]
            var = st.beta[0, k] ** 2 * st.v[0] + st.eps[0, k]
            states.append(
                LearnerKCState(
                    learner_id=learner_id,
                    kc_id=int(model.kcs[k]),
                    mean=float(mean),
                    var=float(var),
                    beta=float(st.beta[0, k]),
                    rho=float(st.rho[0, k]),
                    eps=float(st.eps[0, k]),
                    practised_at=from_days(float(st.tlast[0, k])),
                )
            )
        LearnerKCState.objects.bulk_create(states)
        idx = model.learner_index[learner_key]
        _save_traits(
            learner_id,
            record.course_id,
            record,
            [float(x) for x in model.learner_loc[idx]],
            [float(x) for x in model.learner_sd[idx]],
            float(st.m[0]),
            math.sqrt(float(st.v[0])),
            st.encoder_state(0),
        )


__all__ = [
    "ImportedAnswer",
    "ResponseOutcome",
    "fit_run",
    "observations_import",
    "response_record",
]
