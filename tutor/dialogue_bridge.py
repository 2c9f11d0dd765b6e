"""Between the ORM and the Django-free dialogue code: builds the policy's view of a step from the
authored content, runs the checker and the policy, and turns the decision into what the engine
stores and the model is asked to phrase."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from content.answers import AnswerKind, AnswerSpec
from content.models import Item, Step, Subproblem
from content.version import content_version
from tutor import guard
from tutor.checking import MisconceptionPattern, check_answer
from tutor.dialogue import explain, policy
from tutor.dialogue.derive import reasoning, with_derived_scaffold
from tutor.dialogue.instructions import lead_in_messages, tutor_messages
from tutor.dialogue.intent import Intent, classify
from tutor.models import Turn, TutoringSession

log = logging.getLogger(__name__)

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
    offer_similar: bool = False  # the worked answer was shown, or the teacher suggested: offer a similar item
    answer_public: bool = False  # the answer may be stated (told, or given by the student)
    intent: str = ""  # what the student's message was read as (Intent's value)
    extra: dict[str, Any] = field(default_factory=dict)


def answer_forms(step: Step) -> list[str]:
    forms = [step.answer, *[str(v) for v in step.variants or []]]
    return [f for f in dict.fromkeys(forms) if f]


_GENERIC_PROMPT = re.compile(r"^\s*what\s+is\s+the\s+(?:final\s+)?answer\s*\??\s*$", re.I)
_MATH_SPAN = re.compile(r"\$([^$]+)\$")


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def item_question(*, item: Item, step: Step) -> str:
    """The question to put to the student first. The step's prompt, unless the item is one step
    and the prompt would give its set-up away ("Compute $-7 + 12$ to find the temperature at noon"
    for a statement that never writes $-7 + 12$) or says nothing ("What is the final answer?"):
    then the statement's own question ("What was the temperature at noon?")."""
    prompt = step.prompt.strip()
    statement = _compact(item.statement)
    gives_away = any(_compact(span) not in statement for span in _MATH_SPAN.findall(prompt))
    if not (gives_away or _GENERIC_PROMPT.match(prompt)) or item.steps.count() != 1:
        return prompt
    asked = [s for s in explain.sentences(item.statement) if s.rstrip().endswith("?")]
    if not asked:
        return prompt if not _GENERIC_PROMPT.match(prompt) else "What is the answer to the question?"
    return asked[-1]


def opening(*, item: Item, step: Step | None) -> tuple[str, dict[str, Any]]:
    """The tutor's first turn on ``item`` and the progress it leaves the first step in."""
    if step is None:
        return "This item has no steps yet.", {}
    view, _patterns = step_content(step)
    first = policy.opening(view)
    return first.text, _progress_dump(first.progress)


def _last_step(session: TutoringSession) -> Step | None:
    return session.item.steps.order_by("-position", "-id").first()


def _previous_replies(session: TutoringSession) -> set[str]:
    """What the tutor has already said in this conversation (sent and authored wording)."""
    said: set[str] = set()
    for text, authored in session.turns.filter(role=Turn.Role.TUTOR).values_list("text", "authored_text"):
        said.update(_said(t) for t in (text, authored) if t)
    return said


def _said(text: str) -> str:
    return " ".join(text.split()).casefold()


def finished_reply(*, session: TutoringSession, text: str = "") -> Outcome:
    """A message after the item is finished: a question is explained from the item's content (its
    answer is out), anything else is pointed at the next item; never the same words twice."""
    step = _last_step(session)
    if step is None:
        view = policy.StepView(id=0, spec=AnswerSpec(kind=AnswerKind.TEXT, answer=""))
    else:
        view, _patterns = step_content(step)
    pointers = session.turns.filter(role=Turn.Role.TUTOR, move=policy.Move.POINT_NEXT).count()
    intent = classify(text, view)
    decision = policy.after_item(view, intent=intent, message=text, previous_pointers=pointers)
    chosen = _choose_text(decision, previous=_previous_replies(session), leaks=None)
    return Outcome(move=str(decision.move), mathdial=str(decision.mathdial), hint_level=0, authored_text=chosen,
                   released=False, advance=False, progress=session.progress, answer=step.answer if step else "",
                   answer_forms=answer_forms(step) if step else [], allowed_numbers=[session.item.statement, text],
                   answer_public=True, check=None, intent=str(intent))


def step_view(step: Step) -> policy.StepView:
    """The policy's view of an authored step; a step with no authored hints or subproblems (an
    imported MathDial item, say) gets subproblems and a bottom-out derived from the worked solution."""
    item = step.item
    worked = tuple(p.strip() for p in re.split(r"\n\s*\n|\n", item.worked_solution or "") if p.strip())
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
        worked_solution=worked,
        concepts=tuple(
            policy.ConceptView(kc_id=kc.pk, name=kc.name, description=kc.description) for kc in item.kcs.all()
        ),
        question=item_question(item=item, step=step),
        reasoning=reasoning(worked, step.answer) if worked else (),
        whole_item=item.steps.count() == 1,
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


