"""What ``tracing.services`` (writes) and ``tracing.selectors`` (reads) share: the fitted model of
each course, cached per process, and learners' filter states loaded from their rows.

Internal to the tracing app: other apps go through the services and selectors. numpy and the model
code are imported on first use, so Django start-up never loads them.
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import FloatField, Func
from django.utils import timezone

from content.models import Item
from tracing.models import LearnerKCState, LearnerTraits, TracingFit
from tracing.psikt.params import difficulty_offset
from tracing.psikt.timeunit import SECONDS_PER_DAY, datetime_from_days, days_from_datetime

if TYPE_CHECKING:
    from tracing.psikt.online import LearnerStates, OnlineModel
    from tracing.psikt.params import PsiktParams


def to_days(at: datetime) -> float:
    """A datetime on the model's clock (days since the Unix epoch)."""
    return days_from_datetime(at)


def from_days(days: float) -> datetime:
    """A time on the model's clock as an aware datetime in the current time zone."""
    return datetime_from_days(days, timezone.get_current_timezone())


class EpochDays(Func):
    """A datetime column as days since the Unix epoch (a float), computed by the database."""

    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # julianday() counts days already; 2440587.5 is the Unix epoch's Julian day.
        return self.as_sql(compiler, connection, template="(julianday(%(expressions)s) - 2440587.5)", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = f"CAST(EXTRACT(EPOCH FROM %(expressions)s) / {SECONDS_PER_DAY!r} AS double precision)"
        return self.as_sql(compiler, connection, template=template, **extra)

    @property
    def convert_value(self) -> Any:
        # Both databases already return a float; skipping the per-row converter matters at 10,000 rows.
        return self._convert_value_noop  # type: ignore[attr-defined]

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        if "template" not in extra and connection.vendor not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"EpochDays has no SQL for {connection.vendor}")
        return super().as_sql(compiler, connection, **extra)


# ---------------------------------------------------------------------------------------------
# Fitted model cache: one OnlineModel per (course, fit version, KC set) per process.


@dataclass
class _Cached:
    fit_id: int | None
    model: OnlineModel


_cache: dict[tuple[int, int | None], _Cached] = {}
_cache_lock = threading.Lock()


def model_cache_clear() -> None:
    """Forget every cached model (a fit's parameters were changed in place, e.g. by a test)."""
    with _cache_lock:
        _cache.clear()


def latest_fit(course_id: int) -> TracingFit | None:
    return (
        TracingFit.objects.filter(course_id=course_id, status=TracingFit.Status.DONE)
        .order_by("-version")
        .only("id", "version")
        .first()
    )


def fit_params(fit: TracingFit) -> PsiktParams:
    """The fit's parameters (read on their own: the blob can be megabytes)."""
    from tracing.psikt.params import PsiktParams

    return PsiktParams.from_dict(TracingFit.objects.values_list("params", flat=True).get(pk=fit.pk))


def online_model(course_id: int, kc_ids: Iterable[int] = ()) -> tuple[OnlineModel, TracingFit | None]:
    """The course's latest fitted model (the population prior before any fit), extended by any KC
    of ``kc_ids`` the fit has not seen; and that fit."""
    from tracing.psikt.online import OnlineModel

    fit = latest_fit(course_id)
    key = (course_id, fit.id if fit else None)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        model = OnlineModel.default() if fit is None else OnlineModel.from_params(fit_params(fit))
        cached = _Cached(fit.id if fit else None, model)
        with _cache_lock:
            # Drop older fits of this course so the cache holds one model per course.
            for old in [k for k in _cache if k[0] == course_id]:
                del _cache[old]
            _cache[key] = cached
    model = cached.model.with_kcs([str(k) for k in kc_ids])
    if model is not cached.model:
        with _cache_lock:
            cached.model = model
    return model, fit


def item_offset(model: OnlineModel, item: Item) -> float:
    """The item's offset: fitted when the fit saw it, else the prior from its difficulty."""
    idx = model.item_index.get(str(item.pk))
    return float(model.item_offset[idx]) if idx is not None else difficulty_offset(item.difficulty)


# ---------------------------------------------------------------------------------------------
# Learner states <-> rows


