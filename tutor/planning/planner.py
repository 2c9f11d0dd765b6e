"""Which item next, and why: the study planner. Plain numpy, imports no Django (a test proves it).

The planner reads the learner model's predictions for every KC now and a little later
(:class:`LearnerView`), the prerequisite graph and the items (:class:`CourseGraph`, built once per
graph and reused for every decision), and a goal (target KC indices). Its policy:

* **Reviews first.** A KC the learner has practised and mastered whose predicted recall will fall
  below ``review_threshold`` within ``review_horizon_days`` is due. The horizon is read off the
  learner model's own forgetting curve (its prediction at a future time), so a learner who forgets
  fast is reviewed sooner. Only KCs still needed are reviewed: goals, and what an unmastered goal
  builds on. Among due KCs the most urgent wins.
* **New material only from the outer fringe**: KCs not yet mastered whose prerequisites all are
  mastered or *parked*. A KC answered ``patience`` times without mastery (``prerequisite_patience``
  times if it is not itself a goal: it is only a means to the goals) stops blocking what follows.
* **Goal-directed unlocking.** Each unmastered goal shares one unit of value among the KCs still in
  its way (its unmastered, unparked ancestors) and itself; a KC's value is the sum over goals. So a
  step that brings a goal within reach soon counts more than one far down a long chain, and a
  prerequisite shared by several goals counts for each. A parked KC keeps value only as a goal.
* **Finish what is nearly done**: of candidates of similar value, the one nearer mastery (in
  logits) comes first (``GAP_WEIGHT``).
* **Difficulty matched** to ``target_success``: among the candidates the item whose predicted
  p(correct) is nearest the target is preferred.
* **A similar item** after the student was shown a worked answer (:meth:`Planner.similar`): the
  same KCs, not that item, at a matched difficulty.
* **Nothing twice in a row.** Items the learner has finished (``LearnerView.finished_at``) are
  chosen only when every candidate of the decision has been finished, and then never the one
  finished last while another will do: a KC that is not yet mastered after one item is practised on
  its other items, not on the problem just solved.

"Mastered" means the predicted p(correct) on a typical item of the KC (its items' mean offset,
uncertainty integrated out) is at least ``mastery_threshold``.

The baselines the simulation compares against share the :class:`Policy` interface:
:class:`RandomPolicy`, :class:`CourseOrderPolicy`, :class:`LowestMasteryPolicy` (OATutor's
heuristic, over the lesson or over the goal KCs alone) and :class:`StreakPolicy` (ASSISTments-style
3 right in a row, fixed-interval reviews).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from content.graph import find_cycle
from tracing.psikt.normal import ndtr
from tracing.psikt.online import p_correct
from tutor.courses import rules

# How much a logit of distance to mastery lowers a fringe KC's score (against the log of its
# unlocking value): of two KCs worth as much, the one nearer mastery is finished first.
GAP_WEIGHT = 0.5
def expected_sigmoid(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """E[sigmoid(x)] for x ~ N(mean, var): the learner model's own probit approximation."""
    return p_correct(mean, var)


@dataclass(frozen=True)
class PlannerSettings:
    mastery_threshold: float = 0.8  # predicted p(correct) on a typical item to count as mastered
    review_threshold: float = 0.7  # review when predicted recall will fall below this ...
    target_success: float = 0.75  # aim new items at this p(correct)
    review_horizon_days: float = 1.0  # ... within this many days
    patience: int = 4  # answers on an unmastered KC before its dependents open anyway (0: never)
    prerequisite_patience: int = 3  # the same for a KC that is not itself a goal (0: use patience)

    def __post_init__(self) -> None:
        if not 0.7 <= self.target_success <= 0.85:
            raise ValueError(f"target_success must be in [0.7, 0.85], got {self.target_success}")
        if not 0.5 < self.mastery_threshold < 1.0:
            raise ValueError(f"mastery_threshold must be in (0.5, 1), got {self.mastery_threshold}")
        if not 0.0 < self.review_threshold <= self.mastery_threshold:
            raise ValueError("review_threshold must be in (0, mastery_threshold]")
        if self.review_horizon_days <= 0:
            raise ValueError("review_horizon_days must be positive")
        if self.patience < 0 or self.prerequisite_patience < 0:
            raise ValueError("patience must be >= 0")


