"""Between the ORM and the Django-free dialogue code: builds the policy's view of a step from the
authored content, runs the checker and the policy, and turns the decision into what the engine
stores and the model is asked to phrase."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from content.models import Item, Step, Subproblem
from content.version import content_version
from tutor import guard
from tutor.checking import CheckResult, MisconceptionPattern, check_answer
from tutor.dialogue import policy
from tutor.dialogue.derive import with_derived_scaffold
from tutor.dialogue.intent import Intent, classify
from tutor.llm import grounded
from tutor.models import Turn, TutoringSession

log = logging.getLogger(__name__)

MOVE_INSTRUCTIONS = {
    "praise_advance": "Praise the student briefly and specifically for the correct answer.",
    "subproblem_praise": "Confirm the small question was answered correctly and lead back to the main step.",
    "misconception_feedback": "Point out the likely mistake gently, as in the teacher's note, and ask the student "
                              "to try again. Do not give the answer.",
    "probe": "Ask one short question that makes the student explain their reasoning. Do not give the answer.",
    "hint": "Give this hint in your own friendly words. Do not go beyond it and do not give the answer.",
    "open_subproblem": "Ask this smaller question to help the student. Do not give the main answer.",
    "explain_concept": "Explain the concept clearly and briefly using the teacher's note.",
    "bottom_out": "Explain the solution using the teacher's note, including the answer.",
    "redirect": "Kindly bring the student back to the problem.",
    "encourage": "Encourage the student to try the step, without giving the answer.",
}


@dataclass
class Outcome:
    move: str
    mathdial: str
    hint_level: int
    authored_text: str
    released: bool
    advance: bool
    progress: dict[str, Any]
    answer: str
    answer_forms: list[str]
    allowed_numbers: list[str]
    check: Any = None
    subproblem: Subproblem | None = None
    on_subproblem: bool = False
    offer_similar: bool = False  # the worked answer was shown: offer a similar item to practise
    extra: dict[str, Any] = field(default_factory=dict)


def answer_forms(step: Step) -> list[str]:
    forms = [step.answer, *[str(v) for v in step.variants or []]]
    return [f for f in dict.fromkeys(forms) if f]


def intro_text(*, item: Item, step: Step | None) -> str:
    if step is None:
        return "This item has no steps yet."
    return f"Let's work on this together. {step.prompt}"


def finished_reply(*, session: TutoringSession) -> Outcome:
    text = "You have finished this problem — well done! Choose **Next item** when you are ready."
    return Outcome(move="encourage", mathdial=Turn.MathDialMove.GENERIC, hint_level=0, authored_text=text,
                   released=True, advance=False, progress=session.progress, answer="", answer_forms=[],
                   allowed_numbers=[])


def step_view(step: Step) -> policy.StepView:
    """The policy's view of an authored step; a step with no authored hints or subproblems (an
    imported MathDial item, say) gets a ladder and subproblems derived from the worked solution."""
    item = step.item
    view = policy.StepView(
        id=step.pk,
        spec=step.answer_spec(),
        prompt=step.prompt,
        hints=tuple(h.text for h in step.hints.order_by("position", "id")),
        subproblems=tuple(
            policy.SubproblemView(id=sp.pk, prompt=sp.prompt, spec=sp.answer_spec(),
                                  hints=tuple(str(h) for h in sp.hints or ()), kc_id=sp.kc_id)
            for sp in step.subproblems.order_by("position", "id")
        ),
        misconceptions=tuple(
            policy.MisconceptionView(id=m.pk, feedback=m.feedback, kc_id=m.kc_id)
            for m in step.misconceptions.all()
        ),
        explanation=step.explanation,
        worked_solution=tuple(p.strip() for p in re.split(r"\n\s*\n|\n", item.worked_solution or "") if p.strip()),
        concepts=tuple(
            policy.ConceptView(kc_id=kc.pk, name=kc.name, description=kc.description) for kc in item.kcs.all()
        ),
    )
    return with_derived_scaffold(view)


# The tutor's view of each step, kept per process with the content version it was built from: a turn
# reads the step's hints, subproblems, misconceptions and concepts from memory instead of six queries.
_step_cache: dict[int, tuple[str, policy.StepView, tuple[MisconceptionPattern, ...]]] = {}
STEP_CACHE_SIZE = 4096


def step_content(step: Step) -> tuple[policy.StepView, tuple[MisconceptionPattern, ...]]:
    """The policy's view of ``step`` and its misconception patterns, rebuilt after any content edit."""
    version = content_version()
    cached = _step_cache.get(step.pk)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1], cached[2]
    # Built after reading the version: an edit made meanwhile changes it, so this copy is not reused.
    view = step_view(step)
    patterns = tuple(MisconceptionPattern(id=m.pk, pattern_kind=m.pattern_kind, pattern=m.pattern)  # type: ignore[arg-type]
                     for m in step.misconceptions.all())
    if version is not None:
        if len(_step_cache) >= STEP_CACHE_SIZE:
            _step_cache.clear()
        _step_cache[step.pk] = (version, view, patterns)
    return view, patterns


