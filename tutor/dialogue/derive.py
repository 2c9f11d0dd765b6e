"""Scaffolding for steps nobody authored hints for (e.g. imported MathDial / GSM8K items), derived
from the worked solution:

* the hint ladder is the solution's sentences in order with the final answer masked, then a
  bottom-out rung that states it;
* each intermediate computation with a numeric result ("36/6 = 6 combos") becomes a subproblem
  ("What is 36/6?", answer 6) — unless its result is the final answer, and only if the arithmetic
  checks out (published solutions do contain slips).

Derived subproblems have negative ids (-1, -2, …) so they never collide with authored rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import check_answer
from tutor.dialogue.policy import StepView, SubproblemView

MASK = "?"
TIMES = "\u00d7"  # multiplication sign

_NUMBER = re.compile(r"(?<![\w.])(?P<cur>\$)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d])")
_OPERAND = r"\$?\d+(?:,\d{3})*(?:\.\d+)?"
_COMPUTATION = re.compile(
    rf"(?P<expr>{_OPERAND}(?:\s*[-+x{TIMES}*/\u00f7]\s*{_OPERAND})+)\s*=\s*(?P<result>{_OPERAND})(?![\d])"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_FINAL_LINE = re.compile(r"^\s*(?:#{2,}\s*)?(?:the\s+answer\s+is\s*:?\s*)?(?P<answer>[-$\d.,/ ]+?)\s*\.?\s*$",
                         re.IGNORECASE)


@dataclass(frozen=True)
class DerivedScaffold:
    hints: tuple[str, ...]  # the last one is the bottom-out and states the answer
    subproblems: tuple[SubproblemView, ...]
    final_answer: str


def _number_value(text: str) -> float | None:
    try:
        return float(text.replace("$", "").replace(",", "").strip())
    except ValueError:
        return None


def split_solution(worked_solution: str | Sequence[str]) -> tuple[list[str], str]:
    """(reasoning sentences, final answer found on a trailing answer-only line or "")."""
    text = worked_solution if isinstance(worked_solution, str) else "\n".join(worked_solution)
    text = text.replace("\\n", "\n")  # MathDial's ground_truth keeps escaped newlines
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    final = ""
    if lines:
        m = _FINAL_LINE.match(lines[-1])
        if m and any(ch.isdigit() for ch in m.group("answer")):
            final = m.group("answer").strip().lstrip("$")
            lines = lines[:-1]
    sentences = [s.strip() for line in lines for s in _SENTENCE_END.split(line) if s.strip()]
    return sentences, final


def _mask(sentence: str, final: str) -> str:
    """The sentence with every mention of the final answer replaced by ``MASK``."""
    value = _number_value(final)
    if value is None:
        return re.sub(re.escape(final), MASK, sentence, flags=re.IGNORECASE) if final else sentence

    def swap(m: re.Match[str]) -> str:
        number = _number_value(m.group("num"))
        if number is not None and abs(number - value) <= 1e-9 * max(1.0, abs(value)):
            return (m.group("cur") or "") + MASK
        return m.group(0)

    return _NUMBER.sub(swap, sentence)


def _subproblems(sentences: Sequence[str], final: str) -> tuple[SubproblemView, ...]:
    final_value = _number_value(final) if final else None
    out: list[SubproblemView] = []
    seen: set[str] = set()
    for sentence in sentences:
        for m in _COMPUTATION.finditer(sentence):
            result = m.group("result").replace("$", "").replace(",", "")
            value = _number_value(result)
            if value is None or (final_value is not None and abs(value - final_value) < 1e-9):
                continue
            shown = re.sub(r"\s*([-+x*/\u00d7\u00f7])\s*", r" \1 ", m.group("expr"))
            shown = shown.replace(" x ", f" {TIMES} ").replace(" * ", f" {TIMES} ").replace(" / ", "/")
            plain = shown.replace(TIMES, "*").replace("\u00f7", "/").replace("$", "").replace(",", "")
            if plain in seen:
                continue
            # Keep only arithmetic that is right: the checker evaluates the expression for us.
            if check_answer(AnswerSpec(kind=AnswerKind.EXPRESSION, answer=plain), result).status != "correct":
                continue
            seen.add(plain)
            out.append(
                SubproblemView(
                    id=-(len(out) + 1),
                    prompt=f"What is {shown}?",
                    spec=AnswerSpec(kind=AnswerKind.NUMERIC, answer=result),
                )
            )
    return tuple(out)


def derive_scaffold(*, worked_solution: str | Sequence[str], final_answer: str = "") -> DerivedScaffold:
    """A hint ladder and subproblems from a worked solution. ``final_answer`` defaults to the
    solution's trailing answer line (MathDial / GSM8K style: "... = 30 pens.\\n 30")."""
    sentences, trailing = split_solution(worked_solution)
    final = final_answer.strip() or trailing
    if not sentences:
        bottom = f"The answer is {final}." if final else ""
        return DerivedScaffold(hints=(bottom,) if bottom else (), subproblems=(), final_answer=final)
    ladder = [_mask(sentence, final) for sentence in sentences]
    last = sentences[-1] if sentences[-1][-1:] in ".!?" else sentences[-1] + "."
    bottom = last + (f" So the answer is {final}." if final else "")
    return DerivedScaffold(
        hints=(*ladder, bottom),
        subproblems=_subproblems(sentences, final),
        final_answer=final,
    )


def with_derived_scaffold(step: StepView) -> StepView:
    """``step`` with a derived ladder and subproblems when it has neither authored."""
    if step.hints or step.subproblems or not step.worked_solution:
        return step
    derived = derive_scaffold(worked_solution=step.worked_solution, final_answer=step.spec.answer)
    return replace(step, hints=derived.hints, subproblems=derived.subproblems)