@dataclass(frozen=True)
class PlanItem:
    key: str
    kcs: tuple[int, ...]  # KC indices into CourseGraph.kcs
    offset: float  # logit offset: p(correct) = sigmoid(mean KC state + offset); higher is easier


@dataclass(frozen=True)
class KCView:
    """The learner model's belief about every KC's latent state at one time: ``z_k ~ N(mean, sd²)``,
    in logit units before the item offset (``online.KCForecast.mean`` / ``.sd``)."""

    mean: np.ndarray  # [K]
    sd: np.ndarray  # [K]


@dataclass(frozen=True)
class LearnerView:
    """What a policy may know about a learner: predictions now and ``horizon`` days later, which KCs
    they have practised (and how often), and the current time (days). Never a simulator's true state."""

    now: KCView
    later: KCView
    practised: np.ndarray  # [K] bool
    time: float = 0.0
    attempts: np.ndarray | None = None  # [K] answers so far per KC (None: patience is not applied)
    # [I] when each item was last finished (days, the clock of ``time``), NaN if never (None: unknown)
    finished_at: np.ndarray | None = None

    @classmethod
    def from_predictor(
        cls,
        predict: Callable[[float], KCView],
        *,
        time: float,
        horizon_days: float,
        practised: np.ndarray,
        attempts: np.ndarray | None = None,
        finished_at: np.ndarray | None = None,
    ) -> LearnerView:
        """Build from a callable ``predict(t) -> KCView`` (absolute time in days)."""
        return cls(predict(time), predict(time + horizon_days), np.asarray(practised, dtype=bool), time, attempts,
                   finished_at)


def prefer_unfinished(mask: np.ndarray | np.bool_, finished_at: np.ndarray | None) -> np.ndarray:
    """``mask`` ([I] bool candidates) narrowed to the items the learner has not finished; if every one
    has been finished, to all but the one finished last (unless it is the only candidate)."""
    candidates = np.asarray(mask, dtype=bool)
    if finished_at is None or not candidates.any():
        return candidates
    done = ~np.isnan(finished_at)
    fresh = candidates & ~done
    if fresh.any():
        return fresh
    last = int(np.nanargmax(np.where(candidates, finished_at, np.nan)))
    others = candidates.copy()
    others[last] = False
    return others if others.any() else candidates


@dataclass(frozen=True)
class Decision:
    item: int
    kind: str  # "new", "practice", "review", "consolidate" (planner); baselines use their own name
    reason: str
    kc: int  # the KC the choice is about
    p_success: float  # predicted p(correct) on the item (nan if the policy did not predict)


