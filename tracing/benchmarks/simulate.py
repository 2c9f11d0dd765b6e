"""Draw learners from the model's own generative process, with known traits and graph.

Used for parameter recovery (``python -m tracing.benchmarks --recovery``), tests, and by the planner's
simulations to try policies against simulated learners. A benchmark tool: nothing at run time
imports it. Two ways in:

* :class:`Simulator` is stepped one answer at a time: ``sim.answer(learner, item, t)`` advances the
  item's KCs to ``t`` exactly as the model does (OU step towards ``μ + γ Σ w_jk z_j``), draws the
  answer, then applies the practice gain: each of the item's KCs moves up by ``practice_gain``
  (after a wrong answer, after a correct one), so a learner who practises truly improves, and
  forgets the gain again at their rate α. ``sim.p_correct(...)`` gives the true probability
  without changing anything. The default gain is zero (no learning from practice).
* :func:`simulate` runs ``n_learners`` learners for ``n_answers`` each with a policy callback
  ``policy(learner, step, history, rng) -> (item index, time)`` and returns a :class:`Dataset`
  plus the true traits.
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tracing.psikt.data import Dataset, DatasetBuilder


@dataclass
class SimItem:
    key: str
    kcs: tuple[int, ...]
    offset: float


@dataclass
class SimGraph:
    """KC keys and weighted prerequisite edges ``(prerequisite, dependent, strength)`` by index."""

    kcs: list[str]
    edges: list[tuple[int, int, float]]

    def matrix(self) -> np.ndarray:
        """``[K, K]``, row = prerequisite, column = dependent."""
        w = np.zeros((len(self.kcs), len(self.kcs)))
        for j, k, s in self.edges:
            w[j, k] = s
        return w


@dataclass
class Traits:
    alpha: float  # forgetting (mean-reversion) rate, per time unit
    mu: float  # long-term level
    sigma: float  # volatility
    gamma: float  # prerequisite sensitivity in (0, 1)


@dataclass
class Population:
    """Population the simulator draws traits from (log-normal α and σ, logit-normal γ)."""

    log_alpha: tuple[float, float] = (math.log(0.3), 0.5)
    mu: tuple[float, float] = (0.0, 1.0)
    log_sigma: tuple[float, float] = (math.log(0.8), 0.3)
    logit_gamma: tuple[float, float] = (0.0, 1.0)

    def as_prior(self) -> dict[str, float]:
        """The traits' locations and scales under the names of a fit's population (``PsiktParams.population``)."""
        return {
            "mu_loc": self.mu[0],
            "mu_scale": self.mu[1],
            "log_alpha_loc": self.log_alpha[0],
            "log_alpha_scale": self.log_alpha[1],
            "log_sigma_loc": self.log_sigma[0],
            "log_sigma_scale": self.log_sigma[1],
            "logit_gamma_loc": self.logit_gamma[0],
            "logit_gamma_scale": self.logit_gamma[1],
        }

    def draw(self, rng: np.random.Generator) -> Traits:
        return Traits(
            alpha=float(np.exp(rng.normal(*self.log_alpha))),
            mu=float(rng.normal(*self.mu)),
            sigma=float(np.exp(rng.normal(*self.log_sigma))),
            gamma=float(1 / (1 + np.exp(-rng.normal(*self.logit_gamma)))),
        )


@dataclass
class _Learner:
    traits: Traits
    z: np.ndarray  # [K] latent states as last advanced
    tlast: np.ndarray  # [K]
    seen: np.ndarray  # [K] bool
    history: list[tuple[int, float, bool]] = field(default_factory=list)  # (item, time, correct)


class Simulator:
    def __init__(
        self,
        graph: SimGraph,
        items: Sequence[SimItem],
        *,
        population: Population | None = None,
        seed: int = 0,
        practice_gain: Sequence[float] | np.ndarray = (0.0, 0.0),
    ) -> None:
        self.graph = graph
        self.items = list(items)
        self.population = population or Population()
        self.rng = np.random.default_rng(seed)
        self.w = graph.matrix()
        # [K, 2]: state gain of each KC from one attempt, after a wrong / a correct answer; a pair
        # applies to every KC.
        self.gain = np.broadcast_to(np.asarray(practice_gain, dtype=np.float64), (len(graph.kcs), 2)).copy()
        self.learners: list[_Learner] = []

    def new_learner(self, traits: Traits | None = None) -> int:
        traits = traits or self.population.draw(self.rng)
        n_kcs = len(self.graph.kcs)
        # Never-practised KCs count as μ in other KCs' targets (see model.py).
        self.learners.append(_Learner(traits, np.full(n_kcs, traits.mu), np.zeros(n_kcs), np.zeros(n_kcs, dtype=bool)))
        return len(self.learners) - 1

    def _advanced(self, learner: _Learner, kcs: Sequence[int], t: float) -> np.ndarray:
        tr = learner.traits
        out = np.empty(len(kcs))
        for n, k in enumerate(kcs):
            target = tr.mu + tr.gamma * float(self.w[:, k] @ learner.z)
            if learner.seen[k]:
                r = math.exp(-tr.alpha * max(t - learner.tlast[k], 0.0))
                mean = r * learner.z[k] + (1 - r) * target
                var = tr.sigma**2 * (1 - r * r) / (2 * tr.alpha)
            else:
                mean, var = target, tr.sigma**2 / (2 * tr.alpha)
            out[n] = self.rng.normal(mean, math.sqrt(var))
        return out

    def p_correct(self, learner_id: int, item: int, t: float) -> float:
        """True p(correct) if ``item`` were answered at ``t``, averaging the OU noise (no draw kept)."""
        learner = self.learners[learner_id]
        spec = self.items[item]
        saved = self.rng.bit_generator.state
        draws = [float(np.mean(self._advanced(learner, spec.kcs, t))) for _ in range(64)]
        self.rng.bit_generator.state = saved
        return float(np.mean([1 / (1 + math.exp(-(x + spec.offset))) for x in draws]))

    def answer(self, learner_id: int, item: int, t: float) -> bool:
        learner = self.learners[learner_id]
        spec = self.items[item]
        z = self._advanced(learner, spec.kcs, t)
        learner.z[list(spec.kcs)] = z
        learner.tlast[list(spec.kcs)] = t
        learner.seen[list(spec.kcs)] = True
        p = 1 / (1 + math.exp(-(float(z.mean()) + spec.offset)))
        correct = bool(self.rng.random() < p)
        learner.z[list(spec.kcs)] += self.gain[list(spec.kcs), int(correct)]
        learner.history.append((item, t, correct))
        return correct

    def traits(self, learner_id: int) -> Traits:
        return self.learners[learner_id].traits

    def states(self, learner_id: int) -> np.ndarray:
        return self.learners[learner_id].z.copy()


Policy = Callable[[int, int, list[tuple[int, float, bool]], np.random.Generator], tuple[int, float]]


def random_policy(
    items: Sequence[SimItem], *, session_length: int = 10, mean_gap: float = 2.0, gap_spread: float = 0.0
) -> Policy:
    """Random items in sessions: short gaps inside a session, a gap of ~``mean_gap`` between them.

    ``gap_spread`` > 0 draws each break's mean log-normally around ``mean_gap`` (sd ``gap_spread`` in
    log units), so a learner's history mixes short and long breaks, which is what tells a fast
    forgetter from a slow one."""

    def policy(
        learner: int, step: int, history: list[tuple[int, float, bool]], rng: np.random.Generator
    ) -> tuple[int, float]:
        last = history[-1][1] if history else 0.0
        if step % session_length == 0:
            gap = rng.exponential(mean_gap * math.exp(gap_spread * rng.normal()) if gap_spread > 0 else mean_gap)
        else:
            gap = rng.exponential(0.01)
        return int(rng.integers(len(items))), last + gap

    return policy


def random_graph(n_kcs: int, n_edges: int, rng: np.random.Generator) -> SimGraph:
    """A random DAG over KCs in index order (edges go from lower to higher index)."""
    pairs = [(j, k) for k in range(n_kcs) for j in range(k)]
    chosen = rng.choice(len(pairs), size=min(n_edges, len(pairs)), replace=False)
    edges = [(pairs[c][0], pairs[c][1], float(rng.uniform(0.5, 1.0))) for c in chosen]
    return SimGraph([f"kc{k}" for k in range(n_kcs)], edges)


def make_items(n_kcs: int, per_kc: int, rng: np.random.Generator, offset_sd: float = 0.7) -> list[SimItem]:
    return [
        SimItem(f"kc{k}-item{i}", (k,), float(rng.normal(0, offset_sd))) for k in range(n_kcs) for i in range(per_kc)
    ]


@dataclass
class SimResult:
    dataset: Dataset
    traits: list[Traits]  # by learner index in dataset.learners order
    simulator: Simulator


def simulate(
    graph: SimGraph,
    n_learners: int,
    items: Sequence[SimItem],
    *,
    n_answers: int = 100,
    policy: Policy | None = None,
    population: Population | None = None,
    seed: int = 0,
    time_unit: str = "day",
    practice_gain: Sequence[float] | np.ndarray = (0.0, 0.0),
) -> SimResult:
    """Run ``n_learners`` fresh learners for ``n_answers`` answers each under ``policy``."""
    sim = Simulator(graph, items, population=population, seed=seed, practice_gain=practice_gain)
    policy = policy or random_policy(items)
    builder = DatasetBuilder(kcs=graph.kcs, items=[i.key for i in items], time_unit=time_unit)
    traits = []
    for _ in range(n_learners):
        lid = sim.new_learner()
        traits.append(sim.traits(lid))
        history = sim.learners[lid].history
        for step in range(n_answers):
            item, t = policy(lid, step, history, sim.rng)
            correct = sim.answer(lid, item, t)
            spec = items[item]
            builder.add(f"sim{lid}", spec.key, [graph.kcs[k] for k in spec.kcs], correct, t)
    return SimResult(builder.build(), traits, sim)
