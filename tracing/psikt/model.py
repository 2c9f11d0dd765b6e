"""The PSI-KT-style generative model and the Gaussian filter that marginalises its latent states.

Generative process (``tracing/benchmarks/simulate.py`` draws from exactly this):

* population: location/scale of each learner trait, a scale for item offsets;
* learner ``l``: ``log α_l``, ``log σ_l``, ``logit γ_l`` ~ Normal(population) and ``μ_l`` ~
  Normal(population): forgetting (mean-reversion) rate, volatility, prerequisite sensitivity and
  long-term level;
* edges: strength ``w_jk = sigmoid(ω_jk)`` of "j is a prerequisite of k", ``ω`` ~ Normal(prior from
  the teacher's graph): drawn edges start strong, absent ones near zero but learnable;
* items: offset ``b_i`` ~ Normal(prior, item scale);
* states: each (learner, KC) state ``z_k`` follows an Ornstein-Uhlenbeck process. It is advanced
  lazily, when KC ``k`` is practised at time ``t``, from its previous practice time ``t_k``:
  ``r = exp(-α Δt)``, ``z_k ~ N(r z_k + (1-r) target_k, σ²(1-r²)/(2α))`` with
  ``target_k = μ + γ Σ_j w_jk z_j`` (prerequisite states as last advanced). A never-practised KC is
  drawn from the stationary law (``r = 0``) and counts as ``z_j = μ`` in other KCs' targets.
  Advancing lazily keeps a tutor request to the touched KCs, and is exact for the OU process
  because the target is held constant between a KC's practice times;
* answers: ``y ~ Bernoulli(sigmoid(mean_{k in KCs(i)} z_k + b_i))``;
* practice: the attempt then raises each of the item's KC states by the KC's gain ``g_k,y`` (one
  for a wrong, one for a correct answer; ``g_k ~ Normal(population gain, gain scale)``), which the
  OU step forgets again at the learner's rate α. Without it the model could only *detect* what a
  learner knows; with it, practice is what moves knowledge, as in PSI-KT's learning dynamics.

Inference marginalises ``μ`` and the states with an assumed-density Gaussian filter, so SVI only
sees the low-dimensional traits, item offsets and edges. The filter keeps the joint Gaussian in a
one-factor form, ``z_k = β_k μ + e_k`` with ``μ ~ N(m, V)`` and independent residuals
``e_k ~ N(ρ_k, ε_k)``: an answer on one KC moves ``μ`` and so every KC of that learner (the
per-learner ability that matters most for next-answer prediction), while an update costs only the
touched KCs. The Bernoulli-logit likelihood is matched with the standard probit approximation
``sigmoid(x) ≈ Φ(x·sqrt(π/8))``, whose ADF moments are closed form. The same equations in numpy
serve tutor requests (``online.py``).
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from tracing.psikt.params import (
    ABSENT_EDGE_PRIOR_SCALE,
    ABSENT_EDGE_STRENGTH,
    EDGE_PRIOR_SCALE,
    GAIN_NAMES,
    MIN_VAR,
    N_GAINS,
    PROBIT_C,
    TRAIT_NAMES,
    PopulationPrior,
)


@dataclass
class ModelSpec:
    """Sizes and fixed priors of one model instance."""

    n_learners: int
    n_items: int
    n_kcs: int
    item_prior_loc: torch.Tensor  # [I]
    # Candidate prerequisites of each KC (teacher edges first, then data-suggested ones), padded
    # with the dummy index K; an edge outside the candidates has strength 0.
    cand_index: torch.Tensor  # [K, D] long
    cand_prior_loc: torch.Tensor  # [K, D] logit prior of w_jk for j = cand_index[k, d]
    cand_prior_scale: torch.Tensor  # [K, D] its scale
    prior: PopulationPrior

    @property
    def cand_mask(self) -> torch.Tensor:
        return self.cand_index < self.n_kcs  # [K, D]


@dataclass
class TensorBatch:
    """A padded minibatch of learner sequences; ``B`` learners, ``T`` steps, ``S`` KCs per answer."""

    idx: torch.Tensor  # [B] long, learner index in the fit
    items: torch.Tensor  # [B, T] long
    kcs: torch.Tensor  # [B, T, S] long, padding = n_kcs (a dummy column)
    weights: torch.Tensor  # [B, T, S] float, 1/|KCs| per real KC, 0 on padding
    y: torch.Tensor  # [B, T] float in {0, 1}
    times: torch.Tensor  # [B, T] float
    mask: torch.Tensor  # [B, T] bool, False on padding steps
    # Weight of this batch's learner terms relative to pyro's N/B subsample scale. Batches hold
    # different numbers of learners (long sequences come in smaller batches), so N/B alone would
    # over-weight them; the fitter sets this so every learner counts n_batches times per draw.
    local_scale: float = 1.0


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def candidate_prior(
    n_kcs: int, cand_index: torch.Tensor, teacher: dict[tuple[int, int], float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logit prior (location, scale) of every candidate edge: teacher edges firmly at their
    strength, the others near zero with a wide scale so that the data can learn them."""
    loc = torch.full(cand_index.shape, logit(ABSENT_EDGE_STRENGTH))
    scale = torch.full(cand_index.shape, ABSENT_EDGE_PRIOR_SCALE)
    for k in range(cand_index.shape[0]):
        for d in range(cand_index.shape[1]):
            j = int(cand_index[k, d])
            if j < n_kcs and (j, k) in teacher:
                loc[k, d] = logit(min(max(float(teacher[(j, k)]), 0.05), 0.95))
                scale[k, d] = EDGE_PRIOR_SCALE
    return loc, scale


