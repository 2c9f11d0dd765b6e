"""Which teacher move now? The tutor's dialogue policy as a pure state machine.

The tutor teaches rather than tells (MathDial's move taxonomy; CLASS/SPOCK-style scaffolding), and
it listens:

* a correct attempt is praised and the step advances;
* a wrong attempt is called wrong, plainly and kindly, quoting the number the checker read; one
  that matches a known misconception gets its targeted feedback (once per misconception: repeating
  the same words does not help, so a repeat climbs the ladder instead); any other first gets a
  probing question, then climbs the hint ladder;
* the ladder advances on effort, not on demands: an attempt, a hint request or "I'm stuck" climbs
  it (authored hints, then subproblems, weak prerequisites first) — though a second request with no
  try since the last rung is first asked to try that rung (help abuse, in Aleven's terms), and only
  a third climbs; asking for the answer, begging,
  "ignore your instructions" or role-play get an acknowledgement, a plain statement that the answer
  is not coming yet and why, and the next useful step, and the ladder stays where it is;
* at the end of the ladder comes the bottom-out — the only move that tells the answer — once the
  student has made ``max_attempts_before_bottom_out`` attempts (an "I'm stuck" at the end of the
  ladder after trying counts as one) in a course that allows telling; where telling is off, the
  student is sent to their teacher and offered a similar problem;
* a question ("why…?", "what does … mean?") gets an explanation grounded in the course's own
  content (the step's explanation, the KCs' descriptions, the worked solution's reasoning, the
  hints), during the problem and after it;
* feelings are acknowledged; off-topic chatter is brought back to the open question.

``decide`` does no I/O: the caller checks attempts (with ``current_spec``), classifies the message,
persists the returned ``StepProgress`` and hands ``Decision.authored_text`` to the phrasing layer.
Every move also offers ``alternatives``: other grounded wordings in order of preference, so the
caller can avoid repeating a reply word for word and drop any that would state the answer early.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import product

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import CheckResult
from tutor.dialogue import explain
from tutor.dialogue.intent import Intent, acknowledgement, is_manipulation


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
    DECLINE_ANSWER = "decline_answer"  # asked for the answer: not yet, why, and the next step
    REFER_TEACHER = "refer_teacher"  # ladder spent where telling is off: the teacher, a similar problem
    POINT_NEXT = "point_next"  # the problem is finished: the way forward


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
    Move.DECLINE_ANSWER: MathDialCategory.FOCUS,
    Move.REFER_TEACHER: MathDialCategory.GENERIC,
    Move.POINT_NEXT: MathDialCategory.GENERIC,
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
    derived: bool = False  # the hints and subproblems were derived from the worked solution
    # The question as the student first meets it: the problem's own question where the step's prompt
    # would give its set-up away ("Compute -7 + 12 to find …"); "" means the prompt.
    question: str = ""
    # The worked solution's reasoning that may be explained from before the answer is out (results
    # and the sentence that gives the answer left out); () means none.
    reasoning: tuple[str, ...] = ()
    whole_item: bool = False  # the item has this one step: its worked solution is the worked answer


@dataclass(frozen=True)
class StepProgress:
    attempts: int = 0  # readable wrong attempts at the main step
    hints_given: int = 0  # rungs of the main ladder shown (the bottom-out is not counted here)
    probed: bool = False
    subproblem_index: int | None = None  # index into StepView.subproblems of the open one
    subproblem_attempts: int = 0
    subproblem_hints: int = 0
    subproblems_done: tuple[int, ...] = ()  # ids of subproblems opened and closed
    misconceptions_seen: tuple[int, ...] = ()
    bottomed_out: bool = False
    solved: bool = False
    declines: int = 0  # requests for the answer refused
    stuck_after_trying: int = 0  # "I'm stuck" at the end of the ladder after an attempt (effort)
    nudges: int = 0  # "have a go" replies at the end of the ladder
    unearned: int = 0  # rungs given on request since the student last tried or asked a question
    asked_to_try: bool = False  # the last help request was answered with "try that first"


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
    released_answer: bool  # True only for bottom_out: the tutor tells the answer
    advance: bool
    progress: StepProgress
    subproblem_id: int | None = None
    misconception_id: int | None = None
    kc_id: int | None = None
    declined_answer: bool = False  # the student asked for the answer and is kindly refused
    offer_similar: bool = False  # offer a similar item to practise (after the worked answer, or the teacher)
    suggest_teacher: bool = False  # telling is off and the ladder is spent: ask the teacher
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Other grounded wordings of the same move, in order of preference: the caller uses the first
    # that it has not sent before in this conversation and that does not state the answer early.
    alternatives: tuple[str, ...] = ()
    answer_public: bool = False  # the answer may be stated: told by the tutor or given by the student


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
    alternatives: Sequence[str] = (),
    answer_public: bool = False,
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
        alternatives=tuple(a for a in dict.fromkeys(alternatives) if a and a != text),
        answer_public=answer_public or move in (Move.BOTTOM_OUT, Move.PRAISE_ADVANCE),
    )


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _rotate(options: Sequence[str], start: int) -> list[str]:
    """``options`` starting at ``start`` (wrapping): successive replies begin differently."""
    if not options:
        return []
    k = start % len(options)
    return [*options[k:], *options[:k]]


def subproblem_order(step: StepView, weak_kc_ids: Sequence[int] = ()) -> tuple[int, ...]:
    """Indices of the step's subproblems in the order to open them: those exercising a weak
    prerequisite first (weakest first, as given), then the rest in authored order. Derived
    subproblems follow the worked solution, so they keep its order."""
    if step.derived:
        return tuple(range(len(step.subproblems)))
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


def _question(step: StepView) -> str:
    return step.question or step.prompt


def _focus(step: StepView, progress: StepProgress) -> str:
    """What the student is working on now: the open subproblem, the latest hint, or the question."""
    if progress.subproblem_index is not None:
        return step.subproblems[progress.subproblem_index].prompt
    if progress.hints_given:
        return step.hints[progress.hints_given - 1]
    return _question(step)


def _ladder_spent(step: StepView, progress: StepProgress, weak_kc_ids: Sequence[int]) -> bool:
    return (
        progress.subproblem_index is None
        and progress.hints_given >= max(len(step.hints) - 1, 0)
        and _next_subproblem(step, progress, weak_kc_ids) is None
    )


def _effort(progress: StepProgress) -> int:
    return progress.attempts + progress.stuck_after_trying


def _tries(n: int) -> str:
    return "1 more try" if n == 1 else f"{n} more tries"


def _bottom_out_text(step: StepView) -> str:
    if step.whole_item and step.worked_solution:
        text = "\n\n".join(step.worked_solution)
        if step.hints and step.hints[-1] not in text and not step.derived:
            text = f"{text}\n\n{step.hints[-1]}"
    elif step.hints:
        text = step.hints[-1]
    elif step.worked_solution:
        text = "\n\n".join(step.worked_solution)
    else:
        units = f" {step.spec.units}" if step.spec.units else ""
        text = f"The answer is {step.spec.answer}{units}."
    if step.explanation and step.explanation not in text:
        text = f"{text}\n\n{step.explanation}"
    return f"Here is the worked answer.\n\n{text}"


# --- what the student gave ---------------------------------------------------------------------

_LEADING_NUMBER = re.compile(r"^[-+\u2212]?(?:\d[\d,\u202f\u2009 ]*(?:\.\d+)?(?:\s*/\s*\d+)?|\.\d+)%?")


def shown_answer(check: CheckResult, spec: AnswerSpec) -> str:
    """The student's answer as the checker read it, for quoting: for a number the number (and its
    unit where the step has units), never the words that happened to follow it ("15. If")."""
    parsed = " ".join((check.parsed or "").split())
    if not parsed or spec.kind != AnswerKind.NUMERIC:
        return parsed
    m = _LEADING_NUMBER.match(parsed)
    if m is None:
        return parsed
    number = m.group(0).strip().rstrip(".,")
    unit = parsed[m.end() :].strip()
    return f"{number} {unit}" if unit and spec.units else number


def _quoted(shown: str) -> str:
    return f"“{shown}”" if shown else "That"


def _not_right(shown: str, nth: int) -> list[str]:
    """Plain, kind ways to say an answer is wrong, the ``nth`` wrong attempt's first."""
    q = _quoted(shown)
    return _rotate([
        f"Not quite — {q} isn't right.",
        f"{q} isn't right either.",
        f"That's still not it: {q} isn't the answer.",
        f"Not yet — {q} isn't right.",
    ], nth - 1)