class CourseGraph:
    """Per-graph structures, built once and shared by every decision and every policy."""

    def __init__(
        self,
        kcs: Sequence[str],
        edges: Iterable[tuple[int, int]],
        items: Sequence[PlanItem],
        *,
        names: Sequence[str] | None = None,
    ) -> None:
        self.kcs = list(kcs)
        self.names = list(names) if names is not None else list(kcs)
        self.items = list(items)
        n_kcs = len(self.kcs)
        edge_list = sorted({(int(a), int(b)) for a, b in edges})
        cycle = find_cycle(edge_list)
        if cycle is not None:
            raise ValueError(f"prerequisite graph has a cycle: {cycle}")
        self.src = np.array([e[0] for e in edge_list], dtype=np.int64)  # prerequisite
        self.dst = np.array([e[1] for e in edge_list], dtype=np.int64)  # dependent
        # Parents in CSR form (for reasons) and depth by longest path (for topological order).
        order = np.argsort(self.dst, kind="stable")
        self.parent_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.dst, minlength=n_kcs))])
        self.parents = self.src[order]
        self.depth = self._depths(n_kcs)
        # Edges grouped by the dependent's depth, deepest first, for one-pass ancestor propagation.
        by_depth = np.argsort(-self.depth[self.dst], kind="stable") if len(self.dst) else np.zeros(0, np.int64)
        dst_depth = self.depth[self.dst[by_depth]]
        cuts = np.flatnonzero(np.diff(dst_depth)) + 1 if len(dst_depth) else np.zeros(0, np.int64)
        self._edge_layers = [
            (self.src[by_depth][s], self.dst[by_depth][s]) for s in np.split(np.arange(len(by_depth)), cuts)
        ]
        self.topo_order = np.lexsort((np.arange(n_kcs), self.depth))
        # Items as a padded [I, S] KC matrix; column K is a dummy KC (always "fine", weight 0).
        width = max((len(i.kcs) for i in self.items), default=1)
        self.item_kcs = np.full((len(self.items), width), n_kcs, dtype=np.int64)
        for n, item in enumerate(self.items):
            self.item_kcs[n, : len(item.kcs)] = item.kcs
        real = self.item_kcs < n_kcs
        self.item_weight = real / np.maximum(real.sum(1, keepdims=True), 1)
        self.item_offset = np.array([i.offset for i in self.items], dtype=np.float64)
        kc_sum = np.bincount(
            self.item_kcs[real], weights=np.broadcast_to(self.item_offset[:, None], real.shape)[real], minlength=n_kcs
        )
        kc_count = np.bincount(self.item_kcs[real], minlength=n_kcs)
        self.kc_offset = np.where(kc_count > 0, kc_sum / np.maximum(kc_count, 1), 0.0)  # typical item
        self.kc_has_items = kc_count > 0
        self.item_primary = self.item_kcs[:, 0]
        self._ancestors: dict[tuple[int, ...], np.ndarray] = {}

    @property
    def n_kcs(self) -> int:
        return len(self.kcs)

    def _depths(self, n_kcs: int) -> np.ndarray:
        depth = np.zeros(n_kcs, dtype=np.int64)
        indeg = np.bincount(self.dst, minlength=n_kcs)
        child_order = np.argsort(self.src, kind="stable")
        child_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.src, minlength=n_kcs))])
        children = self.dst[child_order]
        frontier = np.flatnonzero(indeg == 0)
        remaining = indeg.copy()
        while frontier.size:
            starts, ends = child_ptr[frontier], child_ptr[frontier + 1]
            counts = ends - starts
            if not counts.sum():
                break
            total = int(counts.sum())
            idx = np.repeat(starts, counts) + np.arange(total) - np.repeat(counts.cumsum() - counts, counts)
            kids = children[idx]
            np.maximum.at(depth, kids, np.repeat(depth[frontier] + 1, counts))
            np.subtract.at(remaining, kids, 1)
            frontier = np.unique(kids[remaining[kids] == 0])
        return depth

    def prerequisites(self, kc: int) -> np.ndarray:
        return self.parents[self.parent_ptr[kc] : self.parent_ptr[kc + 1]]

    def ancestor_matrix(self, goal: Sequence[int]) -> np.ndarray:
        """``[G, K]`` bool: row g marks goal g and all its ancestors. Cached per goal."""
        key = tuple(int(g) for g in goal)
        cached = self._ancestors.get(key)
        if cached is not None:
            return cached
        mark = np.zeros((self.n_kcs, len(key)), dtype=np.uint8)  # [K, G] so rows scatter cheaply
        mark[list(key), np.arange(len(key))] = 1
        for src, dst in self._edge_layers:  # deepest dependents first: their marks are final
            np.maximum.at(mark, src, mark[dst])
        out = mark.T.astype(bool)
        if len(self._ancestors) > 64:
            self._ancestors.clear()
        self._ancestors[key] = out
        return out

    def lesson(self, goal: Sequence[int]) -> np.ndarray:
        """[K] bool: the goal KCs and everything they build on (all KCs without a goal)."""
        if not len(goal):
            return np.ones(self.n_kcs, dtype=bool)
        return np.asarray(self.ancestor_matrix(goal).any(0))

    def kc_p(self, view: KCView) -> np.ndarray:
        """Predicted p(correct) on a typical item of every KC."""
        return expected_sigmoid(view.mean + self.kc_offset, view.sd**2)

    def item_p(self, view: KCView) -> np.ndarray:
        """Predicted p(correct) of every item (KC states treated as independent)."""
        mean = np.append(view.mean, 0.0)[self.item_kcs]
        var = np.append(view.sd**2, 0.0)[self.item_kcs]
        w = self.item_weight
        return expected_sigmoid((w * mean).sum(1) + self.item_offset, (w * w * var).sum(1))

    def name_list(self, kcs: Iterable[int], limit: int = 2) -> str:
        names = [self.names[int(k)] for k in kcs]
        if len(names) > limit:
            names = [*names[:limit], f"{len(names) - limit} more"]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class Policy(Protocol):
    name: str

    def decide(self, view: LearnerView, goal: Sequence[int]) -> Decision: ...

    def record(self, item: int, correct: bool, time: float) -> None: ...


