"""One tutoring turn, end to end: record, check, decide, then phrase.

``turn_take`` is synchronous and transactional: it stores the student's turn and attempt, asks the
dialogue policy for the next teacher move and stores the tutor's turn (with the authored text it is
grounded on) before anything is sent. ``reply_stream`` then asks the language model to phrase that
move, passes every token through the pedagogical guard as it streams, and stores the final wording.
If the model fails, says something the guard rejects, sends no token within the first-token deadline
(``TUTOR_LLM_FIRST_TOKEN_S``) or has not finished by the total deadline (``TUTOR_LLM_TOTAL_S``), the
authored text is sent instead, and the turn records it as such: ``state=fallback``,
``backend="authored-fallback"`` and, in ``guard``, why (``fallback``) and which model was tried.

The engine renders nothing: it returns and yields plain events (``TurnOpened``, ``ReplyToken``,
``ReplyFinal``), which the websocket consumer renders as htmx fragments; the API reads the stored turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from content.models import Item, Step
from tutor import dialogue_bridge
from tutor.checking import CheckResult
from tutor.courses import services as course_settings
from tutor.dialogue import policy
from tutor.dialogue.instructions import LEAD_IN_MAX_TOKENS, lead_in_grammar
from tutor.llm.base import BackendError
from tutor.models import Attempt, Turn, TutoringSession

log = logging.getLogger(__name__)

# Both count from the moment the student's message arrived, as the student waits.
LLM_FIRST_TOKEN_S: float = settings.TUTOR_LLM_FIRST_TOKEN_S
LLM_TOTAL_S: float = settings.TUTOR_LLM_TOTAL_S
LLM_MAX_NEW_TOKENS: int = settings.TUTOR_LLM_MAX_NEW_TOKENS
_TRAILING_WORD = re.compile(r"[\w.,/^$\\-]+$")


# The backend recorded for a turn phrased with the authored text because the course turned the model off.
AUTHORED_ONLY = "authored"
# The backend recorded for a turn whose sent text is the authored fallback because the model failed, was
# too slow or was rejected by the guard (the model that was tried is kept in the turn's ``guard``).
AUTHORED_FALLBACK = "authored-fallback"
# Key in the session's progress naming the tutor turn that offered a similar item (after the worked
# answer was shown). Kept across later turns and steps, so the offer survives a reload.
SIMILAR_OFFER = "similar_offer"


class _AuthoredOnly(Exception):
    pass


class FirstTokenLate(TimeoutError):
    """The model sent nothing within the first-token deadline."""


class ReplyTooSlow(TimeoutError):
    """The model had not finished its reply by the total deadline."""


def fallback_reason(exc: BaseException) -> str:
    """A short, stable name for why the authored text was sent (grouped in reports)."""
    if isinstance(exc, FirstTokenLate):
        return "first-token deadline"
    if isinstance(exc, ReplyTooSlow):
        return "total deadline"
    return f"model error: {type(exc).__name__}"


def guard_reason(reasons: list[str]) -> str:
    """The guard's first reason without its specifics (quoted text, figures), for grouping."""
    if not reasons:
        return "guard: empty reply"
    general = re.sub(r"\s*\([^)]*\)|\s*'[^']*'|\s*\"[^\"]*\"|:\s*$", "", str(reasons[0]))
    return "guard: " + general.strip()


# The events of a turn, as plain data: the consumer renders them (tutor.consumers), the API and the
# replays read the stored turns instead.


@dataclass(frozen=True)
class TurnOpened:
    """The student's message and the tutor's turn answering it (pending while it streams) are stored."""

    student: Turn
    tutor: Turn | None


@dataclass(frozen=True)
class ReplyToken:
    """A piece of the tutor's reply that the guard let through, in the order it is shown."""

    turn_id: int
    text: str


@dataclass(frozen=True)
class ReplyFinal:
    """The tutor turn's stored final wording, which replaces whatever was streamed; ``offer_similar``:
    the turn offers a similar item; ``next_url``: the item is finished and this is where the next one is."""

    turn: Turn
    offer_similar: bool = False
    next_url: str = ""


