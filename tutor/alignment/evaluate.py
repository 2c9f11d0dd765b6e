"""Base against aligned on held-out dialogue states: raw samples at the serving temperature, one per
state (no best-of-N, no guard), judged by the guard, the reward model and the falsehood checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tutor.alignment.falsehoods import confirms_wrong_guess, false_arithmetic, wrong_final_answer
from tutor.alignment.mrbench import DIMENSIONS
from tutor.alignment.preferences import judge
from tutor.alignment.states import DialogueState, context_for_reward


def paired_ci(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Mean of b - a with a normal-approximation 95% interval (paired by state)."""
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n) if n else 0.0
    return {"mean_diff": round(mean, 4), "ci95_low": round(mean - half, 4), "ci95_high": round(mean + half, 4)}


def figures(reward_model: Any, states: Sequence[DialogueState], replies: Sequence[str]) -> dict[str, Any]:
    """Per-reply records and the shares over them."""
    from tutor.alignment.reward_model import expected_values

    judged = judge(reward_model, states, replies)
    values = expected_values(reward_model.probabilities([context_for_reward(s) for s in states], list(replies)))
    records: list[dict[str, Any]] = []
    for state, reply, j, v in zip(states, replies, judged, values.tolist(), strict=True):
        records.append({
            "state": state.id, "move": state.move, "reply": reply, "passed_guard": j.passed,
            "reveals_early": j.reveals and not state.released, "follows_move": j.follows_move,
            "false_arithmetic": false_arithmetic(reply), "wrong_final_answer": wrong_final_answer(reply, state.answer),
            "confirmed_wrong_guess": confirms_wrong_guess(reply, state.student_correct),
            "reward": j.reward, "dimensions": dict(zip(DIMENSIONS, [round(x, 4) for x in v], strict=True)),
            "guard_reasons": list(j.reasons),
        })
    n = len(records)

    def share(key: str) -> float:
        return round(sum(bool(r[key]) for r in records) / n, 4)

    summary: dict[str, Any] = {k: share(k) for k in ("reveals_early", "passed_guard", "follows_move",
                                                     "false_arithmetic", "wrong_final_answer",
                                                     "confirmed_wrong_guess")}
    summary["any_falsehood"] = round(sum(r["false_arithmetic"] or r["wrong_final_answer"] or
                                         r["confirmed_wrong_guess"] for r in records) / n, 4)
    summary["reward_mean"] = round(sum(r["reward"] for r in records) / n, 4)
    for d in DIMENSIONS:
        summary[d] = round(sum(r["dimensions"][d] for r in records) / n, 4)
    return {"summary": summary, "records": records}


def compare(base: dict[str, Any], aligned: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for d in [*DIMENSIONS]:
        out[d] = paired_ci([r["dimensions"][d] for r in base["records"]],
                           [r["dimensions"][d] for r in aligned["records"]])
    out["reward"] = paired_ci([r["reward"] for r in base["records"]], [r["reward"] for r in aligned["records"]])
    return out