class Planner:
    """The planner policy. Stateless between decisions: everything it needs is in the view."""

    name = "planner"

    def __init__(self, course: CourseGraph, settings: PlannerSettings | None = None) -> None:
        self.course = course
        self.settings = settings or PlannerSettings()

    def record(self, item: int, correct: bool, time: float) -> None:
        """Nothing to remember: the learner model has already seen the answer."""

    def decide(self, view: LearnerView, goal: Sequence[int] = ()) -> Decision:
        c, s = self.course, self.settings
        n_kcs = c.n_kcs
        p_now, p_later = c.kc_p(view.now), c.kc_p(view.later)
        p_item = c.item_p(view.now)
        mastered = rules.is_mastered(p_now, mastery_threshold=s.mastery_threshold)
        goal = [int(g) for g in goal]
        is_goal = np.zeros(n_kcs, dtype=bool)
        is_goal[goal if goal else slice(None)] = True
        # A KC practised `patience` times without mastery stops blocking its dependents: the learner
        # model does not expect more drilling right now to get there, so move on and come back later.
        # A prerequisite that is not itself a goal is a means to the goals: it gets less patience.
        if view.attempts is not None and s.patience:
            limit = np.where(is_goal | (s.prerequisite_patience == 0), s.patience, s.prerequisite_patience)
            parked = ~mastered & (np.asarray(view.attempts[:n_kcs]) >= limit)
        else:
            parked = np.zeros(n_kcs, dtype=bool)
        unmet = np.bincount(c.dst, weights=(~(mastered | parked)[c.src]).astype(np.float64), minlength=n_kcs)
        ready = unmet == 0
        fringe = ready & ~mastered
        practised = np.asarray(view.practised[:n_kcs], dtype=bool)

        blocking = ~(mastered | parked)
        if goal:
            anc = c.ancestor_matrix(goal)
            open_goals = ~mastered[goal]
            progress = anc[open_goals].sum(0).astype(np.float64)  # unmastered goals each KC is or leads to
            # Unlocking value: each open goal shares one unit among the KCs still in its way (its
            # unmastered, unparked ancestors) and itself, so a step toward a goal that is nearly
            # unlocked counts more, and a step shared by several goals counts for each of them.
            own = np.zeros((len(goal), n_kcs), dtype=bool)
            own[np.arange(len(goal)), goal] = True
            in_way = (anc & blocking & ~own) | own
            share = np.where(open_goals, 1.0 / in_way.sum(1), 0.0)
            value = (in_way * share[:, None]).sum(0)
        else:
            progress = np.ones(n_kcs)
            value = (~mastered).astype(np.float64)
        # Still needed: a goal, or a KC an unmastered goal builds on. A prerequisite of goals already
        # mastered is not reviewed for their sake (they are reviewed themselves).
        needed = is_goal | (progress > 0)

        # An item is usable when each of its KCs is mastered or on the fringe.
        ok = np.append(mastered | fringe | parked, True)[c.item_kcs].all(1)
        closeness = -(((p_item - s.target_success) / 0.1) ** 2)

        due = rules.is_due_for_review(
            practised=practised, p_correct_now=p_now, p_correct_later=p_later,
            mastery_threshold=s.mastery_threshold, review_threshold=s.review_threshold,
        ) & needed
        due_items = prefer_unfinished(ok & np.append(due, False)[c.item_kcs].any(1), view.finished_at)
        if due_items.any():
            urgency = np.where(due, (s.review_threshold - p_later) / s.review_threshold, -np.inf)
            item_urgency = np.append(urgency, -np.inf)[c.item_kcs].max(1)
            score = np.where(
                due_items, 10.0 * item_urgency + np.log1p(progress[c.item_primary]) + 0.1 * closeness, -np.inf
            )
            item = int(np.argmax(score))
            kc = int(c.item_kcs[item][np.argmax(np.append(urgency, -np.inf)[c.item_kcs[item]])])
            when = (
                "has fallen" if p_now[kc] < s.review_threshold else f"will fall within {s.review_horizon_days:g} days"
            )
            reason = f"Review: your predicted recall of {c.names[kc]} {when} to {p_later[kc]:.0%}."
            return Decision(item, "review", reason, kc, float(p_item[item]))

        # New material from the fringe, by unlocking value (a parked KC no longer blocks, so only a
        # goal keeps its worth once parked); among those, the nearer a KC is to mastery (in logits)
        # the sooner it is done: "finish what is nearly done".
        new_kc = fringe & (value > 0) & c.kc_has_items
        new_items = prefer_unfinished(ok & np.append(new_kc, False)[c.item_kcs].any(1), view.finished_at)
        if new_items.any():
            level = math.log(s.mastery_threshold / (1 - s.mastery_threshold))
            gap = np.maximum(level - (view.now.mean + c.kc_offset), 0.0)
            kc_score = np.where(new_kc, np.log(np.maximum(value, 1e-12)) - GAP_WEIGHT * gap, -np.inf)
            item_kc_score = np.append(kc_score, -np.inf)[c.item_kcs].max(1)
            score = np.where(new_items, item_kc_score + closeness, -np.inf)
            item = int(np.argmax(score))
            cand = c.item_kcs[item][c.item_kcs[item] < n_kcs]
            kc = int(cand[np.argmax(kc_score[cand])])
            reason = self._new_reason(kc, p_now, progress, goal, mastered)
            return Decision(item, "practice" if practised[kc] else "new", reason, kc, float(p_item[item]))

        # Nothing new or due: keep the goal's KCs fresh, least-recalled first.
        keep = is_goal if goal else np.ones(n_kcs, dtype=bool)
        items = ok & np.append(keep, False)[c.item_kcs].any(1)
        if not items.any():
            items = ok & np.append(c.lesson(goal), False)[c.item_kcs].any(1)
        if not items.any():
            items = np.ones(len(c.items), dtype=bool)
        items = prefer_unfinished(items, view.finished_at)
        kc_later = np.append(np.where(keep, p_later, np.inf), np.inf)[c.item_kcs].min(1)
        item = int(np.argmin(np.where(items, kc_later + 0.01 * np.abs(p_item - s.target_success), np.inf)))
        kc = int(c.item_primary[item])
        if goal and mastered[goal].all():
            reason = f"You have mastered all your goals; practising {c.names[kc]} keeps them fresh."
        else:
            reason = f"{c.names[kc]} is the best next step toward your goal."
        return Decision(item, "consolidate", reason, kc, float(p_item[item]))

    def similar(self, view: LearnerView, item_index: int, *, exclude: Iterable[int] = ()) -> Decision | None:
        """An item practising the same KCs as ``item_index`` (not it, nor any in ``exclude``), of
        matched difficulty: offered after the student was shown the worked answer, so they try the
        idea again straight away; one they have not finished if there is one. None when no other item
        shares a KC with it.

        Ranked by KC overlap with the original (the same KCs first), then by how close its difficulty
        (item offset) is to the original's, a harder item counting half as far again as an easier one
        (the student has just needed the answer), then by predicted p(correct) nearest the target.
        """
        c, s = self.course, self.settings
        n_kcs = c.n_kcs
        own = c.item_kcs[item_index]
        own = own[own < n_kcs]
        if not len(own):
            return None
        real = c.item_kcs < n_kcs
        shared = (np.isin(c.item_kcs, own) & real).sum(1)
        union = real.sum(1) + len(own) - shared
        overlap = shared / np.maximum(union, 1)  # Jaccard: 1.0 for exactly the same KCs
        candidates = shared > 0
        candidates[item_index] = False
        for i in exclude:
            if 0 <= int(i) < len(c.items):
                candidates[int(i)] = False
        if not candidates.any():
            return None
        candidates = prefer_unfinished(candidates, view.finished_at)
        delta = c.item_offset - c.item_offset[item_index]  # > 0: easier than the original
        distance = np.where(delta < 0, -1.5 * delta, delta)
        p_item = c.item_p(view.now)
        score = 10.0 * overlap - distance - 0.5 * np.abs(p_item - s.target_success)
        item = int(np.argmax(np.where(candidates, score, -np.inf)))
        kcs = c.item_kcs[item][c.item_kcs[item] < n_kcs]
        kc = int(kcs[np.isin(kcs, own)][0])
        same = "the same skills" if overlap[item] == 1.0 else c.name_list([k for k in kcs if k in set(own.tolist())])
        level = "about as hard"
        if abs(delta[item]) > 0.25:
            level = "a little harder" if delta[item] < 0 else "a little easier"
        reason = f"A similar problem on {same}, {level}: try the idea yourself now."
        return Decision(item, "similar", reason, kc, float(p_item[item]))

    def _new_reason(
        self, kc: int, p_now: np.ndarray, progress: np.ndarray, goal: list[int], mastered: np.ndarray
    ) -> str:
        c = self.course
        pre = c.prerequisites(kc)
        done, tried = pre[mastered[pre]], pre[~mastered[pre]]
        if len(pre) == 0:
            lead = f"{c.names[kc]} needs nothing first, so it is a good place to start."
        elif len(tried) == 0:
            lead = f"You have mastered {c.name_list(done)}, so {c.names[kc]} is next."
        elif len(done) == 0:
            lead = (
                f"You have practised {c.name_list(tried)} for now, so {c.names[kc]} is next; we will come back to it."
            )
        else:
            lead = (
                f"You have mastered {c.name_list(done)} and practised {c.name_list(tried)}, so {c.names[kc]} is next."
            )
        if kc in goal:
            lead += " It is one of your goals."
        elif goal and progress[kc] > 1:
            lead += f" It leads to {int(progress[kc])} of your goals."
        elif goal:
            lead += " It leads toward your goal."
        return lead


