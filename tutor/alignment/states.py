"""Dialogue states to phrase: a course pack's steps, a scripted simulated student, the policy's moves.

Each step is played against one fixed script of student messages (a known misconception, another wrong
number, "I'm stuck", asking for the answer, asking for a hint, then the right answer). After each
message the dialogue policy (``tutor.dialogue``) picks the move, and the state records everything the
phrasing prompt and the guard need. Items are split into training and held-out by a hash of their
slug, so no training step ever sees a held-out item's states.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import MisconceptionPattern, check_answer
from tutor.dialogue import (
    Intent,
    MisconceptionView,
    Move,
    StepProgress,
    StepView,
    SubproblemView,
    classify,
    current_spec,
    decide,
)
from tutor.dialogue.instructions import tutor_messages

DEFAULT_PACK = Path("content") / "fixtures" / "demo_course.json"
HELD_OUT_SHARE = 4  # one item in four (by slug hash) is held out
SERVING_TEMPERATURE = 0.3  # tutor.engine's temperature for the first candidate

@dataclass(frozen=True)
class DialogueState:
    id: str
    item: str
    statement: str
    step_prompt: str
    history: list[tuple[str, str]]  # (role, text), oldest first; the last is the student's message
    move: str
    authored_text: str
    released: bool
    answer: str
    answer_forms: list[str]
    student_correct: bool | None  # the last message, when it was an attempt
    allowed_numbers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DialogueState:
        data = dict(data)
        data["history"] = [tuple(t) for t in data["history"]]
        return cls(**data)


def prompt_messages(state: DialogueState) -> list[dict[str, str]]:
    """The chat the tutor sends the model for this state (``tutor_messages``, as serving builds it)."""
    return tutor_messages(move=state.move, authored_text=state.authored_text, statement=state.statement,
                          step_prompt=state.step_prompt, history=list(state.history))


def context_for_reward(state: DialogueState) -> str:
    """The state as an MRBench-style conversation history, for the reward model."""
    lines = [f"Tutor: Let's solve this problem: {state.statement} {state.step_prompt}"]
    lines += [f"{'Student' if role == 'student' else 'Tutor'}: {text}" for role, text in state.history]
    return "\n".join(lines)


def held_out(item_slug: str) -> bool:
    return int(hashlib.sha256(item_slug.encode()).hexdigest(), 16) % HELD_OUT_SHARE == 0


def _spec(answer: dict[str, Any]) -> AnswerSpec:
    return AnswerSpec(
        kind=AnswerKind(answer["kind"]), answer=str(answer["value"]), tolerance=float(answer.get("tolerance", 0.0)),
        units=answer.get("units", ""), choices=tuple(answer.get("choices", ())),
        variants=tuple(str(v) for v in answer.get("variants", ())),
    )


def _step_view(step: dict[str, Any], index: int) -> tuple[StepView, list[MisconceptionPattern]]:
    subs = tuple(
        SubproblemView(id=i + 1, prompt=s["prompt"], spec=_spec(s["answer"]), hints=tuple(s.get("hints", ())))
        for i, s in enumerate(step.get("subproblems", ()))
    )
    mis = step.get("misconceptions", ())
    view = StepView(
        id=index, spec=_spec(step["answer"]), prompt=step["prompt"], hints=tuple(step.get("hints", ())),
        subproblems=subs,
        misconceptions=tuple(MisconceptionView(id=i + 1, feedback=m["feedback"]) for i, m in enumerate(mis)),
    )
    patterns = [MisconceptionPattern(id=i + 1, pattern_kind=m["pattern_kind"], pattern=m["pattern"])
                for i, m in enumerate(mis)]
    return view, patterns


def _wrong_number(answer: str) -> str:
    try:
        value = float(answer)
    except ValueError:
        return "I think it is 12"
    wrong = value + 3 if value != -3 else 4
    return f"I think it is {int(wrong) if wrong == int(wrong) else wrong}"


def _script(step: dict[str, Any]) -> list[str]:
    script = []
    for m in step.get("misconceptions", ()):
        if m["pattern_kind"] == "answer":
            script.append(f"Is it {m['pattern']}?")
            break
    script += [_wrong_number(str(step["answer"]["value"])), "I'm stuck, I don't know what to do.",
               "Can you just tell me the answer?", "Give me a hint please.", str(step["answer"]["value"])]
    return script


def states_from_pack(pack: dict[str, Any]) -> list[DialogueState]:
    states: list[DialogueState] = []
    for item in pack["items"]:
        for s, step in enumerate(item["steps"]):
            view, patterns = _step_view(step, s + 1)
            forms = list(dict.fromkeys([view.spec.answer, *view.spec.variants]))
            progress = StepProgress()
            history: list[tuple[str, str]] = []
            for t, message in enumerate(_script(step)):
                intent = classify(message, view)
                spec = current_spec(view, progress)
                on_sub = progress.subproblem_index is not None
                check = main_check = None
                if intent == Intent.ATTEMPT:
                    check = check_answer(spec, message, () if on_sub else patterns)
                    if on_sub:
                        main_check = check_answer(view.spec, message, patterns)
                decision = decide(step=view, progress=progress, intent=intent, check=check, main_check=main_check,
                                  message=message)
                history = [*history, ("student", message)]
                correct = None if check is None else bool(check.correct or (main_check and main_check.correct))
                if decision.authored_text.strip():
                    states.append(DialogueState(
                        id=f"{item['slug']}/{s + 1}/{t + 1}", item=item["slug"], statement=item["statement"],
                        step_prompt=step["prompt"], history=list(history), move=str(decision.move),
                        authored_text=decision.authored_text, released=decision.released_answer,
                        answer=view.spec.answer, answer_forms=forms, student_correct=correct,
                        allowed_numbers=[item["statement"], step["prompt"], *(m for r, m in history if r == "student")],
                    ))
                history = [*history, ("tutor", decision.authored_text)]
                progress = decision.progress
                if decision.move in (Move.PRAISE_ADVANCE, Move.BOTTOM_OUT):
                    break
    return states


def load_states(pack_path: Path = DEFAULT_PACK) -> tuple[list[DialogueState], list[DialogueState]]:
    """(training states, held-out states) from a course pack."""
    states = states_from_pack(json.loads(Path(pack_path).read_text(encoding="utf-8")))
    return [s for s in states if not held_out(s.item)], [s for s in states if held_out(s.item)]