# A worked example set off from its sentence ("…, so $5 - (-2) = 7$", "…: $(-20) \div (-4) = 5$"): it can
# go and leave the sentence whole. Maths inside the sentence's grammar cannot: that sentence goes.
_EXAMPLE_MATH = re.compile(
    r"(?:[,;]?\s*(?:so|e\.g\.,?|for\s+example,?|for\s+instance,?|like|such\s+as|i\.e\.,?|but|and|or|while"
    r"|whereas)\s*|\s*:\s*)\$[^$]+\$(?=\s*(?:[.;,]|$|(?:but|and|or|while|whereas)\b))", re.I)
_AGAIN = ("To put it once more:", "Here it is again:", "Once more:", "Remember:")
NEUTRAL_SCAFFOLD = "Let's take it one piece at a time. What is the first thing you would work out?"


def _unleaked(text: str, leaks: Any) -> str:
    """``text`` without the sentences (or the worked examples inside a sentence) that state the
    step's answer before its release; "" when nothing is left."""
    if not leaks(text):
        return text
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        kept = []
        for sentence in explain.sentences(paragraph):
            if leaks(sentence):
                for m in reversed(list(_EXAMPLE_MATH.finditer(sentence))):
                    if leaks(m.group(0)):
                        sentence = sentence[: m.start()] + sentence[m.end() :]
                sentence = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(sentence.split()))
                if leaks(sentence) or len(sentence.split()) < 4:
                    continue
            kept.append(sentence)
        if kept:
            paragraphs.append(" ".join(kept))
    out = "\n\n".join(paragraphs)
    return out if out and not leaks(out) else ""


def _choose_text(decision: policy.Decision, *, previous: set[str], leaks: Any) -> str:
    """The decision's first wording that states no unreleased answer and that the tutor has not
    already sent in this conversation (authored text is trusted, but a hint or a concept's worked
    example can happen to state this step's answer: that part is left out and the author told)."""
    candidates = [decision.authored_text, *decision.alternatives]
    safe = []
    for candidate in candidates:
        text = candidate if leaks is None or decision.answer_public else _unleaked(candidate, leaks)
        if text.strip():
            safe.append(text)
        if text != candidate:
            log.warning("authored text for move %s states its answer before release; left that part out",
                        decision.move)
    if not safe:
        safe = [NEUTRAL_SCAFFOLD]
    for text in safe:
        if _said(text) not in previous:
            return text
    for again in _AGAIN:
        for text in safe:
            if _said(f"{again} {text}") not in previous:
                return f"{again} {text}"
    return safe[0]


def _leak_check(*, step: Step, session: TutoringSession, message: str) -> Any:
    forms = answer_forms(step)
    allowed = (session.item.statement, step.prompt, message)

    def leaks(text: str) -> bool:
        return guard.answer_leak(text, answer=step.answer, answer_forms=forms, released=False,
                                 allowed_numbers=allowed) is not None

    return leaks


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
    authored = _choose_text(decision, previous=_previous_replies(session),
                            leaks=_leak_check(step=step, session=session, message=text))
    subproblem = None
    if on_subproblem and progress.subproblem_index is not None:
        sub_id = view.subproblems[progress.subproblem_index].id
        subproblem = Subproblem.objects.filter(pk=sub_id, step=step).first() if sub_id > 0 else None
    if main_check is not None and (main_check.correct or decision.move == policy.Move.MISCONCEPTION_FEEDBACK):
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
        intent=str(intent),
        answer_public=decision.answer_public,
    )


def prompt_messages(*, session: TutoringSession, tutor_turn: Turn, outcome: Outcome,
                    phrasing: str = "full") -> list[dict[str, str]]:
    """Chat messages asking the model to phrase the chosen move, grounded on the authored text; with
    ``phrasing="lead-in"``, to write the one sentence that comes before it (``lead_in_messages``)."""
    if phrasing == "lead-in":
        said = tutor_turn.reply_to.text if tutor_turn.reply_to is not None else ""
        return lead_in_messages(student_text=said)
    step = session.step if not outcome.advance else tutor_turn.step
    history = list(session.turns.filter(seq__lt=tutor_turn.seq).order_by("-seq")[:4])
    return tutor_messages(
        move=outcome.move, authored_text=outcome.authored_text,
        statement=session.item.statement if step is not None else None,
        step_prompt=step.prompt if step is not None else None,
        history=[("student" if t.role == Turn.Role.STUDENT else "tutor", t.text) for t in reversed(history)],
    )