ReplyEvent = ReplyToken | ReplyFinal


@dataclass
class TurnPlan:
    session_id: int
    student_turn_id: int
    tutor_turn_id: int
    move: str
    authored_text: str
    released: bool
    answer: str
    answer_forms: list[str]
    allowed_numbers: list[str]
    messages: list[dict[str, str]]
    duplicate: bool = False
    opening: TurnOpened | None = None
    finished_item: bool = False
    llm_enabled: bool = True
    llm_backend: str = ""  # "" = the deployment's TUTOR_LLM
    phrasing: str = "full"  # or "lead-in" (the TUTOR_LLM_PHRASING setting)
    extra: dict[str, Any] = field(default_factory=dict)
    last_attempt: CheckResult | None = None  # the checker's verdict on the message this turn answers
    earlier_replies: list[str] = field(default_factory=list)  # what the tutor has said before in this session


def _next_seq(session: TutoringSession) -> int:
    return (session.turns.aggregate(m=Max("seq"))["m"] or 0) + 1


# The tutor settings a replay may set per conversation (``tutor_replay``'s "settings").
POLICY_OVERRIDES = ("allow_telling", "max_attempts_before_bottom_out")


def turn_take(*, session_id: int, text: str, client_id: str = "",
              policy_overrides: dict[str, Any] | None = None) -> TurnPlan:
    """Store the student's message (once, even if re-sent), check it, decide and store the tutor's
    move. Returns what the reply needs; nothing has been sent yet. ``policy_overrides`` (replays
    only) replaces the course's ``POLICY_OVERRIDES`` settings for this turn."""
    with transaction.atomic():
        # Lock the session row only: PostgreSQL refuses FOR UPDATE on the nullable side of a join (step).
        session = (
            TutoringSession.objects.select_for_update(of=("self",))
            .select_related("item", "step", "course", "student").get(pk=session_id)
        )
        if client_id:
            existing = Turn.objects.filter(session=session, client_id=client_id).first()
            if existing is not None:
                return _duplicate_plan(session, existing)
        step = session.step
        # A teacher's sandbox is not assigned to an experiment condition (tutoring_session.sandbox).
        tutor_settings = course_settings.settings_effective(course=session.course, student=session.student,
                                                            assign=not session.sandbox)
        if policy_overrides:
            unknown = set(policy_overrides) - set(POLICY_OVERRIDES)
            if unknown:
                raise ValueError(f"unknown policy settings: {', '.join(sorted(unknown))}")
            tutor_settings = replace(tutor_settings, **policy_overrides)
        student = Turn.objects.create(
            session=session, seq=_next_seq(session), role=Turn.Role.STUDENT, text=text, client_id=client_id,
            item=session.item, step=step,
        )
        if step is None:
            outcome = dialogue_bridge.finished_reply(session=session, text=text)
            attempt = None
        else:
            outcome = dialogue_bridge.decide(session=session, step=step, text=text, settings=policy.PolicySettings(
                max_attempts_before_bottom_out=tutor_settings.max_attempts_before_bottom_out,
                allow_telling=tutor_settings.allow_telling))
            attempt = None
            if outcome.check is not None:
                attempt = Attempt.objects.create(
                    session=session, turn=student, step=step, subproblem=outcome.subproblem, raw=text[:5000],
                    parsed=(outcome.check.parsed or "")[:500], outcome=outcome.check.status,
                    correct=outcome.check.status == "correct", partial=bool(getattr(outcome.check, "partial", False)),
                    misconception_id=outcome.check.misconception_id,
                )
        student.intent = outcome.intent
        student.save(update_fields=["intent"])
        offer = similar_offer_turn(session)
        session.progress = outcome.progress
        if outcome.advance:
            _advance(session)
            outcome.authored_text = _with_next_step(outcome.authored_text, session.step)
        tutor = Turn.objects.create(
            session=session, seq=student.seq + 1, role=Turn.Role.TUTOR, state=Turn.State.PENDING,
            move=outcome.move, mathdial_move=outcome.mathdial, hint_level=outcome.hint_level,
            authored_text=outcome.authored_text, released_answer=outcome.released,
            item=session.item, step=step, reply_to=student,
        )
        if outcome.offer_similar:
            offer = tutor.pk
        if offer is not None:
            session.progress = {**(session.progress or {}), SIMILAR_OFFER: {"turn": offer}}
        session.save()
    if attempt is not None and not getattr(outcome, "on_subproblem", False) and not session.sandbox:
        _learner_model_record(attempt)
    finished = session.step is None
    phrasing = str(settings.TUTOR_LLM_PHRASING)
    plan = TurnPlan(
        session_id=session.pk, student_turn_id=student.pk, tutor_turn_id=tutor.pk, move=outcome.move,
        # The guard may let a reply state the answer once it is out: told, or given by the student.
        authored_text=outcome.authored_text, released=outcome.released or outcome.answer_public,
        answer=outcome.answer, answer_forms=outcome.answer_forms, allowed_numbers=outcome.allowed_numbers,
        messages=dialogue_bridge.prompt_messages(session=session, tutor_turn=tutor, outcome=outcome,
                                                 phrasing=phrasing),
        finished_item=finished, llm_enabled=tutor_settings.llm_enabled,
        llm_backend=tutor_settings.llm_backend, phrasing=phrasing,
        extra={"offer_similar": outcome.offer_similar, "next_url": _next_item_url(session) if finished else ""},
        last_attempt=outcome.check, opening=TurnOpened(student=student, tutor=tutor),
        earlier_replies=[t for t in session.turns.filter(role=Turn.Role.TUTOR).exclude(pk=tutor.pk)
                         .values_list("text", flat=True) if t],
    )
    return plan