def _praise(step: StepView, progress: StepProgress, check: CheckResult) -> Decision:
    shown = shown_answer(check, step.spec)
    yes = [f"Yes — {_quoted(shown)} is right. Well done!", f"That's right: {shown}. Well done!"] if shown else [
        "Yes, that's right. Well done!", "That's right — well done!"]
    texts = [_join(y, step.explanation) for y in yes]
    return _decision(Move.PRAISE_ADVANCE, progress, texts[0], alternatives=texts[1:])


# --- moves -------------------------------------------------------------------------------------


def _escalate(
    step: StepView,
    progress: StepProgress,
    settings: PolicySettings,
    weak_kc_ids: Sequence[int],
    *,
    lead: Sequence[str] = ("",),
    help_request: bool = False,
) -> Decision:
    """One rung up the main ladder: hint, subproblem, then the end of the ladder."""
    non_final = max(len(step.hints) - 1, 0)
    if progress.hints_given < non_final:
        level = progress.hints_given + 1
        hint = step.hints[level - 1]
        return _decision(Move.HINT, replace(progress, hints_given=level), _join(lead[0], hint),
                         hint_level=level, alternatives=[_join(lead_, hint) for lead_ in lead[1:]])
    index = _next_subproblem(step, progress, weak_kc_ids)
    if index is not None:
        sub = step.subproblems[index]
        opened = replace(progress, subproblem_index=index, subproblem_attempts=0, subproblem_hints=0)
        intro = "Let's try a smaller question first:" if not step.derived else "Let's work out one part first:"
        return _decision(Move.OPEN_SUBPROBLEM, opened, _join(lead[0], intro, sub.prompt), subproblem_id=sub.id,
                         kc_id=sub.kc_id, alternatives=[_join(lead_, sub.prompt) for lead_ in lead])
    return _ladder_end(step, progress, settings, lead=lead, help_request=help_request)


