"""Benchmark the planner against baseline policies on simulated learners. No Django.

    python -m tutor.benchmarks.planner_sim [--graph demo|junyi|both] [--learners N] [--json OUT]

Learners are drawn from the learner model's own generative process (``tracing.psikt.simulate``)
with varied traits, and they learn from practice: each answer raises the answered KCs' true state
by a gain (``PRACTICE_GAIN`` after a wrong / a correct answer, times the learner's own log-normal
learning rate), which they forget again at their own forgetting rate. Every policy meets the same learners
(same traits, gains and simulator seed). A policy sees only what the tutor would: the learner
model's online filter (``tracing.psikt.online``, told the population's mean gain per KC, as a fit
would be) updated with each answer; the simulator's true state is used only to score the outcome:

* goal KCs mastered after 50 and 100 items: true p(correct) on a typical item of the KC (its items'
  mean offset, the simulator's own ``p_correct``) at least ``mastery_threshold``;
* 7-day retention: mean true recall of *every* goal KC 7 days after the last item (so a policy is
  not rewarded for mastering fewer KCs), and how many goal KCs are still mastered then; the mean
  recall of only the KCs mastered at the end (``retention_mastered``) is reported too, but it
  averages over different KCs and learners for each policy, so it is not a fair comparison;
* paired differences against each baseline (same learners), with 95% intervals;
* decision latency (planner only) p50/p95 per graph, and on a generated 10,000-KC DAG.

Baselines: ``lowest-mastery`` is OATutor's heuristic over the lesson (the goal KCs and all they
build on); ``lowest-mastery-goal`` the same over the goal KCs alone (OATutor's objectives taken
literally); ``3-in-a-row`` (ASSISTments), ``course-order``, ``random``.

The filter starts each learner from population traits (cold start, as for a new student): it learns
their ability online but not their forgetting rate. ``--oracle-traits`` hands it the true traits,
as a good fit would. Schedule: sessions of 10 items two minutes apart, one session a day. Junyi
goals are 10 random KCs 3 to 6 prerequisites deep (``--junyi-max-depth 0``: any depth from 3).

Defaults take a few minutes on two busy cores. The reported run:
``python -m tutor.benchmarks.planner_sim --graph both --learners 200 --json var/planner_sim.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from content.graph import add_edges_acyclic, topological_layers
from tracing.benchmarks.simulate import Population, SimGraph, SimItem, Simulator, Traits
from tracing.psikt.online import LearnerStates, OnlineModel, forecast, observe
from tutor.planning.planner import (
    CourseGraph,
    CourseOrderPolicy,
    KCView,
    LearnerView,
    LowestMasteryPolicy,
    PlanItem,
    Planner,
    PlannerSettings,
    Policy,
    RandomPolicy,
    StreakPolicy,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "content" / "fixtures" / "demo_course.json"
# The shared data folder sits beside the checkout (../shared).
JUNYI_PATH = ROOT.parent / "shared" / "data" / "kt" / "junyi_exercise_prerequisites.csv"
JUNYI_MAX_DEPTH = 6
POLICIES = ("planner", "lowest-mastery", "lowest-mastery-goal", "3-in-a-row", "course-order", "random")
SESSION_LENGTH = 10
# Learning from practice (``tracing.psikt.simulate.Simulator(practice_gain=...)``): each answer
# raises the answered KCs' true state by this much in logits, after a wrong / a correct answer,
# forgotten again at the learner's own forgetting rate. Each learner's gains are these times their own
# learning rate, log-normal with sd GAIN_SPREAD.
PRACTICE_GAIN = (0.15, 0.35)
GAIN_SPREAD = 0.4
ITEM_GAP_DAYS = 2.0 / 1440.0
RETENTION_DAYS = 7.0


@dataclass
class Scenario:
    name: str
    kcs: list[str]
    names: list[str]
    edges: list[tuple[int, int, float]]  # (prerequisite, dependent, strength)
    items: list[PlanItem]
    goal: list[int]


def load_demo(path: Path = DEMO_PATH) -> Scenario:
    """The demo course pack: KCs, prerequisites with strengths, items (difficulty 1-5 → offset)."""
    pack = json.loads(path.read_text(encoding="utf-8"))
    kcs = [k["slug"] for k in pack["kcs"]]
    index = {k: i for i, k in enumerate(kcs)}
    edges = [
        (index[e["prerequisite"]], index[e["dependent"]], float(e.get("strength", 1.0))) for e in pack["prerequisites"]
    ]
    # Difficulty 3 is an average item; each step harder lowers the logit by 0.5.
    items = [
        PlanItem(i["slug"], tuple(index[k] for k in i["kcs"]), 0.5 * (3 - float(i.get("difficulty", 3))))
        for i in pack["items"]
    ]
    layers = topological_layers(range(len(kcs)), [(a, b) for a, b, _ in edges])
    goal = sorted(k for depth, layer in enumerate(layers) if depth >= 3 for k in layer)
    return Scenario("demo", kcs, [k["name"] for k in pack["kcs"]], edges, items, goal)


def load_junyi(
    path: Path = JUNYI_PATH, *, n_goals: int = 10, min_depth: int = 3, max_depth: int = JUNYI_MAX_DEPTH, seed: int = 0
) -> Scenario:
    """Junyi exercises as KCs (one item each); goals: ``n_goals`` random KCs whose depth (longest
    prerequisite path) is in ``[min_depth, max_depth]`` (``max_depth`` 0: no limit). Each KC's
    incoming strengths sum to 0.8 so long chains do not amplify without bound.

    Depth is capped because Junyi's graph has chains 65 deep: a goal at depth 40 has ~40 KCs to
    learn first, which no policy teaches in 100 answers (with no cap the ten goals' lesson holds
    181 KCs). Depth 3-6 gives a unit a teacher would set for 100 answers (45 KCs with seed 0).
    """
    rng = np.random.default_rng(seed)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    kcs = list(dict.fromkeys(r["name"].strip() for r in rows if r["name"].strip()))
    index = {k: i for i, k in enumerate(kcs)}
    pairs: list[tuple[str, str]] = []
    for r in rows:
        pairs.extend((p.strip(), r["name"].strip()) for p in (r.get("prerequisites") or "").split(",") if p.strip())
    kept, _skipped = add_edges_acyclic(kcs, pairs)
    n_parents = np.bincount([index[b] for _, b in kept], minlength=len(kcs))
    edges = [(index[a], index[b], 0.8 / n_parents[index[b]]) for a, b in kept]
    items = [PlanItem(k, (i,), float(rng.normal(0.0, 0.7))) for i, k in enumerate(kcs)]
    layers = topological_layers(range(len(kcs)), [(a, b) for a, b, _ in edges])
    deep = [k for depth, layer in enumerate(layers) if depth >= min_depth and (not max_depth or depth <= max_depth)
            for k in layer]
    goal = sorted(int(g) for g in rng.choice(deep, size=min(n_goals, len(deep)), replace=False))
    return Scenario("junyi", kcs, kcs, edges, items, goal)


def random_dag(n_kcs: int, rng: np.random.Generator, *, max_parents: int = 3, window: int = 50) -> Scenario:
    """A generated DAG: each KC takes 0-3 prerequisites among the ``window`` KCs before it."""
    edges: list[tuple[int, int, float]] = []
    for k in range(1, n_kcs):
        n = int(rng.integers(0, max_parents + 1))
        lo = max(0, k - window)
        for j in set(rng.integers(lo, k, size=n).tolist()):
            edges.append((int(j), k, 0.8 / max(n, 1)))
    kcs = [f"kc{k}" for k in range(n_kcs)]
    items = [PlanItem(f"kc{k}-item{i}", (k,), float(rng.normal(0, 0.7))) for k in range(n_kcs) for i in range(2)]
    goal = sorted(rng.choice(np.arange(n_kcs // 2, n_kcs), size=10, replace=False).tolist())
    return Scenario("dag", kcs, kcs, edges, items, goal)


def course_graph(sc: Scenario) -> CourseGraph:
    return CourseGraph(sc.kcs, [(a, b) for a, b, _ in sc.edges], sc.items, names=sc.names)


def online_model(sc: Scenario, population: Population, gain: np.ndarray | None = None) -> OnlineModel:
    """The learner model as a fit on this course would leave it: item offsets and edge strengths
    known, population trait locations matching the population learners come from, and every KC's
    practice gains (``gain``, columns as ``tracing.psikt.params.GAIN_NAMES``) at the population
    mean (a fit learns per-KC gains, not each learner's own)."""
    n_kcs = len(sc.kcs)
    parents: list[list[tuple[int, float]]] = [[] for _ in range(n_kcs)]
    for a, b, w in sc.edges:
        parents[b].append((a, w))
    width = max(1, *(len(p) for p in parents))
    pre_index = np.full((n_kcs + 1, width), n_kcs, dtype=np.int64)
    pre_weight = np.zeros((n_kcs + 1, width))
    for k, ps in enumerate(parents):
        for d, (a, w) in enumerate(ps):
            pre_index[k, d], pre_weight[k, d] = a, w
    offsets = np.array([i.offset for i in sc.items])
    kc_sum, kc_count = np.zeros(n_kcs + 1), np.zeros(n_kcs + 1)
    for i, item in enumerate(sc.items):
        for k in item.kcs:
            kc_sum[k] += offsets[i]
            kc_count[k] += 1
    pop = {**population.as_prior(), "item_scale": 1.0}
    return OnlineModel(
        kcs=list(sc.kcs),
        kc_index={k: i for i, k in enumerate(sc.kcs)},
        item_index={i.key: n for n, i in enumerate(sc.items)},
        item_offset=offsets,
        item_kcs=[list(i.kcs) for i in sc.items],
        kc_offset=np.where(kc_count > 0, kc_sum / np.maximum(kc_count, 1), 0.0),
        pre_index=pre_index,
        pre_weight=pre_weight,
        population=pop,
        learner_index={},
        learner_loc=np.zeros((0, 3)),
        learner_sd=np.zeros((0, 3)),
        mu_mean=np.zeros(0),
        mu_sd=np.zeros(0),
        kc_gain=None if gain is None else np.vstack([np.tile(gain, (n_kcs, 1)), np.zeros((1, len(gain)))]),
    )


class FilteredLearner:
    """One learner as the tutor sees them: the online filter's state, updated answer by answer."""

    def __init__(self, model: OnlineModel, traits: np.ndarray) -> None:
        self.model = model
        self.state = LearnerStates.new(model, traits)
        self.all_kcs = np.arange(model.n_kcs)
        self.width = max(len(k) for k in model.item_kcs)
        self.attempts = np.zeros(model.n_kcs, dtype=np.int64)

    def predict(self, t: float) -> KCView:
        fc = forecast(self.model, self.state, 0, self.all_kcs, t)
        return KCView(fc.mean, fc.sd)

    def view(self, t: float, horizon_days: float) -> LearnerView:
        practised = self.state.seen[0, : self.model.n_kcs]
        return LearnerView.from_predictor(
            self.predict, time=t, horizon_days=horizon_days, practised=practised, attempts=self.attempts
        )

    def update(self, item: int, correct: bool, t: float) -> None:
        kcs = np.full((1, self.width), self.model.n_kcs, dtype=np.int64)
        kcs[0, : len(self.model.item_kcs[item])] = self.model.item_kcs[item]
        self.attempts[self.model.item_kcs[item]] += 1
        observe(
            self.model,
            self.state,
            np.array([0]),
            kcs,
            self.model.item_offset[[item]],
            np.array([float(correct)]),
            np.array([t]),
        )


def _traits_vector(tr: Traits) -> np.ndarray:
    return np.array([math.log(tr.alpha), math.log(tr.sigma), math.log(tr.gamma / (1 - tr.gamma))])


def make_policy(name: str, course: CourseGraph, settings: PlannerSettings, seed: int) -> Policy:
    if name == "planner":
        return Planner(course, settings)
    if name == "lowest-mastery":
        return LowestMasteryPolicy(course, settings)
    if name == "lowest-mastery-goal":
        return LowestMasteryPolicy(course, settings, objectives="goal")
    if name == "3-in-a-row":
        return StreakPolicy(course)
    if name == "course-order":
        return CourseOrderPolicy(course)
    if name == "random":
        return RandomPolicy(course, np.random.default_rng(seed))
    raise ValueError(name)


def run_learner(
    sc: Scenario,
    course: CourseGraph,
    model: OnlineModel,
    policy: Policy,
    traits: Traits,
    *,
    seed: int,
    settings: PlannerSettings,
    n_items: int = 100,
    checkpoints: Sequence[int] = (50, 100),
    oracle_traits: bool = False,
    latencies: list[float] | None = None,
    gain: Sequence[float] = (0.0, 0.0),
) -> dict[str, Any]:
    """One learner under one policy; returns goal KCs mastered at each checkpoint and retention.
    ``gain`` is this learner's own practice gain (after a wrong, a correct answer) in the simulator."""
    # Probe items (a typical item per KC) let us read the true recall; no policy ever sees them.
    sim_items = [SimItem(i.key, i.kcs, i.offset) for i in sc.items]
    sim_items += [SimItem(f"probe-{k}", (k,), float(course.kc_offset[k])) for k in range(len(sc.kcs))]
    sim = Simulator(SimGraph(sc.kcs, sc.edges), sim_items, seed=seed, practice_gain=tuple(gain))
    lid = sim.new_learner(traits)
    filt = FilteredLearner(model, _traits_vector(traits) if oracle_traits else model.population_traits())
    probe0 = len(sc.items)

    def true_recall(kcs: Sequence[int], t: float) -> np.ndarray:
        return np.array([sim.p_correct(lid, probe0 + k, t) for k in kcs])

    out: dict[str, Any] = {}
    t = 0.0
    for step in range(n_items):
        t = (step // SESSION_LENGTH) * 1.0 + (step % SESSION_LENGTH) * ITEM_GAP_DAYS
        view = filt.view(t, settings.review_horizon_days)
        start = time.perf_counter()
        decision = policy.decide(view, sc.goal)
        if latencies is not None:
            latencies.append(time.perf_counter() - start)
        correct = sim.answer(lid, decision.item, t)
        filt.update(decision.item, correct, t)
        policy.record(decision.item, correct, t)
        if step + 1 in checkpoints:
            recall = true_recall(sc.goal, t)
            out[f"mastered_{step + 1}"] = int((recall >= settings.mastery_threshold).sum())
            out[f"mastered_set_{step + 1}"] = [
                g for g, r in zip(sc.goal, recall, strict=True) if r >= settings.mastery_threshold
            ]
    final = set(out.get(f"mastered_set_{n_items}", []))
    later = true_recall(sc.goal, t + RETENTION_DAYS)
    out["retention"] = float(later.mean())
    out["retained"] = int((later >= settings.mastery_threshold).sum())
    kept = [r for g, r in zip(sc.goal, later, strict=True) if g in final]
    out["retention_mastered"] = float(np.mean(kept)) if kept else math.nan
    return out


def learner_gains(gain: Sequence[float], spread: float, n_learners: int, *, seed: int) -> np.ndarray:
    """``[N, 2]`` each learner's practice gain (after a wrong, a correct answer): the population's
    ``gain`` times a learner's own learning rate, log-normal with sd ``spread`` (one per learner, on
    its own random stream so the traits drawn for a seed do not change)."""
    rng = np.random.default_rng([seed, 7])
    rate = np.exp(rng.normal(0.0, spread, size=n_learners)) if spread > 0 else np.ones(n_learners)
    return rate[:, None] * np.asarray(gain, dtype=np.float64)[None, :]


def mean_ci(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean and 95% half-width (normal approximation) over finite values, and their count."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if not len(x):
        return math.nan, math.nan, 0
    half = 1.96 * float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return float(x.mean()), half, len(x)


def run_scenario(
    sc: Scenario,
    *,
    n_learners: int,
    settings: PlannerSettings,
    seed: int = 0,
    n_items: int = 100,
    policies: Sequence[str] = POLICIES,
    oracle_traits: bool = False,
    progress: Callable[[str], None] | None = None,
    gain: Sequence[float] = PRACTICE_GAIN,
    gain_spread: float = GAIN_SPREAD,
) -> dict[str, Any]:
    population = Population()
    course = course_graph(sc)
    trait_rng = np.random.default_rng(seed)
    learners = [population.draw(trait_rng) for _ in range(n_learners)]
    gains = learner_gains(gain, gain_spread, n_learners, seed=seed)
    # The learner model knows the population's mean gain per KC (what a fit learns), not each learner's.
    model = online_model(sc, population, gains.mean(0) if len(gains) else np.asarray(gain, dtype=np.float64))
    checkpoints = sorted({min(50, n_items), n_items})
    result: dict[str, Any] = {
        "graph": sc.name,
        "n_kcs": len(sc.kcs),
        "n_items": len(sc.items),
        "goal": [sc.kcs[g] for g in sc.goal],
    }
    rows: dict[str, Any] = {}
    latencies: list[float] = []
    for name in policies:
        runs = []
        for n, traits in enumerate(learners):
            policy = make_policy(name, course, settings, seed=seed * 100_003 + n)
            runs.append(
                run_learner(
                    sc, course, model, policy, traits, seed=seed * 100_003 + n, settings=settings, n_items=n_items,
                    checkpoints=checkpoints, oracle_traits=oracle_traits,
                    latencies=latencies if name == "planner" else None, gain=tuple(gains[n]),
                )
            )  # fmt: skip
        row: dict[str, Any] = {f"mastered_{c}": mean_ci([r[f"mastered_{c}"] for r in runs]) for c in checkpoints}
        for key in ("retention", "retained", "retention_mastered"):
            row[key] = mean_ci([r[key] for r in runs])
        row["per_learner"] = {key: [r[key] for r in runs] for key in (
            *(f"mastered_{c}" for c in checkpoints), "retention", "retained")}
        rows[name] = row
        if progress:
            progress(f"  {sc.name}: {name} done")
    result["policies"] = rows
    if "planner" in rows:
        result["planner_vs"] = {name: compare(rows["planner"], rows[name], checkpoints)
                                for name in rows if name != "planner"}
        if "lowest-mastery" in result["planner_vs"]:
            result["planner_vs_lowest_mastery"] = result["planner_vs"]["lowest-mastery"]
    if latencies:
        ms = np.array(latencies) * 1000
        result["latency_ms"] = {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "n": len(ms)}
    return result


def compare(ours: dict[str, Any], base: dict[str, Any], checkpoints: Sequence[int]) -> dict[str, Any]:
    """Planner against one baseline on the same learners: relative gain in goal KCs mastered at each
    checkpoint, and paired differences (per learner) with 95% intervals."""
    out: dict[str, Any] = {}
    for c in checkpoints:
        key = f"mastered_{c}"
        b_mean = base[key][0]
        out[f"relative_gain_{c}"] = (ours[key][0] - b_mean) / b_mean if b_mean else math.nan
    for key in (*(f"mastered_{c}" for c in checkpoints), "retention", "retained"):
        pairs = zip(ours["per_learner"][key], base["per_learner"][key], strict=True)
        out[f"paired_{key}"] = mean_ci([o - b for o, b in pairs])
    last = max(checkpoints)
    out["relative_gain"] = out[f"relative_gain_{last}"]
    out["paired_difference"] = out[f"paired_mastered_{last}"]
    out["retention_difference"] = out["paired_retention"]
    return out


def dag_latency(n_kcs: int = 10_000, *, seed: int = 0, n_decisions: int = 30) -> dict[str, Any]:
    """Planner decision latency on a generated DAG, with a learner view from the real filter after
    a few hundred answers (build time of the per-graph structures reported apart)."""
    rng = np.random.default_rng(seed)
    sc = random_dag(n_kcs, rng)
    start = time.perf_counter()
    course = course_graph(sc)
    build = time.perf_counter() - start
    model = online_model(sc, Population())
    filt = FilteredLearner(model, model.population_traits())
    for n, item in enumerate(rng.integers(0, len(sc.items), size=300)):
        filt.update(int(item), bool(rng.random() < 0.7), n * ITEM_GAP_DAYS)
    planner = Planner(course)
    decide, total = [], []
    for n in range(n_decisions):
        t = 1.0 + n * ITEM_GAP_DAYS
        s0 = time.perf_counter()
        view = filt.view(t, planner.settings.review_horizon_days)
        s1 = time.perf_counter()
        planner.decide(view, sc.goal)
        s2 = time.perf_counter()
        decide.append(s2 - s1)
        total.append(s2 - s0)
    d, tot = np.array(decide) * 1000, np.array(total) * 1000
    return {
        "n_kcs": n_kcs,
        "n_edges": len(sc.edges),
        "n_items": len(sc.items),
        "build_ms": build * 1000,
        "decide_p50_ms": float(np.percentile(d, 50)),
        "decide_p95_ms": float(np.percentile(d, 95)),
        "with_forecast_p50_ms": float(np.percentile(tot, 50)),
        "with_forecast_p95_ms": float(np.percentile(tot, 95)),
    }


def _fmt(cell: tuple[float, float, int], pct: bool = False) -> str:
    mean, half, _n = cell
    if math.isnan(mean):
        return "n/a"
    if pct:
        return f"{mean:.1%} ± {half:.1%}" if not math.isnan(half) else f"{mean:.1%}"
    return f"{mean:.2f} ± {half:.2f}" if not math.isnan(half) else f"{mean:.2f}"


def print_table(result: dict[str, Any], n_items: int) -> None:
    goal_n = len(result["goal"])
    print(f"\n{result['graph']}: {result['n_kcs']} KCs, {result['n_items']} items, {goal_n} goal KCs")
    cps = sorted({min(50, n_items), n_items})
    head = (f"{'policy':20}" + "".join(f"{'mastered@' + str(c):>16}" for c in cps)
            + f"{'recall@7d':>16}{'mastered@7d':>16}{'recall@7d|mastered':>22}")
    print(head)
    for name, row in result["policies"].items():
        cells = "".join(f"{_fmt(tuple(row[f'mastered_{c}'])):>16}" for c in cps)
        cond = tuple(row["retention_mastered"])
        print(f"{name:20}{cells}{_fmt(tuple(row['retention']), pct=True):>16}{_fmt(tuple(row['retained'])):>16}"
              f"{_fmt(cond, pct=True) + f' (n={cond[2]})':>22}")
    for name, cmp in result.get("planner_vs", {}).items():
        parts = []
        for c in cps:
            mean, half, _n = cmp[f"paired_mastered_{c}"]
            parts.append(f"@{c} {cmp[f'relative_gain_{c}']:+.1%} ({mean:+.2f} ± {half:.2f} KCs)")
        r_mean, r_half, _n = cmp["paired_retention"]
        print(f"planner vs {name}: goal KCs mastered " + ", ".join(parts)
              + f"; recall 7 days later {r_mean:+.1%} ± {r_half:.1%} (paired)")
    if "latency_ms" in result:
        lat = result["latency_ms"]
        print(f"planner decision latency: p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms over {lat['n']} decisions")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutor.benchmarks.planner_sim", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--graph", choices=["demo", "junyi", "both"], default="both")
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--items", type=int, default=100, help="answers per learner (checkpoints at 50 and this)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--oracle-traits", action="store_true", help="give the filter each learner's true traits")
    parser.add_argument("--dag-kcs", type=int, default=10_000, help="KCs in the generated latency DAG (0: skip)")
    parser.add_argument("--junyi", type=Path, default=JUNYI_PATH)
    parser.add_argument("--junyi-max-depth", type=int, default=JUNYI_MAX_DEPTH,
                        help="deepest prerequisite chain of a Junyi goal (0: any depth ≥ 3)")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument("--mastery-threshold", type=float, default=0.8)
    parser.add_argument("--review-threshold", type=float, default=0.7)
    parser.add_argument("--target-success", type=float, default=0.75)
    parser.add_argument("--review-horizon-days", type=float, default=1.0)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--prerequisite-patience", type=int, default=PlannerSettings.prerequisite_patience)
    parser.add_argument("--practice-gain", default=",".join(map(str, PRACTICE_GAIN)),
                        help="population gain of the true state per answer: WRONG,CORRECT (logits)")
    parser.add_argument("--gain-spread", type=float, default=GAIN_SPREAD,
                        help="sd of each learner's log learning rate (multiplies the gains)")
    args = parser.parse_args(argv)
    gain = tuple(float(x) for x in args.practice_gain.split(","))
    if len(gain) != 2:
        parser.error("--practice-gain takes two numbers: WRONG,CORRECT")
    settings = PlannerSettings(
        args.mastery_threshold, args.review_threshold, args.target_success, args.review_horizon_days, args.patience,
        args.prerequisite_patience,
    )
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    scenarios = []
    if args.graph in ("demo", "both"):
        scenarios.append(load_demo())
    if args.graph in ("junyi", "both"):
        scenarios.append(load_junyi(args.junyi, seed=args.seed, max_depth=args.junyi_max_depth))
    report: dict[str, Any] = {
        "settings": settings.__dict__,
        "learners": args.learners,
        "items": args.items,
        "seed": args.seed,
        "oracle_traits": args.oracle_traits,
        "practice_gain": gain,
        "junyi_max_depth": args.junyi_max_depth,
        "gain_spread": args.gain_spread,
        "graphs": [],
    }
    started = time.perf_counter()
    for sc in scenarios:
        res = run_scenario(
            sc, n_learners=args.learners, settings=settings, seed=args.seed, n_items=args.items, policies=policies,
            oracle_traits=args.oracle_traits, progress=lambda msg: print(msg, file=sys.stderr, flush=True),
            gain=gain, gain_spread=args.gain_spread,
        )  # fmt: skip
        report["graphs"].append(res)
        print_table(res, args.items)
    if args.dag_kcs:
        dag = dag_latency(args.dag_kcs, seed=args.seed)
        report["dag_latency"] = dag
        print(
            f"\ngenerated DAG: {dag['n_kcs']} KCs, {dag['n_edges']} edges, {dag['n_items']} items; "
            f"build {dag['build_ms']:.0f} ms once; decision p50 {dag['decide_p50_ms']:.1f} ms, "
            f"p95 {dag['decide_p95_ms']:.1f} ms (with the filter's forecasts: "
            f"p50 {dag['with_forecast_p50_ms']:.1f} ms, "
            f"p95 {dag['with_forecast_p95_ms']:.1f} ms)"
        )
    report["wall_seconds"] = time.perf_counter() - started
    print(f"\n{args.learners} learners x {len(policies)} policies, {report['wall_seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