def similar_offer_turn(session: TutoringSession) -> int | None:
    """The id of the tutor turn in this session that offered a similar item, if any."""
    offer = (session.progress or {}).get(SIMILAR_OFFER)
    turn = offer.get("turn") if isinstance(offer, dict) else None
    return turn if isinstance(turn, int) else None


def _next_item_url(session: TutoringSession) -> str:
    return reverse("continue-learning", args=[session.course.slug])


def reply_final(turn: Turn) -> ReplyFinal:
    """A stored tutor turn as the final event of its reply: whether it offers a similar item and, once
    the item is finished, where the next item is."""
    finished = turn.session.status == TutoringSession.Status.FINISHED
    return ReplyFinal(turn=turn, offer_similar=similar_offer_turn(turn.session) == turn.pk,
                      next_url=_next_item_url(turn.session) if finished else "")


def _duplicate_plan(session: TutoringSession, student: Turn) -> TurnPlan:
    """A re-sent message: nothing new is stored. Both bubbles are sent again (a page whose socket died
    before it saw them has neither; the page keeps one of each turn it already shows), then the
    consumer sends the stored reply again (``reply_resend``)."""
    reply = Turn.objects.filter(reply_to=student).select_related("session").first()
    return TurnPlan(
        session_id=session.pk, student_turn_id=student.pk, tutor_turn_id=reply.pk if reply else 0, move="",
        authored_text="", released=False, answer="", answer_forms=[], allowed_numbers=[], messages=[],
        duplicate=True, opening=TurnOpened(student=student, tutor=reply) if reply else None,
    )


def _advance(session: TutoringSession) -> None:
    """Move to the next step of the item, or finish the item."""
    assert session.step is not None
    nxt = Step.objects.filter(item=session.item, position__gt=session.step.position).order_by("position", "id").first()
    if nxt is None:
        nxt = Step.objects.filter(item=session.item, position=session.step.position, id__gt=session.step.id).first()
    session.step = nxt
    session.progress = {}
    if nxt is None:
        session.status = TutoringSession.Status.FINISHED


def _with_next_step(text: str, next_step: Step | None) -> str:
    """Praise, then what comes next: the next step's question, or the end of the item."""
    text = text.strip() or "Correct — well done!"
    if next_step is None:
        return f"{text}\n\nYou have finished this problem. Press **Next item** when you are ready for the next one."
    return f"{text}\n\nNext: {next_step.prompt}"


