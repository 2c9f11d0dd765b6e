"""The online Gaussian filter and predictions, in numpy: a tutor request never runs SVI.

The math is the same as :func:`tracing.psikt.model.run_filter` (exact OU advance of the touched KCs,
then an assumed-density probit update of the one-factor Gaussian over ability ``μ`` and KC states),
written over arrays of learners so the benchmark filters thousands of learners at once and a
request filters one. Traits (α, σ, γ), item offsets and edges are held at the last fit; a learner or
item the fit has not seen starts from the population. The learner's level μ is learned from every
answer and, unlike in the fit, drifts between answers (``MU_DRIFT``): a trait that moves.

Mastery of a KC is ``P(z_k + b̄_k > θ)``: the probability that a typical item of the KC (mean
offset ``b̄_k`` of its items) is answered correctly with probability at least
``MASTERY_P_CORRECT`` = 0.7, i.e. ``θ = logit(0.7) ≈ 0.85``. 0.7 rather than 0.5 so that "mastered"
means reliably right, not a coin flip; callers may pass another level.
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracing.psikt.encoder import Encoder, decay
from tracing.psikt.normal import log_ndtr, ndtr
from tracing.psikt.params import N_GAINS, PROBIT_C, PopulationPrior, PsiktParams

MASTERY_P_CORRECT = 0.7
MIN_VAR = 1e-6
# Traits that move: variance added to a learner's level μ after each answer, so the level is a
# random walk (sd 0.017 per answer, 0.17 over 100 answers) rather than a constant known better with
# every answer. On held-out learners (ASSISTments 2017, three splits; ASSISTments 2015's test set)
# it lowered the log-loss on every set; 0.001 did on three of four. docs/learner-model-scale.md,
# "Traits that move".
MU_DRIFT = 0.0003


@dataclass
class OnlineModel:
    """Fitted (or default) parameters laid out for fast lookups. Build once per fit and reuse."""

    kcs: list[str]
    kc_index: dict[str, int]
    item_index: dict[str, int]
    item_offset: np.ndarray  # [I]
    item_kcs: list[list[int]]
    kc_offset: np.ndarray  # [K+1] mean offset of each KC's items (0 without items); dummy last
    pre_index: np.ndarray  # [K+1, D] candidate prerequisites, dummy K as padding
    pre_weight: np.ndarray  # [K+1, D] their strengths, 0 on padding
    population: dict[str, float]
    learner_index: dict[str, int]
    learner_loc: np.ndarray  # [N, 3]
    learner_sd: np.ndarray  # [N, 3]
    mu_mean: np.ndarray  # [N]
    mu_sd: np.ndarray  # [N]
    # [K+1, 2] practice gains of each KC (columns as params.GAIN_NAMES), dummy row last; None: no
    # learning from practice (a model built by hand, or a fit that predates it).
    kc_gain: np.ndarray | None = None
    # Learned correction of the predicted answer logit (``tracing.psikt.encoder``); None: the filter alone.
    encoder: Encoder | None = None
    # Traits that move: variance added to the learner's level μ after each answer (observed or
    # practised), so μ is a random walk between interactions rather than a constant. 0: μ is fixed
    # per learner and only learned, as in the fit's model (``model.run_filter``).
    # ``python -m tracing.benchmarks --mu-drift`` measures it on held-out learners.
    mu_drift: float = MU_DRIFT

    @property
    def n_kcs(self) -> int:
        return len(self.kcs)

    def __post_init__(self) -> None:
        if self.kc_gain is None:
            self.kc_gain = np.zeros((self.n_kcs + 1, N_GAINS))

    def gain_table(self) -> np.ndarray:
        """``[K+1, 2]`` practice gains, zeros where none were fitted."""
        assert self.kc_gain is not None  # set in __post_init__
        return self.kc_gain

    @classmethod
    def from_params(cls, params: PsiktParams) -> OnlineModel:
        n_kcs = len(params.kcs)
        pre_index = np.where(params.edge_index >= 0, params.edge_index, n_kcs)
        weight = np.where(params.edge_index >= 0, 1.0 / (1.0 + np.exp(-params.edge_logit)), 0.0)
        width = max(pre_index.shape[1] if pre_index.ndim == 2 else 0, 1)
        pre_index = np.vstack([pre_index.reshape(n_kcs, -1), np.full((1, width), n_kcs)])[:, :width]
        weight = np.vstack([weight.reshape(n_kcs, -1), np.zeros((1, width))])[:, :width]
        kc_sum = np.zeros(n_kcs + 1)
        kc_count = np.zeros(n_kcs + 1)
        for i, kcs in enumerate(params.item_kcs):
            for k in kcs:
                kc_sum[k] += params.item_offset[i]
                kc_count[k] += 1
        return cls(
            kcs=list(params.kcs),
            kc_index=params.index("kcs"),
            item_index=params.index("items"),
            item_offset=params.item_offset,
            item_kcs=params.item_kcs,
            kc_offset=np.where(kc_count > 0, kc_sum / np.maximum(kc_count, 1), 0.0),
            pre_index=pre_index.astype(np.int64),
            pre_weight=weight,
            population=dict(params.population),
            learner_index=params.index("learners"),
            learner_loc=params.learner_loc,
            learner_sd=params.learner_sd,
            mu_mean=params.mu_mean,
            mu_sd=params.mu_sd,
            kc_gain=np.vstack([params.gains(), np.zeros((1, N_GAINS))]),
            encoder=Encoder.from_dict(params.encoder) if params.encoder else None,
        )

    @classmethod
    def default(cls, kcs: Sequence[str] = (), prior: PopulationPrior | None = None) -> OnlineModel:
        """Cold start: no fit yet, population prior means, no learned edges."""
        prior = prior or PopulationPrior(log_alpha_loc=math.log(math.log(2.0) / 7.0))
        population = {
            "mu_loc": prior.mu_loc,
            "mu_scale": prior.mu_scale,
            "item_scale": prior.item_scale,
            "log_alpha_loc": prior.log_alpha_loc,
            "log_sigma_loc": prior.log_sigma_loc,
            "logit_gamma_loc": prior.logit_gamma_loc,
            "log_alpha_scale": prior.trait_scale,
            "log_sigma_scale": prior.trait_scale,
            "logit_gamma_scale": prior.trait_scale,
        }
        n_kcs = len(kcs)
        return cls(
            kcs=list(kcs),
            kc_index={k: i for i, k in enumerate(kcs)},
            item_index={},
            item_offset=np.zeros(0),
            item_kcs=[],
            kc_offset=np.zeros(n_kcs + 1),
            pre_index=np.full((n_kcs + 1, 1), n_kcs, dtype=np.int64),
            pre_weight=np.zeros((n_kcs + 1, 1)),
            population=population,
            learner_index={},
            learner_loc=np.zeros((0, 3)),
            learner_sd=np.zeros((0, 3)),
            mu_mean=np.zeros(0),
            mu_sd=np.zeros(0),
        )

    def with_kcs(self, keys: Sequence[str]) -> OnlineModel:
        """This model plus KCs the fit has not seen (no learned edges, no item offsets yet)."""
        extra = [k for k in dict.fromkeys(keys) if k not in self.kc_index]
        if not extra:
            return self
        old, new = self.n_kcs, self.n_kcs + len(extra)
        pre_index = np.where(self.pre_index[:old] == old, new, self.pre_index[:old])
        width = pre_index.shape[1]
        kcs = [*self.kcs, *extra]
        return OnlineModel(
            kcs=kcs,
            kc_index={k: i for i, k in enumerate(kcs)},
            item_index=self.item_index,
            item_offset=self.item_offset,
            item_kcs=self.item_kcs,
            kc_offset=np.concatenate([self.kc_offset[:old], np.zeros(len(extra) + 1)]),
            pre_index=np.vstack([pre_index, np.full((len(extra) + 1, width), new)]),
            pre_weight=np.vstack([self.pre_weight[:old], np.zeros((len(extra) + 1, width))]),
            population=self.population,
            learner_index=self.learner_index,
            learner_loc=self.learner_loc,
            learner_sd=self.learner_sd,
            mu_mean=self.mu_mean,
            mu_sd=self.mu_sd,
            kc_gain=np.vstack([self.gain_table()[:old], np.zeros((len(extra) + 1, N_GAINS))]),
            encoder=self.encoder,
            mu_drift=self.mu_drift,
        )

    def population_traits(self) -> np.ndarray:
        p = self.population
        return np.array([p["log_alpha_loc"], p["log_sigma_loc"], p["logit_gamma_loc"]])

    def traits_of(self, learner: str | None) -> np.ndarray:
        """Unconstrained (log α, log σ, logit γ): the fitted posterior mean, else the population's."""
        idx = self.learner_index.get(learner) if learner is not None else None
        return self.learner_loc[idx] if idx is not None else self.population_traits()


