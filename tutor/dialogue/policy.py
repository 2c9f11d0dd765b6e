"""Which teacher move now? The tutor's dialogue policy as a pure state machine.

The tutor teaches rather than tells (MathDial's move taxonomy; CLASS/SPOCK-style scaffolding):

* a correct attempt is praised and the step advances;
* a wrong attempt that matches a known misconception gets its targeted feedback (once per
  misconception: repeating the same words does not help, so a repeat climbs the ladder instead);
* any other wrong attempt first gets a probing question, then climbs the hint ladder;
* asking for a hint, or being stuck, climbs the ladder: authored hints, then subproblems (weak
  prerequisites first), and only then the bottom-out;
* the bottom-out — the only move that reveals the answer — needs the whole ladder used AND at least
  ``max_attempts_before_bottom_out`` attempts AND a course that allows telling. Asking for the
  answer, however phrased, before then gets a kind refusal and the next rung instead.

``decide`` does no I/O: the caller checks attempts (with ``current_spec``), classifies the message,
persists the returned ``StepProgress`` and hands ``Decision.authored_text`` to the phrasing layer.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from content.answers import AnswerSpec
from tutor.checking import CheckResult
from tutor.dialogue.intent import Intent


class Move(enum.StrEnum):
    PRAISE_ADVANCE = "praise_advance"
    MISCONCEPTION_FEEDBACK = "misconception_feedback"
    PROBE = "probe"
    HINT = "hint"
    OPEN_SUBPROBLEM = "open_subproblem"
    SUBPROBLEM_PRAISE = "subproblem_praise"
    EXPLAIN_CONCEPT = "explain_concept"
    BOTTOM_OUT = "bottom_out"
    REDIRECT = "redirect"
    ENCOURAGE = "encourage"


class MathDialCategory(enum.StrEnum):
    FOCUS = "focus"
    PROBING = "probing"
    TELLING = "telling"
    GENERIC = "generic"


MATHDIAL_CATEGORY: dict[Move, MathDialCategory] = {
    Move.PRAISE_ADVANCE: MathDialCategory.GENERIC,
    Move.MISCONCEPTION_FEEDBACK: MathDialCategory.FOCUS,
    Move.PROBE: MathDialCategory.PROBING,
    Move.HINT: MathDialCategory.FOCUS,
    Move.OPEN_SUBPROBLEM: MathDialCategory.FOCUS,
    Move.SUBPROBLEM_PRAISE: MathDialCategory.GENERIC,
    Move.EXPLAIN_CONCEPT: MathDialCategory.TELLING,
    Move.BOTTOM_OUT: MathDialCategory.TELLING,
    Move.REDIRECT: MathDialCategory.GENERIC,
    Move.ENCOURAGE: MathDialCategory.GENERIC,
}


@dataclass(frozen=True)
class SubproblemView:
    id: int
    prompt: str
    spec: AnswerSpec
    hints: tuple[str, ...] = ()
    kc_id: int | None = None


@dataclass(frozen=True)
class MisconceptionView:
    id: int
    feedback: str
    kc_id: int | None = None


@dataclass(frozen=True)
class ConceptView:
    """A knowledge component the step exercises; ``description`` grounds concept explanations."""

    kc_id: int
    name: str
    description: str


@dataclass(frozen=True)
class StepView:
    id: int
    spec: AnswerSpec
    prompt: str = ""
    hints: tuple[str, ...] = ()  # in order; the last one is the bottom-out
    subproblems: tuple[SubproblemView, ...] = ()
    misconceptions: tuple[MisconceptionView, ...] = ()
    explanation: str = ""
    worked_solution: tuple[str, ...] = ()  # paragraphs
    concepts: tuple[ConceptView, ...] = ()


@dataclass(frozen=True)
class StepProgress:
    attempts: int = 0  # readable attempts at the main step
    hints_given: int = 0  # rungs of the main ladder shown (the bottom-out is not counted here)
    probed: bool = False
    subproblem_index: int | None = None  # index into StepView.subproblems of the open one
    subproblem_attempts: int = 0
    subproblem_hints: int = 0
    subproblems_done: tuple[int, ...] = ()  # ids of subproblems opened and closed
    misconceptions_seen: tuple[int, ...] = ()
    bottomed_out: bool = False
    solved: bool = False


@dataclass(frozen=True)
class PolicySettings:
    max_attempts_before_bottom_out: int = 3
    allow_telling: bool = True


@dataclass(frozen=True)
class Decision:
    move: Move
    mathdial: MathDialCategory
    hint_level: int  # 0 = none; k = k-th rung (of the open subproblem's ladder when subproblem_id is set)
    authored_text: str  # the grounded text for this move
    released_answer: bool  # True only for bottom_out
    advance: bool
    progress: StepProgress
    subproblem_id: int | None = None
    misconception_id: int | None = None
    kc_id: int | None = None
    declined_answer: bool = False  # the student asked for the answer and is kindly refused
    offer_similar: bool = False  # after a bottom-out: offer a similar item to practise
    suggest_teacher: bool = False  # telling is off and the ladder is spent: ask the teacher
    notes: tuple[str, ...] = field(default_factory=tuple)


def _decision(
    move: Move,
    progress: StepProgress,
    text: str,
    *,
    hint_level: int = 0,
    subproblem_id: int | None = None,
    misconception_id: int | None = None,
    kc_id: int | None = None,
    declined_answer: bool = False,
    offer_similar: bool = False,
    suggest_teacher: bool = False,
    notes: tuple[str, ...] = (),
) -> Decision:
    return Decision(
        move=move,
        mathdial=MATHDIAL_CATEGORY[move],
        hint_level=hint_level,
        authored_text=text,
        released_answer=move == Move.BOTTOM_OUT,
        advance=move in (Move.PRAISE_ADVANCE, Move.BOTTOM_OUT),
        progress=progress,
        subproblem_id=subproblem_id,
        misconception_id=misconception_id,
        kc_id=kc_id,
        declined_answer=declined_answer,
        offer_similar=offer_similar,
        suggest_teacher=suggest_teacher,
        notes=notes,
    )


def subproblem_order(step: StepView, weak_kc_ids: Sequence[int] = ()) -> tuple[int, ...]:
    """Indices of the step's subproblems in the order to open them: those exercising a weak
    prerequisite first (weakest first, as given), then the rest in authored order."""
    rank = {kc: i for i, kc in enumerate(weak_kc_ids)}

    def key(i: int) -> tuple[int, int]:
        kc = step.subproblems[i].kc_id
        return (rank.get(kc, len(rank)) if kc is not None else len(rank), i)

    return tuple(sorted(range(len(step.subproblems)), key=key))


def current_spec(step: StepView, progress: StepProgress) -> AnswerSpec:
    """The specification the caller must check the next attempt against."""
    if progress.subproblem_index is not None:
        return step.subproblems[progress.subproblem_index].spec
    return step.spec


def _next_subproblem(step: StepView, progress: StepProgress, weak_kc_ids: Sequence[int]) -> int | None:
    for index in subproblem_order(step, weak_kc_ids):
        if step.subproblems[index].id not in progress.subproblems_done:
            return index
    return None


def _bottom_out_text(step: StepView) -> str:
    if step.hints:
        text = step.hints[-1]
    elif step.worked_solution:
        text = "\n\n".join(step.worked_solution)
    else:
        units = f" {step.spec.units}" if step.spec.units else ""
        text = f"The answer is {step.spec.answer}{units}."
    return f"{text}\n\n{step.explanation}" if step.explanation else text


def _latest_hint(step: StepView, progress: StepProgress) -> str:
    if progress.hints_given:
        return step.hints[progress.hints_given - 1]
    return step.prompt


def _escalate(
    step: StepView,
    progress: StepProgress,
    settings: PolicySettings,
    weak_kc_ids: Sequence[int],
    *,
    declined: bool = False,
) -> Decision:
    """One rung up the main ladder: hint, subproblem, then (only if allowed) the bottom-out."""
    non_final = max(len(step.hints) - 1, 0)
    if progress.hints_given < non_final:
        level = progress.hints_given + 1
        return _decision(
            Move.HINT, replace(progress, hints_given=level), step.hints[level - 1],
            hint_level=level, declined_answer=declined,
        )
    index = _next_subproblem(step, progress, weak_kc_ids)
    if index is not None:
        sub = step.subproblems[index]
        opened = replace(progress, subproblem_index=index, subproblem_attempts=0, subproblem_hints=0)
        return _decision(
            Move.OPEN_SUBPROBLEM, opened, sub.prompt,
            subproblem_id=sub.id, kc_id=sub.kc_id, declined_answer=declined,
        )
    spent = progress.attempts >= settings.max_attempts_before_bottom_out
    if spent and settings.allow_telling:
        return _decision(
            Move.BOTTOM_OUT, replace(progress, bottomed_out=True), _bottom_out_text(step),
            hint_level=len(step.hints), offer_similar=True,
        )
    if spent:
        return _decision(
            Move.ENCOURAGE, progress, _latest_hint(step, progress),
            hint_level=progress.hints_given, declined_answer=declined, suggest_teacher=True,
            notes=("ladder exhausted; telling is off for this course",),
        )
    return _decision(
        Move.ENCOURAGE, progress, _latest_hint(step, progress),
        hint_level=progress.hints_given, declined_answer=declined,
        notes=("ladder exhausted; the student should attempt before the answer is told",),
    )


_WORD = re.compile(r"[a-z]{3,}")


def _concept_for(step: StepView, message: str) -> ConceptView | None:
    """The concept whose name and description share most words with the question."""
    candidates = [c for c in step.concepts if c.description.strip()]
    if not candidates:
        return None
    asked = set(_WORD.findall(message.lower()))

    def overlap(concept: ConceptView) -> int:
        name_words = set(_WORD.findall(concept.name.lower()))
        body_words = set(_WORD.findall(concept.description.lower()))
        return 3 * len(asked & name_words) + len(asked & body_words)

    return max(candidates, key=overlap)  # max keeps the first on ties


def _probe_text(step: StepView, check: CheckResult) -> str:
    given = f"“{check.parsed}”" if check.parsed else "your answer"
    question = f" Look again at what this step asks: {step.prompt}" if step.prompt else ""
    return f"How did you get {given}? What does each number in the problem mean here?{question}"


def _close_subproblem(progress: StepProgress, sub: SubproblemView) -> StepProgress:
    return replace(
        progress,
        subproblem_index=None,
        subproblem_attempts=0,
        subproblem_hints=0,
        subproblems_done=(*progress.subproblems_done, sub.id),
    )


def _decide_subproblem(
    step: StepView,
    progress: StepProgress,
    intent: Intent,
    check: CheckResult | None,
    settings: PolicySettings,
    weak_kc_ids: Sequence[int],
) -> Decision | None:
    """The move while a subproblem is open, or None to fall through to the main-step rules."""
    assert progress.subproblem_index is not None
    sub = step.subproblems[progress.subproblem_index]

    def sub_escalate(p: StepProgress, *, declined: bool = False) -> Decision:
        if p.subproblem_hints < len(sub.hints):
            level = p.subproblem_hints + 1
            return _decision(
                Move.HINT, replace(p, subproblem_hints=level), sub.hints[level - 1],
                hint_level=level, subproblem_id=sub.id, kc_id=sub.kc_id, declined_answer=declined,
            )
        # This scaffold's own ladder is spent: close it and go on with the main ladder.
        return _escalate(step, _close_subproblem(p, sub), settings, weak_kc_ids, declined=declined)

    if intent == Intent.ATTEMPT:
        if check is None:
            raise ValueError("An attempt needs the CheckResult for current_spec(step, progress).")
        if check.status == "unreadable":
            return _decision(Move.ENCOURAGE, progress, check.message, subproblem_id=sub.id)
        if check.status == "correct":
            closed = _close_subproblem(progress, sub)
            index = _next_subproblem(step, closed, weak_kc_ids)
            if index is None:
                return _decision(Move.SUBPROBLEM_PRAISE, closed, step.prompt, subproblem_id=sub.id,
                                 kc_id=sub.kc_id)
            nxt = step.subproblems[index]
            return _decision(
                Move.SUBPROBLEM_PRAISE, replace(closed, subproblem_index=index), nxt.prompt,
                subproblem_id=sub.id, kc_id=sub.kc_id, notes=(f"next subproblem {nxt.id}",),
            )
        tried = replace(progress, subproblem_attempts=progress.subproblem_attempts + 1)
        if check.partial and check.message:
            return _decision(Move.PROBE, tried, check.message, subproblem_id=sub.id, kc_id=sub.kc_id)
        return sub_escalate(tried)
    if intent in (Intent.ASKS_HINT, Intent.STUCK):
        return sub_escalate(progress)
    if intent == Intent.ASKS_ANSWER:
        return sub_escalate(progress, declined=True)
    return None


def decide(
    *,
    step: StepView,
    progress: StepProgress,
    intent: Intent,
    check: CheckResult | None = None,
    settings: PolicySettings | None = None,
    weak_kc_ids: Sequence[int] = (),
    message: str = "",
    main_check: CheckResult | None = None,
) -> Decision:
    """The next teacher move.

    ``check`` is the result for ``current_spec(step, progress)`` (the open subproblem's spec when one
    is open); ``main_check`` optionally checks the same message against the main step while a
    subproblem is open, so a student who jumps ahead to the final answer is not held back.
    ``message`` is the student's text, used only to pick the concept a question is about.
    ``weak_kc_ids`` (weakest first) come from the learner model and order the subproblems.
    """
    settings = settings or PolicySettings()
    if intent == Intent.ATTEMPT and main_check is not None and main_check.correct:
        return _decision(Move.PRAISE_ADVANCE, replace(progress, solved=True, subproblem_index=None),
                         step.explanation)
    if progress.bottomed_out and not (intent == Intent.ATTEMPT and check is not None and check.correct):
        return _decision(Move.BOTTOM_OUT, progress, _bottom_out_text(step), hint_level=len(step.hints),
                         offer_similar=True)
    if progress.subproblem_index is not None:
        decided = _decide_subproblem(step, progress, intent, check, settings, weak_kc_ids)
        if decided is not None:
            return decided

    if intent == Intent.ATTEMPT:
        if check is None:
            raise ValueError("An attempt needs the CheckResult for current_spec(step, progress).")
        if check.status == "unreadable":
            return _decision(Move.ENCOURAGE, progress, check.message)
        if check.status == "correct":
            return _decision(Move.PRAISE_ADVANCE, replace(progress, solved=True), step.explanation)
        tried = replace(progress, attempts=progress.attempts + 1)
        known = {m.id: m for m in step.misconceptions}
        mid = check.misconception_id
        if mid is not None and mid in known and mid not in progress.misconceptions_seen:
            seen = replace(tried, misconceptions_seen=(*tried.misconceptions_seen, mid))
            return _decision(Move.MISCONCEPTION_FEEDBACK, seen, known[mid].feedback,
                             misconception_id=mid, kc_id=known[mid].kc_id)
        if check.partial and check.message:
            return _decision(Move.PROBE, tried, check.message)
        if not tried.probed:
            return _decision(Move.PROBE, replace(tried, probed=True), _probe_text(step, check))
        return _escalate(step, tried, settings, weak_kc_ids)
    if intent in (Intent.ASKS_HINT, Intent.STUCK):
        return _escalate(step, progress, settings, weak_kc_ids)
    if intent == Intent.ASKS_ANSWER:
        return _escalate(step, progress, settings, weak_kc_ids, declined=True)
    if intent == Intent.CONCEPT_QUESTION:
        concept = _concept_for(step, message)
        if concept is None:  # nothing authored to ground an explanation: help with the step instead
            return _escalate(step, progress, settings, weak_kc_ids)
        return _decision(Move.EXPLAIN_CONCEPT, progress, concept.description, kc_id=concept.kc_id)
    # Off topic or small talk: back to whatever question is open.
    focus = step.prompt
    if progress.subproblem_index is not None:
        focus = step.subproblems[progress.subproblem_index].prompt
    if intent == Intent.OFF_TOPIC:
        return _decision(Move.REDIRECT, progress, focus)
    return _decision(Move.ENCOURAGE, progress, focus)
