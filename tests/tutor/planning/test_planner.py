"""The planner core without Django: fringe, reviews, difficulty, goals, baselines, and a sim smoke run."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tutor.planning.planner import (
    CourseGraph,
    CourseOrderPolicy,
    KCView,
    LearnerView,
    LowestMasteryPolicy,
    PlanItem,
    Planner,
    PlannerSettings,
    RandomPolicy,
    StreakPolicy,
)

ROOT = Path(__file__).resolve().parents[3]
HIGH, LOW = 4.0, -2.0  # state means well above / below the mastery level (logit units)


def chain_course(n: int = 4, offsets: tuple[float, ...] = (0.0,)) -> CourseGraph:
    """kc0 → kc1 → ... → kc{n-1}; one item per offset per KC."""
    items = [PlanItem(f"kc{k}-{o}", (k,), o) for k in range(n) for o in offsets]
    return CourseGraph([f"kc{k}" for k in range(n)], [(k, k + 1) for k in range(n - 1)], items)


def view(
    mean: list[float], *, later: list[float] | None = None, practised: list[bool] | None = None, sd: float = 0.1
) -> LearnerView:
    m = np.array(mean, dtype=float)
    later_m = np.array(later if later is not None else mean, dtype=float)
    seen = np.array(practised if practised is not None else [x > 0 for x in mean], dtype=bool)
    return LearnerView(KCView(m, np.full_like(m, sd)), KCView(later_m, np.full_like(m, sd)), seen)


def test_planner_imports_no_django() -> None:
    code = (
        "import sys; import tutor.planning.planner, tutor.benchmarks.planner_sim;"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_settings_are_frozen_and_validated() -> None:
    s = PlannerSettings()
    assert (s.mastery_threshold, s.target_success) == (0.8, 0.75)
    with pytest.raises(AttributeError):
        s.mastery_threshold = 0.9  # type: ignore[misc]
    with pytest.raises(ValueError):
        PlannerSettings(target_success=0.9)
    with pytest.raises(ValueError):
        PlannerSettings(review_threshold=0.9)


def test_cycle_is_rejected() -> None:
    with pytest.raises(ValueError, match="cycle"):
        CourseGraph(["a", "b"], [(0, 1), (1, 0)], [])


def test_new_material_comes_from_the_fringe() -> None:
    course = chain_course()
    d = Planner(course).decide(view([HIGH, HIGH, LOW, LOW]), goal=[3])
    assert (d.kc, d.kind) == (2, "new")
    assert d.reason.startswith("You have mastered kc1, so kc2 is next.")
    # Nothing mastered: only the root is on the fringe.
    assert Planner(course).decide(view([LOW] * 4), goal=[3]).kc == 0


def test_unmastered_prerequisite_blocks_until_patience_runs_out() -> None:
    course = chain_course()
    v = view([HIGH, LOW, LOW, LOW], practised=[True, True, False, False])
    assert Planner(course).decide(v, goal=[3]).kc == 1
    tired = LearnerView(v.now, v.later, v.practised, attempts=np.array([3, 4, 0, 0]))
    d = Planner(course).decide(tired, goal=[3])
    assert d.kc == 2 and "practised kc1" in d.reason
    assert Planner(course, PlannerSettings(patience=0)).decide(tired, goal=[3]).kc == 1


def test_a_prerequisite_gets_less_patience_than_a_goal() -> None:
    course = chain_course()  # kc0 → kc1 → kc2 → kc3
    # kc0 (not a goal) answered three times without mastery stops blocking kc1 ...
    v = view([LOW] * 4, practised=[True, False, False, False])
    assert Planner(course).decide(LearnerView(v.now, v.later, v.practised, attempts=np.array([2, 0, 0, 0])),
                                  goal=[3]).kc == 0
    tried = LearnerView(v.now, v.later, v.practised, attempts=np.array([3, 0, 0, 0]))
    assert Planner(course).decide(tried, goal=[3]).kc == 1
    # ... but a goal KC needs the full patience before its dependents open (kc1, a goal too, is
    # worth more than kc0 once it is open).
    assert Planner(course).decide(tried, goal=[0, 1, 3]).kc == 0
    tired = LearnerView(v.now, v.later, v.practised, attempts=np.array([4, 0, 0, 0]))
    assert Planner(course).decide(tired, goal=[0, 1, 3]).kc == 1
    # prerequisite_patience=0 gives prerequisites the same patience as goals.
    assert Planner(course, PlannerSettings(prerequisite_patience=0)).decide(tried, goal=[3]).kc == 0


def test_a_finished_item_is_not_served_again_while_another_will_do() -> None:
    # kc0 has three items (offsets 0, 0.5, 1.0); nothing is mastered, so kc0 stays on the fringe
    # after one of its items is solved.
    course = chain_course(n=2, offsets=(0.0, 0.5, 1.0))
    v = view([LOW, LOW])
    first = Planner(course).decide(v, goal=[1])
    assert first.kc == 0
    nan = np.full(len(course.items), np.nan)
    done = nan.copy()
    done[first.item] = -0.01  # finished a moment ago
    after = LearnerView(v.now, v.later, v.practised, finished_at=done)
    second = Planner(course).decide(after, goal=[1])
    assert second.kc == 0 and second.item != first.item
    # Every item of the KC finished: the one finished longest ago comes back, never the last one.
    all_done = nan.copy()
    all_done[[0, 1, 2]] = [-3.0, -2.0, -0.01]
    third = Planner(course).decide(LearnerView(v.now, v.later, v.practised, finished_at=all_done), goal=[1])
    assert third.kc == 0 and third.item != 2
    # A similar item also prefers one not yet finished.
    assert Planner(course).similar(after, first.item).item not in (first.item,)
    only = nan.copy()
    only[[0, 1]] = [-1.0, -0.5]
    similar = Planner(course).similar(LearnerView(v.now, v.later, v.practised, finished_at=only), 0)
    assert similar is not None and similar.item == 2


def test_a_course_with_one_item_still_serves_it() -> None:
    course = chain_course(n=1)
    v = view([LOW])
    done = np.array([-0.01])
    assert Planner(course).decide(LearnerView(v.now, v.later, v.practised, finished_at=done)).item == 0


def test_unlocking_value_prefers_the_goal_nearest_to_unlocked() -> None:
    # b → c → g2; a → g1. Both roots are on the fringe, equally far from mastery, each leading to one
    # goal: a is one of two KCs left in g1's way, b one of three in g2's, so a comes first (b would
    # win a tie: it comes first in the course).
    kcs = ["b", "c", "g2", "a", "g1"]
    course = CourseGraph(kcs, [(0, 1), (1, 2), (3, 4)], [PlanItem(k, (i,), 0.0) for i, k in enumerate(kcs)])
    assert course.names[Planner(course).decide(view([LOW] * 5), goal=[2, 4]).kc] == "a"
    # With c mastered (parked prerequisites do not count either), g2 is as near as g1: then the KC
    # nearer mastery itself wins.
    seen = [True, True, False, True, False]
    d = Planner(course).decide(view([LOW, HIGH, LOW, LOW + 1.0, LOW], practised=seen), goal=[2, 4])
    assert course.names[d.kc] == "a"
    d = Planner(course).decide(view([LOW + 1.0, HIGH, LOW, LOW, LOW], practised=seen), goal=[2, 4])
    assert course.names[d.kc] == "b"


def test_no_review_of_a_prerequisite_only_mastered_goals_need() -> None:
    course = chain_course(n=2)  # kc0 → kc1 (the goal)
    fading = view([HIGH, HIGH], later=[0.0, HIGH], practised=[True, True])
    d = Planner(course).decide(fading, goal=[1])
    assert d.kind != "review" or d.kc != 0
    # While the goal is still open, kc0 is reviewed (the goal builds on it).
    open_goal = view([HIGH, LOW], later=[0.0, LOW], practised=[True, True])
    assert (Planner(course).decide(open_goal, goal=[1]).kind, Planner(course).decide(open_goal, goal=[1]).kc) == (
        "review", 0)


def test_review_when_predicted_recall_will_fall() -> None:
    course = chain_course()
    # kc0 mastered now, but its recall a day later is predicted at ~50%: review it first.
    v = view([HIGH, HIGH, LOW, LOW], later=[0.0, HIGH, LOW, LOW])
    d = Planner(course).decide(v, goal=[3])
    assert (d.kc, d.kind) == (0, "review")
    assert d.reason.startswith("Review: your predicted recall of kc0 will fall")
    assert "50%" in d.reason
    # Never-practised KCs are not reviewed, however low their future prediction.
    unseen = view([HIGH, HIGH, LOW, LOW], later=[0.0, HIGH, LOW, LOW], practised=[False, True, False, False])
    assert Planner(course).decide(unseen, goal=[3]).kind == "new"


def test_difficulty_matches_target_success() -> None:
    course = chain_course(offsets=(-3.0, 0.0, 1.1, 3.0))
    # kc1 state 0: p(correct) ≈ sigmoid(offset); offset 1.1 gives ≈ 0.75.
    d = Planner(course).decide(view([HIGH, 0.0, LOW, LOW]), goal=[3])
    assert course.items[d.item].key == "kc1-1.1"
    assert abs(d.p_success - 0.75) < 0.05
    d = Planner(course, PlannerSettings(target_success=0.85)).decide(view([HIGH, 0.0, LOW, LOW]), goal=[3])
    assert course.items[d.item].key == "kc1-1.1"  # still the nearest of the four


def test_goal_weighting_prefers_shared_ancestors() -> None:
    # Roots a, b. a → g1, a → g2, b → g3: with goals {g1, g2, g3}, a unlocks two, b one.
    kcs = ["a", "b", "g1", "g2", "g3", "other"]
    edges = [(0, 2), (0, 3), (1, 4)]
    course = CourseGraph(kcs, edges, [PlanItem(k, (i,), 0.0) for i, k in enumerate(kcs)])
    anc = course.ancestor_matrix([2, 3, 4])
    assert anc.sum(0).tolist() == [2, 1, 1, 1, 1, 0]
    d = Planner(course).decide(view([LOW] * 6), goal=[2, 3, 4])
    assert d.kc == 0 and "leads to 2 of your goals" in d.reason
    # With only g3 as the goal, b comes first and unrelated KCs are never offered.
    assert Planner(course).decide(view([LOW] * 6), goal=[4]).kc == 1
    # All goals mastered: consolidation, with a reason that says so.
    d = Planner(course).decide(view([HIGH] * 5 + [LOW]), goal=[2, 3, 4])
    assert d.kind == "consolidate" and "mastered all your goals" in d.reason


def test_multi_kc_items_need_every_kc_ready() -> None:
    course = CourseGraph(
        ["a", "b", "c"], [(0, 1)], [PlanItem("ab", (0, 1), 0.0), PlanItem("bc", (1, 2), 0.0), PlanItem("c", (2,), 0.0)]
    )
    # a unmastered → b not ready → no item touching b; c is a root on the fringe.
    d = Planner(course).decide(view([LOW, LOW, LOW]), goal=[1, 2])
    assert course.items[d.item].key in {"ab", "c"}
    assert course.items[d.item].key != "bc"


def similar_course() -> CourseGraph:
    # a, b, c; items: four on exactly {a, b} at different difficulties, one on {a} only, one on {c}.
    items = [
        PlanItem("ab-0", (0, 1), 0.0),  # the original
        PlanItem("ab-easy", (0, 1), 1.0),
        PlanItem("ab-same", (0, 1), 0.1),
        PlanItem("ab-hard", (0, 1), -1.0),
        PlanItem("a-only", (0,), 0.0),
        PlanItem("c", (2,), 0.0),
    ]
    return CourseGraph(["a", "b", "c"], [(0, 1)], items)


def test_similar_item_practises_the_same_kcs_at_matched_difficulty() -> None:
    course = similar_course()
    keys = [i.key for i in course.items]
    v = view([0.0, 0.0, 0.0])
    d = Planner(course).similar(v, keys.index("ab-0"))
    assert d is not None and d.kind == "similar"
    assert course.items[d.item].key == "ab-same" and "the same skills" in d.reason and "about as hard" in d.reason
    # Excluding the nearest: an easier one on the same KCs beats a harder one as far away, and both
    # beat an item sharing only one KC at the original's exact difficulty.
    d = Planner(course).similar(v, keys.index("ab-0"), exclude=[keys.index("ab-same")])
    assert d is not None and course.items[d.item].key == "ab-easy" and "a little easier" in d.reason
    others = [keys.index(k) for k in ("ab-same", "ab-easy", "ab-hard")]
    d = Planner(course).similar(v, keys.index("ab-0"), exclude=others)
    assert d is not None and course.items[d.item].key == "a-only"
    # Never the item itself, never an item without a shared KC.
    assert Planner(course).similar(v, keys.index("c")) is None
    for n in range(len(keys) - 1):
        d = Planner(course).similar(v, n)
        assert d is None or (d.item != n and set(course.items[d.item].kcs) & set(course.items[n].kcs))


def test_baselines_share_the_interface() -> None:
    course = chain_course(offsets=(0.0, 1.0))
    v = view([HIGH, LOW, LOW, LOW])
    lowest = LowestMasteryPolicy(course).decide(v, goal=[3])
    assert lowest.kc in {1, 2, 3}
    order = CourseOrderPolicy(course)
    seq = []
    for _ in range(3):
        seq.append(order.decide(v, goal=[3]).item)
        order.record(seq[-1], True, 0.0)
    assert [course.items[i].key for i in seq] == ["kc0-1.0", "kc0-0.0", "kc1-1.0"]
    pool = {RandomPolicy(course, np.random.default_rng(s)).decide(v, goal=[1]).kc for s in range(20)}
    assert pool == {0, 1}  # only the lesson: the goal and its ancestors


def test_streak_policy_masters_after_three_and_reviews_on_schedule() -> None:
    course = chain_course()
    policy = StreakPolicy(course, review_interval_days=3.0)
    v = view([0.0] * 4)
    for t, correct in enumerate([True, False, True, True, True]):
        d = policy.decide(v, goal=[3])
        assert d.kc == 0
        policy.record(d.item, correct, 0.1 * t)
    assert policy.decide(v, goal=[3]).kc == 1
    later = LearnerView(v.now, v.later, v.practised, time=5.0)
    d = policy.decide(later, goal=[3])
    assert d.kc == 0 and d.reason.startswith("Reassessment")
    policy.record(d.item, False, 5.0)  # failed reassessment: back to relearning kc0
    assert math.isnan(policy.mastered_at[0])


def test_decision_is_fast_on_a_large_dag() -> None:
    from tutor.benchmarks.planner_sim import course_graph, random_dag

    sc = random_dag(3000, np.random.default_rng(1))
    course = course_graph(sc)
    planner = Planner(course)
    rng = np.random.default_rng(2)
    v = view(rng.normal(0.5, 2.0, 3000).tolist(), practised=(rng.random(3000) < 0.3).tolist())
    planner.decide(v, sc.goal)  # warm the goal cache
    start = time.perf_counter()
    for _ in range(5):
        planner.decide(v, sc.goal)
    assert (time.perf_counter() - start) / 5 < 0.2


def test_sim_smoke_run(tmp_path: Path) -> None:
    from tutor.benchmarks import planner_sim

    out = tmp_path / "sim.json"
    rc = planner_sim.main(
        ["--graph", "demo", "--learners", "2", "--items", "12", "--dag-kcs", "300", "--json", str(out),
         "--policies", "planner,lowest-mastery,3-in-a-row"]
    )  # fmt: skip
    assert rc == 0
    import json

    report = json.loads(out.read_text())
    demo = report["graphs"][0]
    assert set(demo["policies"]) == {"planner", "lowest-mastery", "3-in-a-row"}
    assert demo["latency_ms"]["n"] == 24
    assert 0 <= demo["policies"]["planner"]["mastered_12"][0] <= len(demo["goal"])
    assert 0 <= demo["policies"]["planner"]["retention"][0] <= 1
    assert set(demo["planner_vs"]) == {"lowest-mastery", "3-in-a-row"}
    assert report["practice_gain"] == list(planner_sim.PRACTICE_GAIN)
    assert report["dag_latency"]["n_kcs"] == 300
