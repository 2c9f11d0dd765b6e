"""Preference pairs: from MRBench's human labels, and from sampled replies judged by guard + reward model.

Every pair is {"prompt": chat messages, "chosen": [assistant message], "rejected": [assistant message]}
(trl's conversational preference format).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.alignment.mrbench import Example
from tutor.alignment.states import DialogueState, context_for_reward, prompt_messages
from tutor.guard import guard_check

MRBENCH_SYSTEM = (
    "You are a patient, encouraging math tutor for a school student. You never give away the final answer. "
    "Reply to the student's last message in one to three short sentences: show where the mistake is and "
    "guide the student to the next step."
)
MIN_LABEL_GAP = 3  # sum of the four labels (0..8): chosen must beat rejected by at least this
MIN_JUDGE_GAP = 0.25


def human_pairs(examples: Sequence[Example], *, max_pairs: int | None = None) -> list[dict[str, Any]]:
    """Per conversation, the best-labelled response against the worst one (when they differ enough)."""
    by_conversation: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_conversation[e.conversation_id].append(e)
    pairs = []
    for conversation_id in sorted(by_conversation):
        ranked = sorted(by_conversation[conversation_id], key=lambda e: (sum(e.labels), e.tutor))
        worst, best = ranked[0], ranked[-1]
        if sum(best.labels) - sum(worst.labels) < MIN_LABEL_GAP:
            continue
        prompt = [{"role": "system", "content": MRBENCH_SYSTEM},
                  {"role": "user", "content": best.context[-1200:]}]
        pairs.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": best.response}],
                      "rejected": [{"role": "assistant", "content": worst.response}],
                      "source": "mrbench", "id": conversation_id})
    return pairs[:max_pairs] if max_pairs is not None else pairs


@dataclass(frozen=True)
class Judgement:
    reply: str
    passed: bool
    reveals: bool
    follows_move: bool
    guard_score: float
    reward: float  # reward model, 0 when the reply reveals the answer early
    reasons: tuple[str, ...]

    @property
    def value(self) -> float:
        """The number pairs are ranked by: the guard's verdict first, then the reward model."""
        if self.reveals:
            return -1.0
        return (1.0 if self.passed else 0.0) + 0.5 * self.guard_score + self.reward


MOVE_FAILURES = ("asks none", "shares almost nothing", "repeats itself")


def guard_verdict(state: DialogueState, reply: str) -> Any:
    return guard_check(reply, answer=state.answer, answer_forms=state.answer_forms, released=state.released,
                       authored_text=state.authored_text, allowed_numbers=state.allowed_numbers, move=state.move)


def judge(reward_model: Any, states: Sequence[DialogueState], replies: Sequence[str]) -> list[Judgement]:
    """Guard verdict and reward for each (state, reply)."""
    from tutor.alignment.reward_model import reward

    verdicts = [guard_verdict(s, r) for s, r in zip(states, replies, strict=True)]
    probs = reward_model.probabilities([context_for_reward(s) for s in states], list(replies))
    rewards = reward(probs, [v.reveals_answer for v in verdicts])
    return [
        Judgement(reply=r, passed=v.passed, reveals=v.reveals_answer,
                  follows_move=not any(f in reason for reason in v.reasons for f in MOVE_FAILURES),
                  guard_score=v.score, reward=w, reasons=tuple(v.reasons))
        for r, v, w in zip(replies, verdicts, rewards, strict=True)
    ]


def sampled_pairs(reward_model: Any, states: Sequence[DialogueState],
                  samples: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    """Best against worst of each state's sampled replies, when the judge tells them apart."""
    pairs = []
    for state, replies in zip(states, samples, strict=True):
        judged = judge(reward_model, [state] * len(replies), list(replies))
        judged.sort(key=lambda j: j.value)
        worst, best = judged[0], judged[-1]
        if best.value - worst.value < MIN_JUDGE_GAP or not best.reply.strip():
            continue
        pairs.append({"prompt": prompt_messages(state), "chosen": [{"role": "assistant", "content": best.reply}],
                      "rejected": [{"role": "assistant", "content": worst.reply}], "source": "sampled",
                      "id": state.id, "margin": round(best.value - worst.value, 4)})
    return pairs


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