class RandomPolicy:
    """Uniform over the lesson's items (the goal KCs and their ancestors)."""

    name = "random"

    def __init__(self, course: CourseGraph, rng: np.random.Generator) -> None:
        self.course, self.rng = course, rng

    def decide(self, view: LearnerView, goal: Sequence[int]) -> Decision:
        lesson = np.append(self.course.lesson(goal), False)
        pool = np.flatnonzero(lesson[self.course.item_kcs].any(1))
        item = int(self.rng.choice(pool))
        return Decision(
            item, "random", "A random question from this lesson.", int(self.course.item_primary[item]), math.nan
        )

    def record(self, item: int, correct: bool, time: float) -> None:
        pass


class CourseOrderPolicy:
    """The lesson's items in course order (KCs topologically, items easiest first), looping."""

    name = "course-order"

    def __init__(self, course: CourseGraph) -> None:
        self.course = course
        self.step = 0
        self._sequence: dict[tuple[int, ...], np.ndarray] = {}

    def decide(self, view: LearnerView, goal: Sequence[int]) -> Decision:
        c = self.course
        key = tuple(goal)
        if key not in self._sequence:
            rank = np.empty(c.n_kcs + 1, dtype=np.int64)
            rank[c.topo_order] = np.arange(c.n_kcs)
            rank[c.n_kcs] = -1
            lesson = np.append(c.lesson(goal), False)
            pool = np.flatnonzero(lesson[c.item_kcs].any(1))
            self._sequence[key] = pool[np.lexsort((-c.item_offset[pool], rank[c.item_kcs[pool]].max(1)))]
        seq = self._sequence[key]
        item = int(seq[self.step % len(seq)])
        return Decision(item, "course-order", "Next in the course.", int(c.item_primary[item]), math.nan)

    def record(self, item: int, correct: bool, time: float) -> None:
        self.step += 1