def _learner_model_record(attempt: Attempt) -> None:
    """Feed a checked answer to the learner model; tutoring never fails because tracing did."""
    try:
        from tracing import services as tracing_services
    except ImportError:
        return
    record = getattr(tracing_services, "response_record", None)
    if record is None:
        return
    try:
        taught = course_settings.settings_effective(course=attempt.session.course, student=attempt.session.student)
        result = record(
            learner=attempt.session.student, item=attempt.step.item, correct=attempt.correct,
            at=attempt.created or timezone.now(), attempt_id=f"tutor-attempt-{attempt.pk}",
            mastery_threshold=taught.mastery_threshold,
        )
    except Exception:  # the learner model must never break a tutoring turn
        log.exception("learner-model update failed for attempt %s", attempt.pk)
        return
    p_before = getattr(result, "p_correct_before", None)
    if p_before is not None:
        Attempt.objects.filter(pk=attempt.pk).update(p_correct_before=float(p_before))


def _guard(plan: TurnPlan, text: str, *, max_chars: int = 600, final: bool = True) -> Any:
    """The pedagogical guard's verdict on ``text`` as a reply for this plan's move (``final``: the
    whole reply, which may not repeat an earlier one; a partial reply is checked without that)."""
    from tutor import guard

    return guard.guard_check(
        text, answer=plan.answer, answer_forms=plan.answer_forms, released=plan.released,
        authored_text=plan.authored_text, allowed_numbers=plan.allowed_numbers, move=plan.move, max_chars=max_chars,
        last_attempt=plan.last_attempt, earlier_replies=plan.earlier_replies if final else (),
    )


def _leak(plan: TurnPlan, text: str) -> str | None:
    """What in ``text`` must never reach the page, if anything: an answer stated before it is released,
    or the model's instructions copied out (the guard's first checks; either stops the stream)."""
    from tutor import guard

    leaked = guard.answer_leak(text, answer=plan.answer, answer_forms=plan.answer_forms, released=plan.released,
                               allowed_numbers=plan.allowed_numbers, last_attempt=plan.last_attempt)
    return leaked if leaked is not None else guard.unshowable(text)


def _verdict(check: Any) -> dict[str, Any]:
    return {"passed": check.passed, "reveals_answer": check.reveals_answer, "score": check.score,
            "reasons": check.reasons}