def _ladder_end(
    step: StepView,
    progress: StepProgress,
    settings: PolicySettings,
    *,
    lead: Sequence[str] = ("",),
    help_request: bool = False,
    declined: bool = False,
) -> Decision:
    """Every hint and subproblem has been used: the worked answer, the teacher, or a try first."""
    if help_request and progress.attempts > 0:
        progress = replace(progress, stuck_after_trying=progress.stuck_after_trying + 1)
    effort = _effort(progress)
    if settings.allow_telling and effort >= settings.max_attempts_before_bottom_out:
        return _decision(Move.BOTTOM_OUT, replace(progress, bottomed_out=True), _bottom_out_text(step),
                         hint_level=len(step.hints), offer_similar=True, declined_answer=False)
    question = _question(step)
    if not settings.allow_telling:
        texts = [
            _join(lead_, body) for body, lead_ in product([
                "You've used every hint I have for this step, and in this course I don't give the answer. Ask "
                "your teacher to go through it with you — or try a similar problem to practise the same idea.",
                "I've no more hints for this step, and your teacher has asked me not to give answers. This is a "
                "good moment to ask your teacher — or to try a similar problem.",
                "We've been through all the hints. Your teacher can go through this one with you; a similar "
                "problem is a good way to practise the idea meanwhile.",
            ], lead)
        ]
        return _decision(Move.REFER_TEACHER, progress, texts[0], alternatives=texts[1:],
                         hint_level=progress.hints_given, declined_answer=declined, suggest_teacher=True,
                         offer_similar=True,
                         notes=("ladder exhausted; telling is off for this course",))
    remaining = settings.max_attempts_before_bottom_out - effort
    nudged = replace(progress, nudges=progress.nudges + 1)
    texts = [
        _join(lead_, body.format(q=question, n=_tries(remaining)))
        for body, lead_ in product(_rotate([
            "You've seen every hint I have for this step. Now have a go — even a guess shows me where you are: "
            "{q} After {n} I'll show you the worked answer.",
            "That's all my hints for this step. Put them together and try: {q} Once you've had {n}, I'll walk "
            "you through the worked answer.",
            "Try an answer now, even if you're not sure: {q} After {n} I'll show you the whole solution.",
        ], progress.nudges), lead)
    ]
    return _decision(Move.ENCOURAGE, nudged, texts[0], alternatives=texts[1:], hint_level=progress.hints_given,
                     declined_answer=declined,
                     notes=("ladder exhausted; the student should attempt before the answer is told",))