@dataclass
class LearnerStates:
    """Filter state of ``L`` learners over the model's KCs (a dummy column ``K`` absorbs padding).

    Joint Gaussian in one-factor form: ability ``μ ~ N(m, v)``; KC state ``z_k = β_k μ + e_k`` with
    independent ``e_k ~ N(ρ_k, ε_k)``, as of time ``tlast_k`` (``seen`` False: never practised).
    With an encoder, ``enc_h``/``enc_c`` are its state after the learner's answers so far and
    ``enc_t`` the time of the last one (NaN before any).
    """

    alpha: np.ndarray  # [L]
    sigma2: np.ndarray  # [L]
    gamma: np.ndarray  # [L]
    m: np.ndarray  # [L]
    v: np.ndarray  # [L]
    beta: np.ndarray  # [L, K+1]
    rho: np.ndarray  # [L, K+1]
    eps: np.ndarray  # [L, K+1]
    tlast: np.ndarray  # [L, K+1]
    seen: np.ndarray  # [L, K+1] bool
    enc_h: np.ndarray | None = None  # [L, M, H]: M members of H units
    enc_c: np.ndarray | None = None  # [L, M, H]
    enc_t: np.ndarray | None = None  # [L]

    @classmethod
    def new(
        cls,
        model: OnlineModel,
        traits: np.ndarray,
        mu_mean: np.ndarray | float | None = None,
        mu_sd: np.ndarray | float | None = None,
    ) -> LearnerStates:
        """Fresh states for ``traits`` ``[L, 3]``; μ starts from the population unless given."""
        traits = np.atleast_2d(np.asarray(traits, dtype=np.float64))
        n = traits.shape[0]
        width = model.n_kcs + 1
        m = np.broadcast_to(model.population["mu_loc"] if mu_mean is None else mu_mean, (n,))
        sd = np.broadcast_to(model.population["mu_scale"] if mu_sd is None else mu_sd, (n,))
        shape = (n, *model.encoder.state_shape) if model.encoder is not None else None
        return cls(
            alpha=np.exp(traits[:, 0]),
            sigma2=np.exp(2 * traits[:, 1]),
            gamma=1.0 / (1.0 + np.exp(-traits[:, 2])),
            m=np.array(m, dtype=np.float64),
            v=np.array(sd, dtype=np.float64) ** 2,
            beta=np.ones((n, width)),
            rho=np.zeros((n, width)),
            eps=np.zeros((n, width)),
            tlast=np.zeros((n, width)),
            seen=np.zeros((n, width), dtype=bool),
            enc_h=np.zeros(shape) if shape else None,
            enc_c=np.zeros(shape) if shape else None,
            enc_t=np.full(n, np.nan) if shape else None,
        )

    @property
    def n_learners(self) -> int:
        return int(self.m.shape[0])

    def encoder_state(self, row: int) -> dict[str, Any] | None:
        """Row ``row``'s encoder state as JSON-ready lists (None without an encoder)."""
        if self.enc_h is None or self.enc_c is None or self.enc_t is None:
            return None
        t = float(self.enc_t[row])
        return {
            "h": [round(float(x), 6) for x in self.enc_h[row].ravel()],
            "c": [round(float(x), 6) for x in self.enc_c[row].ravel()],
            "t": None if math.isnan(t) else t,
        }

    def set_encoder_state(self, row: int, data: dict[str, Any] | None) -> None:
        """Restore what :meth:`encoder_state` gave; a state of another size (another encoder) is
        ignored and the row starts afresh."""
        if not data or self.enc_h is None or self.enc_c is None or self.enc_t is None:
            return
        h, c = np.asarray(data.get("h", ()), dtype=np.float64), np.asarray(data.get("c", ()), dtype=np.float64)
        if h.size != self.enc_h[row].size or c.shape != h.shape:
            return
        self.enc_h[row], self.enc_c[row] = h.reshape(self.enc_h[row].shape), c.reshape(self.enc_c[row].shape)
        self.enc_t[row] = np.nan if data.get("t") is None else float(data["t"])