async def reply_stream(*, plan: TurnPlan, started: float | None = None) -> AsyncIterator[ReplyEvent]:
    """Phrase the planned move with the configured model, yielding a ``ReplyToken`` for each piece of
    text the guard lets through as it arrives, then the stored turn as a ``ReplyFinal``.

    The guard sees the text as it grows; a token run that would complete a number or word is held
    back until the next token decides it, so a leaked answer is stopped before it reaches the page.
    """
    from tutor.llm import get_backend

    started = started if started is not None else time.perf_counter()
    cancel = threading.Event()
    shown = ""
    produced = ""
    backend_name = model_id = ""
    first_token_ms: float | None = None
    verdict: dict[str, Any] = {}
    final_text = plan.authored_text
    state = Turn.State.FALLBACK
    now, waited = time.monotonic(), time.perf_counter() - started
    first_deadline = now + max(0.0, LLM_FIRST_TOKEN_S - waited)
    total_deadline = now + max(0.0, LLM_TOTAL_S - waited)
    try:
        if not plan.llm_enabled:
            raise _AuthoredOnly
        try:
            backend = await asyncio.wait_for(
                sync_to_async(get_backend, thread_sensitive=False)(plan.llm_backend or None),
                timeout=max(0.0, first_deadline - time.monotonic()),
            )
        except TimeoutError:  # a backend still loading (in its own thread) is ready for the next turn
            raise FirstTokenLate("the language model was still loading") from None
        backend_name, model_id = backend.name, backend.model_id
        stream = _phrased(backend, plan, cancel)
        rejected = False
        async for batch in _batches(_with_deadlines(stream, first_deadline, total_deadline)):
            produced += "".join(batch)
            held = _TRAILING_WORD.search(produced)
            safe = produced[: held.start()] if held else produced
            if len(safe) > len(shown):
                # Only a leak or copied-out instructions stop the stream; the full verdict is needed once, then.
                if _leak(plan, safe) is not None:
                    rejected = True
                    verdict = {**_verdict(_guard(plan, safe, max_chars=10_000, final=False)), "partial": True}
                    cancel.set()
                    break
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                for piece in _split_like(safe[len(shown):], batch):
                    yield ReplyToken(turn_id=plan.tutor_turn_id, text=piece)
                shown = safe
        model_id = backend.model_id  # a server's own name for its model is known once it has answered
        if not rejected:
            final = _guard(plan, produced.strip())
            verdict = _verdict(final)
            if final.passed and produced.strip():
                final_text = produced.strip()
                state = Turn.State.COMPLETE
                verdict["phrasing"] = plan.phrasing
        if state != Turn.State.COMPLETE:
            verdict["fallback"] = guard_reason(verdict.get("reasons") or [])
    except _AuthoredOnly:  # the teacher turned the model off: the authored text is the reply
        state, backend_name, verdict = Turn.State.COMPLETE, AUTHORED_ONLY, {"passed": True, "reasons": []}
    except Exception as exc:  # a dead, stalled or too slow model: the authored text is the reply
        log.warning("LLM reply failed (%s: %s); sending the authored text", type(exc).__name__, exc)
        verdict = {"passed": False, "reasons": [f"backend error: {type(exc).__name__}: {exc}"[:300]],
                   "fallback": fallback_reason(exc)}
        cancel.set()
    if state == Turn.State.FALLBACK:
        # Honest records: the authored text was sent, whichever model was asked (kept in the verdict).
        verdict["tried"] = {"backend": backend_name, "model_id": model_id}
        backend_name, model_id = AUTHORED_FALLBACK, ""
    latency = (time.perf_counter() - started) * 1000
    # database_sync_to_async closes the worker thread's connection when it is old or broken, as every
    # other database call of the chat does.
    turn = await database_sync_to_async(reply_finish)(
        tutor_turn_id=plan.tutor_turn_id, text=final_text, state=state, guard=verdict, backend=backend_name,
        model_id=model_id, latency_ms=first_token_ms if first_token_ms is not None else latency,
    )
    yield ReplyFinal(turn=turn, offer_similar=bool(plan.extra.get("offer_similar")),
                     next_url=plan.extra.get("next_url", ""))


def _lead_in_end(lead: str) -> str:
    """What joins a model's lead-in sentence to the authored move: the full stop a reply cut off by the
    token limit lacks, and a space."""
    if not lead.strip():
        raise BackendError("the model wrote no lead-in sentence")
    return " " if lead.rstrip().endswith((".", "!")) else ". "


async def _phrased(backend: Any, plan: TurnPlan, cancel: threading.Event) -> AsyncIterator[str]:
    """The model's reply as it streams. With lead-in phrasing: the model's sentence, then the authored
    move word by word (it is ready; streaming it keeps one path for the page and the guard)."""
    if plan.phrasing != "lead-in":
        async for chunk in backend.astream(plan.messages, max_new_tokens=LLM_MAX_NEW_TOKENS, temperature=0.3,
                                           cancel=cancel):
            yield chunk
        return
    lead = ""
    async for chunk in backend.astream(plan.messages, max_new_tokens=LEAD_IN_MAX_TOKENS, temperature=0.3,
                                       cancel=cancel, grammar=lead_in_grammar(plan.move)):
        lead += chunk
        yield chunk
    yield _lead_in_end(lead)
    for word in re.findall(r"\S+\s*", plan.authored_text):
        yield word


def _generated(backend: Any, plan: TurnPlan, *, temperature: float, cancel: threading.Event) -> str:
    """The whole reply at once (``_phrased``'s synchronous twin, for the API)."""
    if plan.phrasing != "lead-in":
        return str(backend.generate(plan.messages, max_new_tokens=LLM_MAX_NEW_TOKENS, temperature=temperature,
                                    cancel=cancel)).strip()
    lead = str(backend.generate(plan.messages, max_new_tokens=LEAD_IN_MAX_TOKENS, temperature=temperature,
                                cancel=cancel, grammar=lead_in_grammar(plan.move))).strip()
    return (lead + _lead_in_end(lead) + plan.authored_text).strip()