_DECLINE_OPENERS = (
    "I hear you — you'd like the answer.",
    "I get that you want to be done with this one.",
    "I know it would be quicker if I just said it.",
    "Fair enough to ask.",
)
_MANIPULATION_OPENERS = (
    "Nice try! My rules stay the same, whoever asks and however it's put.",
    "I can't switch my rules off, even for that.",
    "I see what you're doing there — my rules haven't changed.",
)
_NEXT_STEP_LEADS = ("Here's a step you can take now:", "Let's take the next step:", "Start from here:")


def _decline(
    step: StepView, progress: StepProgress, settings: PolicySettings, weak_kc_ids: Sequence[int], message: str
) -> Decision:
    """Asked for the answer: acknowledged, refused for now with the reason, and the next step. The
    ladder does not move (effort moves it, demands do not)."""
    if _ladder_spent(step, progress, weak_kc_ids):
        ended = _ladder_end(step, progress, settings, declined=True)
        if ended.move != Move.ENCOURAGE:  # the worked answer is due anyway, or it is the teacher's call
            return ended
    declined = replace(progress, declines=progress.declines + 1)
    openers = _MANIPULATION_OPENERS if is_manipulation(message) else _DECLINE_OPENERS
    feeling = acknowledgement(message)
    why = "I won't give you the answer yet: working it out yourself is what makes it stick."
    if not settings.allow_telling:
        when = "In this course I don't give answers — your teacher wants you to work them out."
    else:
        remaining = max(settings.max_attempts_before_bottom_out - _effort(progress), 1)
        when = (f"Have a go first: after {_tries(remaining)} and the hints, I can show you the worked answer."
                if not _ladder_spent(step, progress, weak_kc_ids)
                else f"After {_tries(remaining)} I'll show you the worked answer.")
    focus = _focus(step, progress)
    texts = [
        _join(feeling, opener, why, when) + f"\n\n{lead} {focus}"
        for lead, opener in product(_NEXT_STEP_LEADS, _rotate(openers, progress.declines))
    ]
    sub = step.subproblems[progress.subproblem_index] if progress.subproblem_index is not None else None
    return _decision(Move.DECLINE_ANSWER, declined, texts[0], alternatives=texts[1:], declined_answer=True,
                     hint_level=progress.subproblem_hints if sub else progress.hints_given,
                     subproblem_id=sub.id if sub else None)


def _explanation_sources(step: StepView, *, answer_public: bool) -> list[explain.Source]:
    sources: list[explain.Source] = []
    if answer_public and step.explanation:
        sources.append(explain.Source(step.explanation, "explanation"))
    sources += [explain.Source(c.description, "concept", c.kc_id, c.name) for c in step.concepts
                if c.description.strip()]
    worked = step.worked_solution if answer_public else step.reasoning
    if worked:
        sources.append(explain.Source("\n\n".join(worked), "reasoning"))
    hints = step.hints if answer_public else step.hints[:-1]
    sources += [explain.Source(hint, "hint") for hint in hints]
    return sources