class LowestMasteryPolicy:
    """OATutor's heuristic: the lesson item whose KCs have the lowest predicted mastery.

    OATutor's lesson is a set of learning objectives; ``objectives="lesson"`` (the default) takes the
    goal KCs and everything they build on, as a course unit would; ``"goal"`` the goal KCs alone.
    """

    def __init__(
        self, course: CourseGraph, settings: PlannerSettings | None = None, *, objectives: str = "lesson"
    ) -> None:
        if objectives not in ("lesson", "goal"):
            raise ValueError(f"objectives must be 'lesson' or 'goal', got {objectives!r}")
        self.course = course
        self.settings = settings or PlannerSettings()
        self.objectives = objectives
        self.name = "lowest-mastery" if objectives == "lesson" else "lowest-mastery-goal"

    def decide(self, view: LearnerView, goal: Sequence[int]) -> Decision:
        c = self.course
        # P(typical-item p(correct) >= mastery threshold) under the model's Gaussian belief.
        level = math.log(self.settings.mastery_threshold / (1 - self.settings.mastery_threshold))
        mastery = ndtr((view.now.mean + c.kc_offset - level) / np.maximum(view.now.sd, 1e-6))
        lesson = c.lesson(goal)
        if self.objectives == "goal" and len(goal):
            lesson = np.zeros(c.n_kcs, dtype=bool)
            lesson[list(goal)] = True
        value = np.append(np.where(lesson, mastery, np.nan), np.nan)[c.item_kcs]
        real = c.item_kcs < c.n_kcs
        score = np.where(real, value, 0.0).sum(1) / real.sum(1)
        score = np.where(np.append(lesson, False)[c.item_kcs].any(1) & ~np.isnan(score), score, np.inf)
        item = int(np.argmin(score))
        kc = int(c.item_primary[item])
        return Decision(item, "lowest-mastery", f"{c.names[kc]} is your weakest skill.", kc, math.nan)

    def record(self, item: int, correct: bool, time: float) -> None:
        pass