async def _batches(stream: AsyncIterator[str]) -> AsyncIterator[list[str]]:
    """The chunks that arrived while the caller was busy, together.

    The guard re-reads the whole reply at every check, so checking once per token costs a turn time
    quadratic in its length; under load, tokens queue up while a check runs and are checked at once.
    A slow model still gets one check (and one fragment) per token.
    """
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for chunk in stream:
                queue.put_nowait(("chunk", chunk))
        except Exception as exc:
            queue.put_nowait(("error", exc))
        else:
            queue.put_nowait(("done", None))

    task = asyncio.create_task(pump())
    try:
        while True:
            batch: list[str] = []
            kind, value = await queue.get()
            while kind == "chunk":
                batch.append(value)
                if queue.empty():
                    break
                kind, value = queue.get_nowait()
            if batch:
                yield batch
            if kind == "error":
                raise value
            if kind == "done":
                return
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _split_like(text: str, chunks: list[str]) -> list[str]:
    """``text`` cut where the model's chunks were cut, so the page still fills in token by token."""
    pieces, i = [], 0
    for chunk in chunks[:-1]:
        if i >= len(text):
            break
        pieces.append(text[i : i + len(chunk)])
        i += len(chunk)
    pieces.append(text[i:])
    return [p for p in pieces if p]


async def _with_deadlines(stream: AsyncIterator[str], first: float, total: float) -> AsyncIterator[str]:
    """``stream``, failing with ``FirstTokenLate`` when no chunk came by ``first`` and with
    ``ReplyTooSlow`` when it has not ended by ``total`` (``time.monotonic()`` instants)."""
    iterator = stream.__aiter__()
    started = False
    try:
        while True:
            deadline, late = (total, ReplyTooSlow) if started else (min(first, total), FirstTokenLate)
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
            except StopAsyncIteration:
                return
            except TimeoutError:
                what = "reply did not finish" if started else "first token did not come"
                raise late(f"the language model's {what} in time") from None
            started = True
            yield chunk
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def reply_finish(*, tutor_turn_id: int, text: str, state: str, guard: dict[str, Any], backend: str, model_id: str,
                 latency_ms: float) -> Turn:
    """Store the tutor turn's final wording (idempotent: a finished turn is left as it is)."""
    # One conditional UPDATE: of two racing finishers (the stream and a reconnect) only one matches.
    Turn.objects.filter(pk=tutor_turn_id, state=Turn.State.PENDING).update(
        text=text, state=state, guard=guard, backend=backend, model_id=model_id, latency_ms=round(latency_ms, 2)
    )
    return Turn.objects.get(pk=tutor_turn_id)


def reply_resend(*, tutor_turn_id: int) -> ReplyFinal | None:
    """The final event of one tutor turn, whatever became of its stream: a reply still pending
    gets its authored text first. Sent after a re-sent message, and after a stream whose last
    database write failed (the write may have committed before the connection broke, so "nothing
    pending" does not mean the student saw the reply)."""
    turn = Turn.objects.select_related("session").filter(pk=tutor_turn_id, role=Turn.Role.TUTOR).first()
    if turn is None:
        return None
    if turn.state == Turn.State.PENDING:
        turn = reply_finish(tutor_turn_id=turn.pk, text=turn.authored_text, state=Turn.State.FALLBACK,
                            guard={"reasons": ["connection dropped before the reply finished"]}, backend="",
                            model_id="", latency_ms=0.0)
    return reply_final(turn)


def pending_replies_finish(*, session_id: int) -> list[ReplyFinal]:
    """Tutor turns still pending (their connection dropped mid-reply) get their authored text."""
    out: list[ReplyFinal] = []
    for turn in Turn.objects.filter(session_id=session_id, role=Turn.Role.TUTOR, state=Turn.State.PENDING):
        turn = reply_finish(tutor_turn_id=turn.pk, text=turn.authored_text, state=Turn.State.FALLBACK,
                            guard={"reasons": ["connection dropped before the reply finished"],
                                   "fallback": "connection dropped"},
                            backend=AUTHORED_FALLBACK, model_id="", latency_ms=0.0)
        out.append(reply_final(turn))
    return out