def _progress_load(data: dict[str, Any]) -> policy.StepProgress:
    known = {f.name for f in fields(policy.StepProgress)}
    values: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in (data or {}).items() if k in known
    }
    return policy.StepProgress(**values)


def _progress_dump(progress: policy.StepProgress) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(progress).items()}


def _weak_kcs(session: TutoringSession, kc_ids: list[int]) -> list[int]:
    """The item's KCs, weakest first by the learner model (empty when it has nothing to say)."""
    if not kc_ids:
        return []
    try:
        from tracing import selectors as tracing_selectors

        predictions = tracing_selectors.mastery_predict(learner=session.student, course=session.course, kcs=kc_ids)
    except Exception:  # the learner model must never break a tutoring turn
        log.exception("learner model prediction failed")
        return []
    return sorted(predictions, key=lambda kc: predictions[kc].mastery)


def _without_early_answer(text: str, *, step: Step, session: TutoringSession, released: bool,
                          last_attempt: CheckResult | None = None) -> str:
    """Authored text is trusted, but a hint or concept note that happens to state this step's answer
    would hand it over early: such text is replaced by a neutral scaffold and the author is told.
    Once the student has given the answer (``last_attempt`` is right), stating it is no leak."""
    if released or not text:
        return text
    verdict = guard.guard_check(text, answer=step.answer, answer_forms=answer_forms(step), released=False,
                                   authored_text="", allowed_numbers=[session.item.statement, step.prompt],
                                   move="hint", max_chars=100_000, last_attempt=last_attempt)
    if not verdict.reveals_answer:
        return text
    log.warning("authored text for step %s states its answer before release; sent a neutral scaffold", step.pk)
    return (f"Let's take it one piece at a time. Look again at what this step asks: {step.prompt} "
            "What is the first thing you would work out?")


def decide(*, session: TutoringSession, step: Step, text: str,
           settings: policy.PolicySettings | None = None) -> Outcome:
    view, patterns = step_content(step)
    progress = _progress_load(session.progress)
    intent = classify(text, view)
    spec = policy.current_spec(view, progress)
    on_subproblem = progress.subproblem_index is not None
    check = main_check = None
    if intent == Intent.ATTEMPT:
        check = check_answer(spec, text, () if on_subproblem else patterns)
        if on_subproblem:
            main_check = check_answer(view.spec, text, patterns)
    kc_ids = [c.kc_id for c in view.concepts] + [sp.kc_id for sp in view.subproblems if sp.kc_id]
    decision = policy.decide(
        step=view, progress=progress, intent=intent, check=check, main_check=main_check, message=text,
        settings=settings or policy.PolicySettings(), weak_kc_ids=_weak_kcs(session, list(dict.fromkeys(kc_ids))),
    )
    answered = main_check if main_check is not None and main_check.correct else check
    authored = _without_early_answer(decision.authored_text, step=step, session=session,
                                     released=decision.released_answer, last_attempt=answered)
    subproblem = None
    if on_subproblem and progress.subproblem_index is not None:
        sub_id = view.subproblems[progress.subproblem_index].id
        subproblem = Subproblem.objects.filter(pk=sub_id, step=step).first() if sub_id > 0 else None
    if main_check is not None and main_check.correct:
        check, on_subproblem, subproblem = main_check, False, None
    return Outcome(
        move=str(decision.move),
        mathdial=str(decision.mathdial),
        hint_level=decision.hint_level,
        authored_text=authored,
        released=decision.released_answer,
        advance=decision.advance,
        progress=_progress_dump(decision.progress),
        answer=step.answer,
        answer_forms=answer_forms(step),
        # The guard reads the quantities out of these texts itself (fractions, decimals, number words).
        allowed_numbers=[session.item.statement, step.prompt, text,
                         *session.turns.filter(role=Turn.Role.STUDENT).values_list("text", flat=True)],
        check=check,
        subproblem=subproblem,
        on_subproblem=on_subproblem,
        offer_similar=decision.offer_similar,
    )


def prompt_messages(*, session: TutoringSession, tutor_turn: Turn, outcome: Outcome) -> list[dict[str, str]]:
    """Chat messages asking the model to phrase the chosen move, grounded on the authored text."""
    step = session.step if not outcome.advance else tutor_turn.step
    instruction = MOVE_INSTRUCTIONS.get(outcome.move, "Reply briefly and kindly.")
    system = (
        "You are a patient, encouraging math tutor for a school student. You never give away the final "
        "answer unless told to. Reply in one to three short sentences. "
        f"Your task now: {instruction} "
        "Base your reply only on the teacher's note between the markers: "
        f"{grounded(outcome.authored_text)}"
    )
    history = list(session.turns.filter(seq__lt=tutor_turn.seq).order_by("-seq")[:4])
    messages = [{"role": "system", "content": system}]
    if step is not None:
        messages.append({"role": "user", "content": f"(The problem: {session.item.statement}\nStep: {step.prompt})"})
        messages.append({"role": "assistant", "content": "I understand the problem."})
    for turn in reversed(history):
        messages.append({"role": "user" if turn.role == Turn.Role.STUDENT else "assistant",
                         "content": turn.text[:600]})
    return messages