def advance(
    model: OnlineModel, st: LearnerStates, rows: np.ndarray, kcs: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(β, ρ, ε) ``[n, S]`` of KCs ``kcs`` ``[n, S]`` of learners ``rows`` ``[n]`` advanced to times
    ``t`` ``[n]`` by the exact OU step. Nothing is stored: predictions and updates both start here.
    A negative Δt (clock skew) counts as 0."""
    alpha = st.alpha[rows, None]  # [n, 1]
    sigma2 = st.sigma2[rows, None]
    gamma = st.gamma[rows, None]
    r2d = rows[:, None]
    r3d = rows[:, None, None]
    pre = model.pre_index[kcs]  # [n, S, D]
    w = model.pre_weight[kcs]  # [n, S, D]
    pre_beta = (w * st.beta[r3d, pre]).sum(-1)  # [n, S]
    pre_rho = (w * st.rho[r3d, pre]).sum(-1)
    pre_eps = (w * w * st.eps[r3d, pre]).sum(-1)
    dt = np.maximum(t[:, None] - st.tlast[r2d, kcs], 0.0)
    seen = st.seen[r2d, kcs]
    r = np.where(seen, np.exp(-alpha * dt), 0.0)
    one_minus_r2 = np.where(seen, -np.expm1(-2 * alpha * dt), 1.0)
    beta = r * st.beta[r2d, kcs] + (1 - r) * (1 + gamma * pre_beta)
    rho = r * st.rho[r2d, kcs] + (1 - r) * gamma * pre_rho
    eps = r * r * st.eps[r2d, kcs] + sigma2 * one_minus_r2 / (2 * alpha) + ((1 - r) * gamma) ** 2 * pre_eps
    return beta, rho, eps


def encoder_shift(
    model: OnlineModel, st: LearnerStates, rows: np.ndarray, kcs: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """The encoder's shift ``[n]`` of the answer logit's mean for KCs ``kcs`` ``[n, S]`` at times
    ``t``, faded at each learner's forgetting rate since their last answer; zeros without one."""
    if model.encoder is None or st.enc_h is None or st.enc_t is None:
        return np.zeros(len(rows))
    dt = np.nan_to_num(t - st.enc_t[rows], nan=0.0)
    return model.encoder.correction(st.enc_h[rows], kcs) * decay(st.alpha[rows], dt)


def _weights(kcs: np.ndarray, n_kcs: int) -> np.ndarray:
    real = kcs < n_kcs
    return real / np.maximum(real.sum(-1, keepdims=True), 1)


def answer_moments(
    model: OnlineModel,
    st: LearnerStates,
    rows: np.ndarray,
    kcs: np.ndarray,
    offsets: np.ndarray,
    t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance ``[n]`` of the answer logit ``mean_k z_k + b`` at times ``t`` (the mean
    moved by the encoder's shift, if the model has one)."""
    beta, rho, eps = advance(model, st, rows, kcs, t)
    a = _weights(kcs, model.n_kcs)
    lin = (a * beta).sum(-1)
    mx = lin * st.m[rows] + (a * rho).sum(-1) + offsets + encoder_shift(model, st, rows, kcs, t)
    vx = lin * lin * st.v[rows] + (a * a * eps).sum(-1)
    return mx, vx


def p_correct(mx: np.ndarray, vx: np.ndarray) -> np.ndarray:
    """E[sigmoid(x)] for x ~ N(mx, vx), by the probit approximation."""
    return ndtr(PROBIT_C * mx / np.sqrt(1 + PROBIT_C**2 * vx))


def observe(
    model: OnlineModel,
    st: LearnerStates,
    rows: np.ndarray,
    kcs: np.ndarray,
    offsets: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """Filter one answer for each of ``n`` distinct learners ``rows``; returns p(correct) predicted
    before the answer. ``kcs`` ``[n, S]`` padded with ``model.n_kcs``; ``y`` in {0, 1}."""
    beta, rho, eps = advance(model, st, rows, kcs, t)
    a = _weights(kcs, model.n_kcs)
    m, v = st.m[rows], st.v[rows]
    lin = (a * beta).sum(-1)
    mx = lin * m + (a * rho).sum(-1) + offsets
    vx = lin * lin * v + (a * a * eps).sum(-1)
    denom = np.sqrt(1 + PROBIT_C**2 * vx)
    # The prediction carries the encoder's shift; the filter's own update below does not, so the
    # model's states stay its exact posterior.
    p_before = ndtr(PROBIT_C * (mx + encoder_shift(model, st, rows, kcs, t)) / denom)
    if model.encoder is not None and st.enc_h is not None and st.enc_c is not None and st.enc_t is not None:
        logit = PROBIT_C * mx / denom
        st.enc_h[rows], st.enc_c[rows] = model.encoder.step(
            st.enc_h[rows], st.enc_c[rows], kcs, np.asarray(y), logit, ndtr(logit)
        )
        st.enc_t[rows] = t
    sign = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    u = sign * PROBIT_C * mx / denom
    # ADF moments of the probit likelihood, as in model.run_filter.
    slope = sign * PROBIT_C / denom
    g = slope * np.exp(-0.5 * u * u - 0.5 * math.log(2 * math.pi) - log_ndtr(u))
    h = g * (g + slope * u)
    cov_mx = lin * v
    m_new = m + cov_mx * g
    v_new = np.maximum(v - cov_mx * cov_mx * h, MIN_VAR)
    rho_post = rho + a * eps * g[:, None]
    eps_post = eps - (a * eps) ** 2 * h[:, None]
    cov_mu_e = -(cov_mx * h)[:, None] * a * eps
    coef = cov_mu_e / v_new[:, None]
    # Practice: after the answer, the attempt moves each touched KC's state by its gain, as in
    # model.run_filter.
    gain = model.gain_table()[kcs]  # [n, S, 2]
    yy = np.asarray(y, dtype=np.float64)[:, None]
    st.m[rows] = m_new
    st.v[rows] = v_new + model.mu_drift
    _store(
        model,
        st,
        rows,
        kcs,
        t,
        beta + coef,
        rho_post - coef * m_new[:, None] + yy * gain[..., 1] + (1 - yy) * gain[..., 0],
        np.maximum(eps_post - cov_mu_e * coef, MIN_VAR),
    )
    return p_before


def _store(
    model: OnlineModel,
    st: LearnerStates,
    rows: np.ndarray,
    kcs: np.ndarray,
    t: np.ndarray,
    beta: np.ndarray,
    rho: np.ndarray,
    eps: np.ndarray,
) -> None:
    """Write the touched KCs' new (β, ρ, ε) as practised at ``t``."""
    r2d = rows[:, None]
    st.beta[r2d, kcs] = beta
    st.rho[r2d, kcs] = rho
    st.eps[r2d, kcs] = eps
    st.tlast[r2d, kcs] = t[:, None]
    st.seen[r2d, kcs] = True
    # Padded slots all land on the dummy column; reset it so it never carries state.
    st.beta[rows, model.n_kcs] = 1.0
    st.rho[rows, model.n_kcs] = 0.0
    st.eps[rows, model.n_kcs] = 0.0
    st.seen[rows, model.n_kcs] = False


def practise(
    model: OnlineModel,
    st: LearnerStates,
    rows: np.ndarray,
    kcs: np.ndarray,
    offsets: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """An attempt whose answer is not seen (open-loop forecasting, planning): the touched KCs are
    advanced to ``t`` and move by their gain averaged over the predicted answer, whose spread adds
    to their variance. Returns the predicted p(correct) ``[n]`` of the attempt."""
    beta, rho, eps = advance(model, st, rows, kcs, t)
    a = _weights(kcs, model.n_kcs)
    lin = (a * beta).sum(-1)
    mx = lin * st.m[rows] + (a * rho).sum(-1) + offsets + encoder_shift(model, st, rows, kcs, t)
    vx = lin * lin * st.v[rows] + (a * a * eps).sum(-1)
    p = p_correct(mx, vx)
    st.v[rows] = st.v[rows] + model.mu_drift
    gain = model.gain_table()[kcs]  # [n, S, 2]
    pp = p[:, None]
    _store(
        model,
        st,
        rows,
        kcs,
        t,
        beta,
        rho + pp * gain[..., 1] + (1 - pp) * gain[..., 0],
        eps + pp * (1 - pp) * (gain[..., 1] - gain[..., 0]) ** 2,
    )
    return p


@dataclass
class KCForecast:
    """Per-KC predictions ``[n]`` for one learner at one time."""

    p_correct: np.ndarray  # for a typical item of the KC (its items' mean offset)
    p_correct_sd: np.ndarray  # delta-method sd of sigmoid(z + b̄) under the state's Gaussian
    mastery: np.ndarray  # P(z + b̄ > logit(mastery level))
    mean: np.ndarray  # posterior mean of the state z
    sd: np.ndarray  # posterior sd of the state z


def forecast(
    model: OnlineModel,
    st: LearnerStates,
    row: int,
    kcs: np.ndarray,
    t: float,
    *,
    mastery_p: float = MASTERY_P_CORRECT,
) -> KCForecast:
    """Knowledge of one learner over many KCs at time ``t`` (now or later: the forgetting curve)."""
    kcs = np.asarray(kcs, dtype=np.int64)
    n = kcs.shape[0]
    beta, rho, eps = advance(model, st, np.full(n, row), kcs[:, None], np.full(n, float(t)))
    beta, rho, eps = beta[:, 0], rho[:, 0], eps[:, 0]
    mean = beta * st.m[row] + rho
    if model.encoder is not None and st.enc_h is not None and st.enc_t is not None:
        dt = np.nan_to_num(float(t) - st.enc_t[row], nan=0.0)
        mean = mean + model.encoder.kc_corrections(st.enc_h[row], kcs) * decay(st.alpha[row], dt)
    return _kc_figures(mean, beta * beta * st.v[row] + eps, model.kc_offset[kcs], mastery_p)


def forecast_learners(
    model: OnlineModel,
    st: LearnerStates,
    kcs: np.ndarray,
    t: float,
    *,
    mastery_p: float = MASTERY_P_CORRECT,
) -> KCForecast:
    """:func:`forecast` for every learner of ``st`` at once: arrays ``[L, K]`` for KCs ``kcs``
    ``[K]`` at time ``t`` (a class of 200 in one call instead of 200).

    Each KC is asked as a one-KC answer at the KC's mean item offset, vectorised over learners by
    :func:`answer_moments`; for one KC its moments are exactly the state's (advanced, with the
    encoder's shift), so the figures equal :func:`forecast`'s learner by learner."""
    kcs = np.asarray(kcs, dtype=np.int64)
    n_learners, n_kcs = st.n_learners, kcs.shape[0]
    rows = np.repeat(np.arange(n_learners, dtype=np.int64), n_kcs)
    one_kc = np.tile(kcs, n_learners)[:, None]
    offsets = model.kc_offset[one_kc[:, 0]]
    logit_mean, var = answer_moments(model, st, rows, one_kc, offsets, np.full(rows.shape[0], float(t)))
    fc = _kc_figures(logit_mean - offsets, var, offsets, mastery_p)
    shape = (n_learners, n_kcs)
    return KCForecast(
        p_correct=fc.p_correct.reshape(shape),
        p_correct_sd=fc.p_correct_sd.reshape(shape),
        mastery=fc.mastery.reshape(shape),
        mean=fc.mean.reshape(shape),
        sd=fc.sd.reshape(shape),
    )


def _kc_figures(mean: np.ndarray, var: np.ndarray, offset: np.ndarray, mastery_p: float) -> KCForecast:
    """What a KC state ``N(mean, var)`` predicts for a typical item of the KC (mean offset ``offset``)."""
    var = np.maximum(var, MIN_VAR)
    sd = np.sqrt(var)
    logit_mean = mean + offset
    p = p_correct(logit_mean, var)
    threshold = math.log(mastery_p / (1 - mastery_p))
    return KCForecast(
        p_correct=p,
        p_correct_sd=p * (1 - p) * sd,
        mastery=ndtr((logit_mean - threshold) / sd),
        mean=mean,
        sd=sd,
    )