class StreakPolicy:
    """ASSISTments-style: work the lesson's KCs in course order until 3 right in a row; reassess
    each mastered KC every ``review_interval_days`` (a wrong reassessment sends it back)."""

    name = "3-in-a-row"

    def __init__(self, course: CourseGraph, *, streak: int = 3, review_interval_days: float = 3.0) -> None:
        self.course = course
        self.need = streak
        self.interval = review_interval_days
        self.run = np.zeros(course.n_kcs, dtype=np.int64)
        self.mastered_at = np.full(course.n_kcs, np.nan)
        self.turn = np.zeros(course.n_kcs, dtype=np.int64)  # round-robin over a KC's items
        self._pending: tuple[int, bool] | None = None  # (kc, is_review)

    def decide(self, view: LearnerView, goal: Sequence[int]) -> Decision:
        c = self.course
        lesson = c.lesson(goal) & c.kc_has_items
        due = lesson & ~np.isnan(self.mastered_at) & (view.time - np.nan_to_num(self.mastered_at) >= self.interval)
        if due.any():
            kc, review = int(np.flatnonzero(due)[0]), True
        else:
            todo = [k for k in c.topo_order if lesson[k] and np.isnan(self.mastered_at[k])]
            if todo:
                kc, review = int(todo[0]), False
            else:  # all mastered and none due: reassess the one mastered longest ago
                kc, review = int(np.flatnonzero(lesson)[np.argmin(self.mastered_at[lesson])]), True
        pool = np.flatnonzero(c.item_primary == kc)
        if not len(pool):
            pool = np.flatnonzero((c.item_kcs == kc).any(1))
        item = int(pool[self.turn[kc] % len(pool)])
        self._pending = (kc, review)
        reason = (
            f"Reassessment of {c.names[kc]}." if review else f"{c.names[kc]}: {self.run[kc]} right in a row so far."
        )
        return Decision(item, "3-in-a-row", reason, kc, math.nan)

    def record(self, item: int, correct: bool, time: float) -> None:
        if self._pending is None:
            return
        kc, review = self._pending
        self._pending = None
        self.turn[kc] += 1
        if review:
            self.mastered_at[kc] = time if correct else np.nan
            self.run[kc] = self.need if correct else 0
            return
        self.run[kc] = self.run[kc] + 1 if correct else 0
        if self.run[kc] >= self.need:
            self.mastered_at[kc] = time