def traits_arrays(row: LearnerTraits | None, model: OnlineModel, learner_id: int) -> tuple[Any, float, float]:
    """Unconstrained traits (log α, log σ, logit γ) and μ's mean and sd: the stored ones, else the
    fit's posterior for this learner, else the population's."""
    import numpy as np

    if row is not None and row.raw.get("loc") is not None:
        return np.asarray(row.raw["loc"], dtype=float), row.mu_mean, row.mu_sd
    return model.traits_of(str(learner_id)), model.population["mu_loc"], model.population["mu_scale"]


def traits_sd(row: LearnerTraits | None, model: OnlineModel, learner_id: int) -> list[float]:
    """Posterior sd of the unconstrained traits: the stored ones, else the fit's for this learner,
    else the population's scales."""
    stored = row.raw.get("sd") if row is not None else None
    if stored:
        return [float(x) for x in stored]
    idx = model.learner_index.get(str(learner_id))
    if idx is not None:
        return [float(x) for x in model.learner_sd[idx]]
    p = model.population
    return [p["log_alpha_scale"], p["log_sigma_scale"], p["logit_gamma_scale"]]


@dataclass
class LoadedStates:
    """Filter states of some learners, row ``i`` of ``states`` being ``learner_ids[i]``."""

    states: LearnerStates
    learner_ids: list[int]
    traits: dict[int, LearnerTraits]  # learner id -> their stored traits row (learners with one)
    # learner id -> {KC id: time of the last answer, in days}: every stored KC state of the course,
    # including KCs the model does not know.
    practised: dict[int, dict[int, float]] = field(default_factory=dict)


def states_load(
    model: OnlineModel,
    *,
    course_id: int,
    learner_ids: Sequence[int],
    lock: bool = False,
    days_from_db: bool = False,
) -> LoadedStates:
    """Every learner's filter state from their traits and KC-state rows (two queries).

    ``lock`` takes the traits rows ``select_for_update`` (a write's read). ``days_from_db`` has the
    database turn the times of last practice into days: for a class of learners, turning thousands
    of rows into aware datetimes costs more than the forecasts; the two ways differ by under a
    millisecond (SQLite's julianday), so a write, which stores a time derived from them, converts
    them exactly here instead."""
    import numpy as np

    from tracing.psikt.online import LearnerStates

    learner_ids = list(learner_ids)
    row_of = {learner_id: i for i, learner_id in enumerate(learner_ids)}
    traits_qs = LearnerTraits.objects.filter(learner_id__in=learner_ids, course_id=course_id)
    if lock:
        # Serialises concurrent answers of one learner: each update reads the state the previous
        # one wrote.
        traits_qs = traits_qs.select_for_update()
    traits = {row.learner_id: row for row in traits_qs}
    n = len(learner_ids)
    loc = np.empty((n, 3))
    mu_mean = np.empty(n)
    mu_sd = np.empty(n)
    for learner_id, i in row_of.items():
        loc[i], mu_mean[i], mu_sd[i] = traits_arrays(traits.get(learner_id), model, learner_id)
    st = LearnerStates.new(model, loc, mu_mean, mu_sd)
    for learner_id, row in traits.items():
        st.set_encoder_state(row_of[learner_id], row.raw.get("encoder"))
    kc_rows = LearnerKCState.objects.filter(learner_id__in=learner_ids, kc__course_id=course_id)
    fields = ("learner_id", "kc_id", "beta", "rho", "eps")
    if days_from_db:
        rows: Iterable[tuple[int, int, float, float, float, float]] = kc_rows.annotate(
            days=EpochDays("practised_at")
        ).values_list(*fields, "days")
    else:
        rows = (
            (learner_id, kc_id, beta, rho, eps, to_days(practised_at))
            for learner_id, kc_id, beta, rho, eps, practised_at in kc_rows.values_list(*fields, "practised_at")
        )
    loaded = LoadedStates(st, learner_ids, traits)
    for learner_id, kc_id, beta, rho, eps, days in rows:
        loaded.practised.setdefault(learner_id, {})[kc_id] = days
        k = model.kc_index.get(str(kc_id))
        if k is None:
            continue
        i = row_of[learner_id]
        st.beta[i, k] = beta
        st.rho[i, k] = rho
        st.eps[i, k] = eps
        st.tlast[i, k] = days
        st.seen[i, k] = True
    return loaded
