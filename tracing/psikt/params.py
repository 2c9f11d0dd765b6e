"""Fitted parameters and the constants shared by the pyro model and the numpy online filter.

Plain numpy: the online filter (and so every tutor request) reads these without importing torch.
"""

# ruff: noqa: RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROBIT_C = math.sqrt(math.pi / 8.0)
# Prior over an edge's logit: drawn edges near their teacher strength (a firm prior), absent ones
# centred near 0.02 but with a wide scale, so the data can learn edges the teacher did not draw (on
# ASSISTments 2015, with no teacher graph, widening it from 1.5 to 3 raised next-answer AUC by 0.001).
ABSENT_EDGE_STRENGTH = 0.02
EDGE_PRIOR_SCALE = 1.5
ABSENT_EDGE_PRIOR_SCALE = 3.0
MIN_VAR = 1e-6
TRAIT_NAMES = ("log_alpha", "log_sigma", "logit_gamma")
# Per-KC practice gains, by column: how far one attempt moves the KC's state after a wrong / a correct
# answer (forgotten again at the learner's rate α). Population locations are named ``<name>_loc``.
GAIN_NAMES = ("gain_wrong", "gain_correct")
N_GAINS = len(GAIN_NAMES)
# Prior offset per authored difficulty level (1-5): difficulty 3 is neutral, each level shifts the
# log-odds of a correct answer by 0.5 (a 1 -> 5 span of 2 logits, roughly 80% -> 35% for an average
# learner). A fit replaces it with the item's learned offset.
DIFFICULTY_LOGIT_STEP = 0.5


def difficulty_offset(difficulty: int) -> float:
    """An item's prior offset (logits) from its authored difficulty."""
    return (3 - int(difficulty)) * DIFFICULTY_LOGIT_STEP


@dataclass
class PopulationPrior:
    """Hyper-priors over the population locations/scales (weak: the data decides)."""

    mu_loc: float = 0.0
    log_alpha_loc: float = -2.0
    log_sigma_loc: float = -0.5
    logit_gamma_loc: float = -1.0
    loc_scale: float = 3.0
    trait_scale: float = 0.5
    mu_scale: float = 1.0
    item_scale: float = 1.0
    gain_loc: float = 0.0
    gain_scale: float = 0.3


@dataclass
class PsiktParams:
    """Everything the online filter needs, keyed by the caller's learner/item/KC identifiers."""

    kcs: list[str]
    items: list[str]
    learners: list[str]
    item_kcs: list[list[int]]
    population: dict[str, float]
    item_offset: np.ndarray  # [I]
    item_offset_sd: np.ndarray  # [I]
    edge_index: np.ndarray  # [K, D] candidate prerequisites of each KC, -1 = padding
    edge_logit: np.ndarray  # [K, D] posterior logit of their strengths
    learner_loc: np.ndarray  # [N, 3] posterior mean of (log α, log σ, logit γ)
    learner_sd: np.ndarray  # [N, 3]
    mu_mean: np.ndarray  # [N] filter posterior of μ at the end of the fitted history
    mu_sd: np.ndarray  # [N]
    time_unit: str = "step"
    # [K, 2] practice gains of each KC, columns as GAIN_NAMES; None (fits made before practice was
    # modelled) means no gain.
    kc_gain: np.ndarray | None = None
    # The history encoder's weights and training figures (``Encoder.to_dict``); None: not trained or
    # not kept.
    encoder: dict[str, Any] | None = None
    _index: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def index(self, kind: str) -> dict[str, int]:
        """Key → position for ``"kcs"``, ``"items"`` or ``"learners"`` (built once)."""
        if kind not in self._index:
            self._index[kind] = {k: i for i, k in enumerate(getattr(self, kind))}
        return self._index[kind]

    def gains(self) -> np.ndarray:
        """``[K, 2]`` practice gains (columns as ``GAIN_NAMES``); zeros if the fit had none."""
        return self.kc_gain if self.kc_gain is not None else np.zeros((len(self.kcs), N_GAINS))

    def strengths(self) -> np.ndarray:
        """Dense ``[K, K]`` strengths, row = prerequisite, column = dependent."""
        n_kcs = len(self.kcs)
        w = np.zeros((n_kcs, n_kcs))
        dep, slot = np.nonzero(self.edge_index >= 0)
        w[self.edge_index[dep, slot], dep] = 1.0 / (1.0 + np.exp(-self.edge_logit[dep, slot]))
        return w

    def learned_edges(self, min_strength: float = 0.1) -> list[tuple[str, str, float]]:
        """Readable ``(prerequisite, dependent, strength)`` triples, strongest first."""
        w = self.strengths()
        rows, cols = np.nonzero(w >= min_strength)
        out = [(self.kcs[j], self.kcs[k], float(w[j, k])) for j, k in zip(rows, cols, strict=True)]
        return sorted(out, key=lambda e: -e[2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kcs": self.kcs,
            "items": self.items,
            "learners": self.learners,
            "item_kcs": self.item_kcs,
            "population": self.population,
            "item_offset": self.item_offset.round(5).tolist(),
            "item_offset_sd": self.item_offset_sd.round(5).tolist(),
            "edge_index": self.edge_index.tolist(),
            "edge_logit": self.edge_logit.round(5).tolist(),
            "learner_loc": self.learner_loc.round(5).tolist(),
            "learner_sd": self.learner_sd.round(5).tolist(),
            "mu_mean": self.mu_mean.round(5).tolist(),
            "mu_sd": self.mu_sd.round(5).tolist(),
            "time_unit": self.time_unit,
            "kc_gain": self.gains().round(5).tolist(),
            "encoder": self.encoder,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PsiktParams:
        n = len(data["learners"])
        n_kcs = len(data["kcs"])
        return cls(
            kcs=list(data["kcs"]),
            items=list(data["items"]),
            learners=list(data["learners"]),
            item_kcs=[list(x) for x in data["item_kcs"]],
            population=dict(data["population"]),
            item_offset=np.asarray(data["item_offset"], dtype=np.float64),
            item_offset_sd=np.asarray(data["item_offset_sd"], dtype=np.float64),
            edge_index=np.asarray(data["edge_index"], dtype=np.int64).reshape(n_kcs, -1),
            edge_logit=np.asarray(data["edge_logit"], dtype=np.float64).reshape(n_kcs, -1),
            learner_loc=np.asarray(data["learner_loc"], dtype=np.float64).reshape(n, 3),
            learner_sd=np.asarray(data["learner_sd"], dtype=np.float64).reshape(n, 3),
            mu_mean=np.asarray(data["mu_mean"], dtype=np.float64),
            mu_sd=np.asarray(data["mu_sd"], dtype=np.float64),
            time_unit=data.get("time_unit", "step"),
            kc_gain=np.asarray(data["kc_gain"], dtype=np.float64).reshape(n_kcs, N_GAINS)
            if "kc_gain" in data
            else None,
            encoder=data.get("encoder"),
        )