def explanation(
    step: StepView, progress: StepProgress, message: str, *, answer_public: bool = False, context: str | None = None
) -> Decision:
    """An explanation of what the student asked, from the course's own content. Once the answer is
    out, a bare "why?" is about the answer: the step's explanation and worked solution come first."""
    found = explain.passages(message, _explanation_sources(step, answer_public=answer_public),
                             context=_focus(step, progress) if context is None else context,
                             prefer=("explanation", "reasoning") if answer_public else ())
    focus = _focus(step, progress)
    honest = _join("Good question. I can't explain that part without giving this step away — ask me again once "
                   "you've solved it.", "" if answer_public else f"For now: {focus}")
    texts = [p.text for p in found] + [honest]
    kc = next((p.kc_id for p in found if p.kc_id is not None), None)
    return _decision(Move.EXPLAIN_CONCEPT, progress, texts[0], alternatives=texts[1:],
                     kc_id=found[0].kc_id if found and found[0].kc_id is not None else kc, answer_public=answer_public)


_TRY_FIRST = (
    "Give that a try first: {focus} Tell me what you get, even if you're unsure — if you're still stuck "
    "after trying, I'll take you a step further.",
    "Have a go with what we've got so far: {focus} What do you get? A wrong answer is fine; it shows me where to "
    "help.",
    "Try that step before the next hint: {focus} Write down whatever you get.",
)


def _try_first(step: StepView, progress: StepProgress, message: str) -> Decision:
    """Help asked for again with no try since the last rung: try that rung first (the next request
    climbs)."""
    focus = _focus(step, progress)
    texts = [_join(acknowledgement(message), t.format(focus=focus)) for t in _rotate(_TRY_FIRST, progress.nudges)]
    sub = step.subproblems[progress.subproblem_index] if progress.subproblem_index is not None else None
    return _decision(Move.ENCOURAGE, replace(progress, asked_to_try=True, nudges=progress.nudges + 1), texts[0],
                     alternatives=texts[1:], hint_level=progress.subproblem_hints if sub else progress.hints_given,
                     subproblem_id=sub.id if sub else None, notes=("asked to try the last rung first",))