def session_start(*, student: Any, item: Item, sandbox: bool = False) -> TutoringSession:
    """Open (or resume) the student's session on an item, with a first tutor turn presenting it.
    ``sandbox``: a teacher trying the item, whose session is no learner's work (see the model)."""
    with transaction.atomic():
        existing = TutoringSession.objects.filter(
            student=student, item=item, status=TutoringSession.Status.ACTIVE, sandbox=sandbox
        ).first()
        if existing is not None:
            return existing
        first = item.steps.order_by("position", "id").first()
        intro, progress = dialogue_bridge.opening(item=item, step=first)
        session = TutoringSession.objects.create(student=student, course=item.course, item=item, step=first,
                                                 progress=progress, sandbox=sandbox)
        Turn.objects.create(session=session, seq=1, role=Turn.Role.TUTOR, text=intro, authored_text=intro,
                            move="present", mathdial_move=Turn.MathDialMove.GENERIC, item=item, step=first)
    return session


def reply_generate(*, plan: TurnPlan, candidates: int = 2) -> Turn:
    """Phrase the planned move without streaming (replay, API): generate up to ``candidates``
    replies, keep the best one the guard passes, else send the authored text."""
    from tutor.llm import get_backend

    started = time.perf_counter()
    best: tuple[float, str, dict[str, Any]] | None = None
    verdicts: list[dict[str, Any]] = []
    backend_name = model_id = ""
    if not plan.llm_enabled:
        return reply_finish(tutor_turn_id=plan.tutor_turn_id, text=plan.authored_text, state=Turn.State.COMPLETE,
                            guard={"passed": True, "reasons": []}, backend=AUTHORED_ONLY, model_id="",
                            latency_ms=(time.perf_counter() - started) * 1000)
    # The whole call, candidates included, ends by the total deadline (generation stops at the next token).
    expired = threading.Event()
    generating: list[threading.Event] = []  # the cancel event of the candidate being generated

    def expire() -> None:
        expired.set()
        for event in generating:
            event.set()

    timer = threading.Timer(LLM_TOTAL_S, expire)
    timer.daemon = True
    timer.start()
    failure = ""
    try:
        backend = get_backend(plan.llm_backend or None)
        backend_name, model_id = backend.name, backend.model_id
        for i in range(max(1, candidates)):
            cancel = threading.Event()
            generating[:] = [cancel]
            if expired.is_set():
                cancel.set()
            text = _generated(backend, plan, temperature=0.3 if i == 0 else 0.8, cancel=cancel)
            if expired.is_set():
                failure = "total deadline"
                break
            check = _guard(plan, text)
            verdict = _verdict(check)
            verdicts.append(verdict)
            if check.passed and text and (best is None or check.score > best[0]):
                best = (check.score, text, verdict)
            if best is not None and best[0] >= 0.8:
                break
    except Exception as exc:
        log.warning("LLM reply failed (%s); sending the authored text", exc)
        verdicts.append({"passed": False, "reasons": [f"backend error: {type(exc).__name__}"]})
        failure = fallback_reason(exc)
    finally:
        timer.cancel()
    latency = (time.perf_counter() - started) * 1000
    if best is not None:
        return reply_finish(tutor_turn_id=plan.tutor_turn_id, text=best[1], state=Turn.State.COMPLETE,
                            guard={**best[2], "candidates": verdicts, "phrasing": plan.phrasing},
                            backend=backend_name, model_id=model_id, latency_ms=latency)
    if not failure:
        failure = guard_reason((verdicts[-1].get("reasons") if verdicts else None) or [])
    return reply_finish(tutor_turn_id=plan.tutor_turn_id, text=plan.authored_text, state=Turn.State.FALLBACK,
                        guard={"passed": False, "candidates": verdicts, "fallback": failure,
                               "tried": {"backend": backend_name, "model_id": model_id}},
                        backend=AUTHORED_FALLBACK, model_id="", latency_ms=latency)