def padded_strengths(edge_logit: torch.Tensor, cand_index: torch.Tensor) -> torch.Tensor:
    """``[K+1, D]`` strengths in (0, 1), zero on padding and on the dummy row ``K``."""
    n_kcs = edge_logit.shape[0]
    w = torch.sigmoid(edge_logit) * (cand_index < n_kcs)
    return torch.cat([w, torch.zeros(1, w.shape[1])], 0)


def _log_normal_pdf(u: torch.Tensor) -> torch.Tensor:
    return -0.5 * u * u - 0.5 * math.log(2 * math.pi)


def run_filter(
    batch: TensorBatch,
    traits: torch.Tensor,
    mu_loc: torch.Tensor,
    mu_scale: torch.Tensor,
    item_offsets: torch.Tensor,
    edge_logit: torch.Tensor,
    cand_index: torch.Tensor,
    mu_init: tuple[torch.Tensor, torch.Tensor] | None = None,
    gains: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Filter a batch of sequences; returns per-learner log-likelihood ``[B]``, the predictive
    p(correct) of every step before seeing it ``[B, T]`` and the final posterior of ``μ`` (m, V).

    ``traits`` is ``[B, 3]`` unconstrained (log α, log σ, logit γ); ``edge_logit`` and
    ``cand_index`` are ``[K, D]`` (candidate prerequisites of each KC); ``gains`` ``[K, 2]`` are the
    practice gains of each KC, columns as ``GAIN_NAMES`` (none: no learning from practice).
    """
    bsz, n_steps, width = batch.kcs.shape
    n_kcs, n_cand = cand_index.shape
    alpha = traits[:, 0].exp().unsqueeze(-1)  # [B, 1]
    sigma2 = (2 * traits[:, 1]).exp().unsqueeze(-1)  # [B, 1]
    gamma = torch.sigmoid(traits[:, 2]).unsqueeze(-1)  # [B, 1]
    w_dep = padded_strengths(edge_logit, cand_index)  # [K+1, D]
    pre_index = torch.cat([cand_index, torch.full((1, n_cand), n_kcs)], 0)  # [K+1, D]
    gain_pad = torch.zeros(n_kcs + 1, N_GAINS)
    if gains is not None:
        gain_pad = torch.cat([gains, torch.zeros(1, N_GAINS)], 0)  # [K+1, G]

    if mu_init is None:
        m = mu_loc.expand(bsz).clone()  # [B]
        v = (mu_scale**2).expand(bsz).clone()  # [B]
    else:
        m, v = mu_init
    beta = torch.ones(bsz, n_kcs + 1)  # [B, K+1]
    rho = torch.zeros(bsz, n_kcs + 1)
    eps = torch.zeros(bsz, n_kcs + 1)
    tlast = torch.zeros(bsz, n_kcs + 1)
    seen = torch.zeros(bsz, n_kcs + 1, dtype=torch.bool)
    loglik = torch.zeros(bsz)
    preds = []
    for t in range(n_steps):
        k = batch.kcs[:, t]  # [B, S]
        a = batch.weights[:, t]  # [B, S]
        live = batch.mask[:, t]  # [B]
        b_s, r_s, e_s = beta.gather(1, k), rho.gather(1, k), eps.gather(1, k)  # [B, S]
        w_k = w_dep[k]  # [B, S, D]: strengths into each touched KC
        j = pre_index[k].reshape(bsz, width * n_cand)  # [B, S*D]: its candidate prerequisites
        pre_beta = (w_k * beta.gather(1, j).reshape(w_k.shape)).sum(-1)  # [B, S]
        pre_rho = (w_k * rho.gather(1, j).reshape(w_k.shape)).sum(-1)
        pre_eps = (w_k * w_k * eps.gather(1, j).reshape(w_k.shape)).sum(-1)
        dt = (batch.times[:, t : t + 1] - tlast.gather(1, k)).clamp(min=0.0)  # [B, S]
        was_seen = seen.gather(1, k)
        r = torch.where(was_seen, torch.exp(-alpha * dt), torch.zeros_like(dt))
        one_minus_r2 = torch.where(was_seen, -torch.expm1(-2 * alpha * dt), torch.ones_like(dt))
        # Exact OU step towards target = μ + γ Σ w z_j, written on the (β, ρ, ε) factor form.
        b_s = r * b_s + (1 - r) * (1 + gamma * pre_beta)
        r_s = r * r_s + (1 - r) * gamma * pre_rho
        e_s = r * r * e_s + sigma2 * one_minus_r2 / (2 * alpha) + ((1 - r) * gamma) ** 2 * pre_eps

        lin = (a * b_s).sum(-1)  # [B] loading of μ on the answer's logit
        mx = lin * m + (a * r_s).sum(-1) + item_offsets[batch.items[:, t]]
        vx = lin * lin * v + (a * a * e_s).sum(-1)
        denom = torch.sqrt(1 + PROBIT_C**2 * vx)
        preds.append(torch.special.ndtr(PROBIT_C * mx / denom))
        sign = 2 * batch.y[:, t] - 1
        u = sign * PROBIT_C * mx / denom
        log_z = torch.special.log_ndtr(u)
        loglik = loglik + torch.where(live, log_z, torch.zeros_like(log_z))
        # ADF moments of the probit likelihood: g = d log Z / d mx, h = -d² log Z / d mx².
        slope = sign * PROBIT_C / denom
        g = slope * torch.exp(_log_normal_pdf(u) - log_z)
        h = g * (g + slope * u)

        cov_mx = lin * v
        m_new = m + cov_mx * g
        v_new = (v - cov_mx * cov_mx * h).clamp(min=MIN_VAR)
        g1, h1 = g.unsqueeze(-1), h.unsqueeze(-1)  # [B, 1]
        r_post = r_s + a * e_s * g1
        e_post = e_s - (a * e_s) ** 2 * h1
        cov_mu_e = -(cov_mx * h).unsqueeze(-1) * a * e_s  # the update correlates μ and e_k
        # Project back onto the factor form: fold that correlation into β_k.
        coef = cov_mu_e / v_new.unsqueeze(-1)
        b_post = b_s + coef
        # Practice: after the answer it produced was seen, the attempt moves each touched KC's state
        # by its gain; the next prediction starts from the practised state.
        y1 = batch.y[:, t : t + 1]  # [B, 1]
        g = gain_pad[k]  # [B, S, G]
        gain = y1 * g[..., 1] + (1 - y1) * g[..., 0]  # [B, S]
        r_post = r_post - coef * m_new.unsqueeze(-1) + gain
        e_post = (e_post - cov_mu_e * coef).clamp(min=MIN_VAR)

        m = torch.where(live, m_new, m)
        v = torch.where(live, v_new, v)
        k_eff = torch.where(live.unsqueeze(-1), k, torch.full_like(k, n_kcs))
        beta = beta.scatter(1, k_eff, b_post)
        rho = rho.scatter(1, k_eff, r_post)
        eps = eps.scatter(1, k_eff, e_post)
        tlast = tlast.scatter(1, k_eff, batch.times[:, t : t + 1].expand_as(k_eff))
        seen = seen.scatter(1, k_eff, torch.ones_like(k_eff, dtype=torch.bool))
    return loglik, torch.stack(preds, -1) if preds else torch.zeros(bsz, 0), (m, v)


class PsiktModel(PyroModule):
    """The pyro model. Global sites are population, item offsets and edges; per-learner traits sit in
    a subsampled plate; states and μ are integrated out by :func:`run_filter` (a ``pyro.factor``)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec

    def population(self) -> dict[str, torch.Tensor]:
        p = self.spec.prior
        wide = torch.tensor(p.loc_scale)
        out = {
            "mu_loc": pyro.sample("mu_loc", dist.Normal(torch.tensor(p.mu_loc), wide)),
            "mu_scale": pyro.sample("mu_scale", dist.LogNormal(math.log(p.mu_scale), 1.0)),
            "item_scale": pyro.sample("item_scale", dist.LogNormal(math.log(p.item_scale), 1.0)),
        }
        for name, loc in zip(TRAIT_NAMES, (p.log_alpha_loc, p.log_sigma_loc, p.logit_gamma_loc), strict=True):
            out[name + "_loc"] = pyro.sample(name + "_loc", dist.Normal(torch.tensor(loc), wide))
            out[name + "_scale"] = pyro.sample(name + "_scale", dist.LogNormal(math.log(p.trait_scale), 1.0))
        for name in GAIN_NAMES:
            out[name + "_loc"] = pyro.sample(name + "_loc", dist.Normal(torch.tensor(p.gain_loc), wide))
        out["gain_scale"] = pyro.sample("gain_scale", dist.LogNormal(math.log(p.gain_scale), 1.0))
        return out

    def forward(self, batch: TensorBatch) -> torch.Tensor:
        spec = self.spec
        pop = self.population()
        with pyro.plate("items", spec.n_items):
            offsets = pyro.sample("item_offset", dist.Normal(spec.item_prior_loc, pop["item_scale"]))  # [I]
        edge_logit = pyro.sample(
            "edge_logit",
            dist.Normal(spec.cand_prior_loc, spec.cand_prior_scale).mask(spec.cand_mask).to_event(2),
        )  # [K, D]
        gain_loc = torch.stack([pop[n + "_loc"] for n in GAIN_NAMES])  # [G]
        with pyro.plate("kcs", spec.n_kcs):
            gains = pyro.sample("kc_gain", dist.Normal(gain_loc, pop["gain_scale"]).to_event(1))  # [K, G]
        trait_loc = torch.stack([pop[n + "_loc"] for n in TRAIT_NAMES])  # [3]
        trait_scale = torch.stack([pop[n + "_scale"] for n in TRAIT_NAMES])  # [3]
        with (
            pyro.poutine.scale(scale=batch.local_scale),
            pyro.plate("learners", spec.n_learners, subsample=batch.idx),
        ):
            traits = pyro.sample("traits", dist.Normal(trait_loc, trait_scale).to_event(1))  # [B, 3]
            loglik, _, _ = run_filter(
                batch, traits, pop["mu_loc"], pop["mu_scale"], offsets, edge_logit, spec.cand_index, gains=gains
            )
            pyro.factor("answers", loglik)  # [B]
        return loglik