def _earned(decision: Decision) -> Decision:
    """A rung given on request: the next request, with no try in between, is asked to try first."""
    if decision.move not in (Move.HINT, Move.OPEN_SUBPROBLEM):
        return decision
    progress = replace(decision.progress, unearned=decision.progress.unearned + 1, asked_to_try=False)
    return replace(decision, progress=progress)


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
    main_check: CheckResult | None,
    message: str,
) -> Decision | None:
    """The move while a subproblem is open, or None to fall through to the main-step rules."""
    assert progress.subproblem_index is not None
    sub = step.subproblems[progress.subproblem_index]

    def sub_escalate(p: StepProgress, lead: Sequence[str] = ("",), *, help_request: bool = False) -> Decision:
        if p.subproblem_hints < len(sub.hints):
            level = p.subproblem_hints + 1
            hint = sub.hints[level - 1]
            return _decision(
                Move.HINT, replace(p, subproblem_hints=level), _join(lead[0], hint),
                hint_level=level, subproblem_id=sub.id, kc_id=sub.kc_id,
                alternatives=[_join(lead_, hint) for lead_ in lead[1:]],
            )
        # This scaffold's own ladder is spent: close it and go on with the main ladder.
        return _escalate(step, _close_subproblem(p, sub), settings, weak_kc_ids, lead=lead, help_request=help_request)

    if intent == Intent.ATTEMPT:
        if check is None:
            raise ValueError("An attempt needs the CheckResult for current_spec(step, progress).")
        if check.status == "unreadable":
            return _decision(Move.ENCOURAGE, progress, check.message, subproblem_id=sub.id,
                             alternatives=[_join(check.message, sub.prompt)])
        if check.status == "correct":
            closed = _close_subproblem(progress, sub)
            index = _next_subproblem(step, closed, weak_kc_ids)
            shown = shown_answer(check, sub.spec)
            yes = _rotate([f"Yes — {_quoted(shown)} is right.", f"That's right: {shown}." if shown else "Right.",
                           "Exactly."], len(closed.subproblems_done) - 1)
            if index is None:
                back = f"Now back to the whole question: {_question(step)}"
                return _decision(Move.SUBPROBLEM_PRAISE, closed, _join(yes[0], back), subproblem_id=sub.id,
                                 kc_id=sub.kc_id, alternatives=[_join(y, back) for y in yes[1:]])
            nxt = step.subproblems[index]
            lead = "Next part:" if step.derived else "Now this one:"
            return _decision(
                Move.SUBPROBLEM_PRAISE, replace(closed, subproblem_index=index), _join(yes[0], lead, nxt.prompt),
                subproblem_id=sub.id, kc_id=sub.kc_id, notes=(f"next subproblem {nxt.id}",),
                alternatives=[_join(y, lead, nxt.prompt) for y in yes[1:]],
            )
        # A known mistake on the whole problem, made while a part is open, still gets its feedback.
        known = {m.id: m for m in step.misconceptions}
        mid = main_check.misconception_id if main_check is not None else None
        if mid is not None and mid in known and mid not in progress.misconceptions_seen:
            assert main_check is not None
            wrong = _not_right(shown_answer(main_check, step.spec), progress.attempts + 1)
            seen = replace(progress, attempts=progress.attempts + 1,
                           misconceptions_seen=(*progress.misconceptions_seen, mid))
            return _decision(Move.MISCONCEPTION_FEEDBACK, seen, _join(wrong[0], known[mid].feedback),
                             misconception_id=mid, kc_id=known[mid].kc_id,
                             alternatives=[_join(w, known[mid].feedback) for w in wrong[1:]])
        tried = replace(progress, subproblem_attempts=progress.subproblem_attempts + 1)
        if check.partial and check.message:
            return _decision(Move.PROBE, tried, check.message, subproblem_id=sub.id, kc_id=sub.kc_id)
        return sub_escalate(tried, _not_right(shown_answer(check, sub.spec), tried.subproblem_attempts))
    if intent in (Intent.ASKS_HINT, Intent.STUCK):
        return _earned(sub_escalate(progress, [acknowledgement(message)], help_request=True))
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
    ``message`` is the student's text: the question to explain, the feeling to acknowledge.
    ``weak_kc_ids`` (weakest first) come from the learner model and order the subproblems.
    """
    settings = settings or PolicySettings()
    if intent in (Intent.ATTEMPT, Intent.CONCEPT_QUESTION):  # trying, or asking about it: effort
        progress = replace(progress, unearned=0, asked_to_try=False)
    elif (intent in (Intent.ASKS_HINT, Intent.STUCK) and progress.unearned and not progress.asked_to_try
          and not _ladder_spent(step, progress, weak_kc_ids)):
        return _try_first(step, progress, message)
    if intent == Intent.ATTEMPT and main_check is not None and main_check.correct:
        return _praise(step, replace(progress, solved=True, subproblem_index=None), main_check)
    if progress.bottomed_out and not (intent == Intent.ATTEMPT and check is not None and check.correct):
        return _decision(Move.BOTTOM_OUT, progress, _bottom_out_text(step), hint_level=len(step.hints),
                         offer_similar=True)
    if progress.subproblem_index is not None:
        decided = _decide_subproblem(step, progress, intent, check, settings, weak_kc_ids, main_check, message)
        if decided is not None:
            return decided

    if intent == Intent.ATTEMPT:
        if check is None:
            raise ValueError("An attempt needs the CheckResult for current_spec(step, progress).")
        if check.status == "unreadable":
            return _decision(Move.ENCOURAGE, progress, check.message,
                             alternatives=[_join(check.message, _focus(step, progress))])
        if check.status == "correct":
            return _praise(step, replace(progress, solved=True), check)
        tried = replace(progress, attempts=progress.attempts + 1)
        shown = shown_answer(check, step.spec)
        wrong = _not_right(shown, tried.attempts)
        known = {m.id: m for m in step.misconceptions}
        mid = check.misconception_id
        if mid is not None and mid in known and mid not in progress.misconceptions_seen:
            seen = replace(tried, misconceptions_seen=(*tried.misconceptions_seen, mid))
            feedback = known[mid].feedback
            return _decision(Move.MISCONCEPTION_FEEDBACK, seen, _join(wrong[0], feedback),
                             misconception_id=mid, kc_id=known[mid].kc_id,
                             alternatives=[_join(w, feedback) for w in wrong[1:]])
        if check.partial and check.message:
            return _decision(Move.PROBE, tried, check.message)
        if not tried.probed:
            how = (f"How did you get {_quoted(shown)}? Tell me the steps you took."
                   if shown else "How did you get it? Tell me the steps you took.")
            return _decision(Move.PROBE, replace(tried, probed=True), _join(wrong[0], how),
                             alternatives=[_join(w, how) for w in wrong[1:]])
        return _escalate(step, tried, settings, weak_kc_ids, lead=wrong)
    if intent in (Intent.ASKS_HINT, Intent.STUCK):
        return _earned(_escalate(step, progress, settings, weak_kc_ids, lead=[acknowledgement(message)],
                                 help_request=True))
    if intent == Intent.ASKS_ANSWER:
        return _decline(step, progress, settings, weak_kc_ids, message)
    if intent == Intent.CONCEPT_QUESTION:
        return explanation(step, progress, message)
    focus = _focus(step, progress)
    if intent == Intent.FEELING:
        texts = [
            _join(acknowledgement(message), body) + f"\n\n{focus}"
            for body in _rotate([
                "Let's take it one small step at a time. If you'd like a hint, press **Hint**, or tell me what "
                "you've tried so far.",
                "You don't have to get it in one go. Tell me what you've worked out so far, or ask for a hint.",
            ], progress.nudges)
        ]
        return _decision(Move.ENCOURAGE, progress, texts[0], alternatives=texts[1:])
    if intent == Intent.OFF_TOPIC:
        leads = ["Let's get back to the problem.", "Let's keep going with the problem.",
                 "I'm here to help with this problem."]
        texts = [f"{lead} {focus}" for lead in leads]
        return _decision(Move.REDIRECT, progress, texts[0], alternatives=texts[1:])
    leads = ["Hello! Let's get going.", "Happy to help.", "Let's carry on."] if not re.search(
        r"\b(?:thanks?|thank\s+you|thx|ty|cheers)\b", message, re.I) else ["You're welcome!", "No problem!"]
    texts = [f"{lead} {focus}" for lead in leads] + [focus]
    return _decision(Move.ENCOURAGE, progress, texts[0], alternatives=texts[1:])


@dataclass(frozen=True)
class Opening:
    text: str
    progress: StepProgress


def opening(step: StepView) -> Opening:
    """The tutor's first turn: the problem's real question. A problem whose scaffold was derived
    from its worked solution opens its first part straight away, as a tutor would."""
    question = _question(step)
    if step.derived and step.subproblems:
        first = subproblem_order(step)[0]
        text = (f"Let's work on this together. {question}\n\nWe'll take it one part at a time. "
                f"First: {step.subproblems[first].prompt}")
        return Opening(text, StepProgress(subproblem_index=first))
    return Opening(f"Let's work on this together. {question}", StepProgress())


_NEXT_POINTERS = (
    "This problem is done. Press **Next item** when you're ready for a new one — or ask me why any step works.",
    "You've solved this one. **Next item** takes you to the next problem.",
    "Nothing left to do here: **Next item** is below when you're ready.",
    "If you'd like to understand a step better, ask me “why …?”. Otherwise press **Next item** to go on.",
)


def after_item(step: StepView, *, intent: Intent, message: str, previous_pointers: int = 0) -> Decision:
    """A message after the problem is finished: a question is explained (the answer is out now);
    anything else is pointed at the next item."""
    done = StepProgress(solved=True)
    if intent == Intent.CONCEPT_QUESTION:
        return explanation(step, done, message, answer_public=True, context="")
    thanks = re.search(r"\b(?:thanks?|thank\s+you|thx|ty|cheers)\b", message, re.I)
    pointers = _rotate(_NEXT_POINTERS, previous_pointers)
    texts = [f"You're welcome! {p}" for p in pointers] if thanks else list(pointers)
    return _decision(Move.POINT_NEXT, done, texts[0], alternatives=texts[1:], answer_public=True)
