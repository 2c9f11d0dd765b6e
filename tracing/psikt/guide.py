"""Variational family for :class:`~tracing.psikt.model.PsiktModel`.

Point estimates (Delta) for the population scalars and the edge logits: they are few or strongly
regularised, and MAP keeps the edge matrix cheap. Mean-field Normals for item offsets, per-KC
practice gains and per-learner traits, so each comes with an uncertainty (and the learned prior
scales of offsets and gains cannot collapse to zero as they could under MAP). Learner parameters
are indexed by the subsampled plate, so minibatches of learners touch only their own rows.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam

from tracing.psikt.model import GAIN_NAMES, N_GAINS, TRAIT_NAMES, ModelSpec, TensorBatch, trait_site_scale

POSITIVE_SITES = ("mu_scale", "item_scale", *(n + "_scale" for n in TRAIT_NAMES), "gain_scale")
REAL_SITES = ("mu_loc", *(n + "_loc" for n in TRAIT_NAMES), *(n + "_loc" for n in GAIN_NAMES))
INIT_SCALE = 0.1


class PsiktGuide(PyroModule):
    # PyroParam attributes read back as constrained tensors.
    item_loc: torch.Tensor
    item_sd: torch.Tensor
    edge_logit_map: torch.Tensor
    learner_loc: torch.Tensor
    learner_sd: torch.Tensor
    gain_loc: torch.Tensor
    gain_sd: torch.Tensor

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        p = spec.prior
        real_init = {
            "mu_loc": p.mu_loc,
            "log_alpha_loc": p.log_alpha_loc,
            "log_sigma_loc": p.log_sigma_loc,
            "logit_gamma_loc": p.logit_gamma_loc,
            **{n + "_loc": p.gain_loc for n in GAIN_NAMES},
        }
        pos_init = {"mu_scale": p.mu_scale, "item_scale": p.item_scale, "gain_scale": p.gain_scale}
        for name in REAL_SITES:
            setattr(self, "q_" + name, PyroParam(torch.tensor(real_init[name])))
        for name in POSITIVE_SITES:
            setattr(self, "q_" + name, PyroParam(torch.tensor(pos_init.get(name, p.trait_scale)), constraints.positive))
        self.item_loc = PyroParam(  # type: ignore[assignment]
            spec.item_prior_loc.clone()
        )  # [I]
        self.item_sd = PyroParam(  # type: ignore[assignment]
            torch.full((spec.n_items,), INIT_SCALE), constraints.positive
        )  # [I]
        self.edge_logit_map = PyroParam(  # type: ignore[assignment]
            spec.cand_prior_loc.clone()
        )  # [K, D]
        self.gain_loc = PyroParam(  # type: ignore[assignment]
            torch.full((spec.n_kcs, N_GAINS), p.gain_loc)
        )  # [K, G]
        self.gain_sd = PyroParam(  # type: ignore[assignment]
            torch.full((spec.n_kcs, N_GAINS), INIT_SCALE), constraints.positive
        )  # [K, G]
        init_traits = torch.tensor([p.log_alpha_loc, p.log_sigma_loc, p.logit_gamma_loc])
        self.learner_loc = PyroParam(  # type: ignore[assignment]
            init_traits.expand(spec.n_learners, 3).clone()
        )  # [N, 3]
        self.learner_sd = PyroParam(  # type: ignore[assignment]
            torch.full((spec.n_learners, 3), INIT_SCALE), constraints.positive
        )  # [N, 3]
        self.cand_index = spec.cand_index  # [K, D], read by warm start and extraction
        self.n_learners = spec.n_learners
        self.n_items = spec.n_items
        self.n_kcs = spec.n_kcs

    def population(self) -> dict[str, torch.Tensor]:
        """Current point estimates of the population scalars, by model site name."""
        return {name: getattr(self, "q_" + name) for name in (*REAL_SITES, *POSITIVE_SITES)}

    def forward(self, batch: TensorBatch) -> None:
        for name in (*REAL_SITES, *POSITIVE_SITES):
            pyro.sample(name, dist.Delta(getattr(self, "q_" + name)))
        with pyro.plate("items", self.n_items):
            pyro.sample("item_offset", dist.Normal(self.item_loc, self.item_sd))
        pyro.sample("edge_logit", dist.Delta(self.edge_logit_map, event_dim=2))
        with pyro.plate("kcs", self.n_kcs):
            pyro.sample("kc_gain", dist.Normal(self.gain_loc, self.gain_sd).to_event(1))
        with (
            pyro.plate("learners", self.n_learners, subsample=batch.idx),
            pyro.poutine.scale(scale=trait_site_scale(batch)),
        ):
            pyro.sample("traits", dist.Normal(self.learner_loc[batch.idx], self.learner_sd[batch.idx]).to_event(1))
