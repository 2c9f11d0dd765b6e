"""Pseudonymised exports of the interaction logs for researchers.

Only students whose latest ``Consent`` record gives consent are exported; names and e-mail addresses
never are. Students appear as ``pseudonym(user_id)``: an HMAC-SHA256 of their id under a
per-deployment salt, stable across exports and not reversible without the deployment's secret.

DataShop transaction export (``datashop_rows``; written as tab-delimited, CSV or Parquet). One row
per transaction, in session and turn order:

=====================  ===============================================================================
Column                 Source
=====================  ===============================================================================
Anon Student Id        ``pseudonym(session.student_id)``
Session Id             ``TutoringSession.pk``
Time                   the student turn's time (attempt, hint request) or the tutor turn's time
                       (tutor message), UTC, ``yyyy-MM-dd HH:mm:ss.SSS``
Time Zone              ``UTC``
Student Response Type  ``ATTEMPT`` (a student turn with an ``Attempt``), ``HINT_REQUEST`` (a student
                       turn without one whose tutor reply's move is ``hint`` or ``open_subproblem``),
                       empty for a tutor message
Tutor Response Type    ``HINT_MSG`` for hint requests and tutor hint/subproblem moves, else ``RESULT``
Level (Course)         ``Course.slug``
Problem Name           ``Item.slug``
Step Name              step position (1-based) and the first 60 characters of its prompt
Attempt At Step        attempts and hint requests by this student at this step so far, this one
                       included (across sessions); empty for tutor messages
Outcome                ``CORRECT`` / ``INCORRECT`` (``UNREADABLE`` when the answer could not be read),
                       ``HINT`` for hint requests; empty for tutor messages
Input                  what the student typed
Feedback Text          the tutor's reply (attempt, hint request) or message text (tutor message)
Help Level             the hint level of the tutor turn (hint requests and hint messages)
Total Num Hints        length of the step's authored hint ladder
Condition Name/Type    empty (experiments come later)
KC (Default)           the item's knowledge-component slugs joined with ``~~``
CF (tutor_move)        the dialogue policy's move for the tutor turn
CF (p_correct_before)  the learner model's prediction stored on the ``Attempt``
CF (llm_backend)       the backend that phrased the tutor turn
=====================  ===============================================================================

Student messages that are neither an answer nor a hint request (chat) have no DataShop row; they are
in the JSONL export (``dialogue_rows``), which has every turn of the dialogue. Hint ladders of
subproblems are not counted in ``Total Num Hints`` yet.

Rows are read with ``.iterator()``; only per-course lookups (KC slugs per item, hints per step) and
one attempt counter per (student, step) are held in memory.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, QuerySet, Subquery

from content.models import Course, Item, Step
from tutor.models import Attempt, Consent, Turn

DATASHOP_COLUMNS = [
    "Anon Student Id",
    "Session Id",
    "Time",
    "Time Zone",
    "Student Response Type",
    "Tutor Response Type",
    "Level (Course)",
    "Problem Name",
    "Step Name",
    "Attempt At Step",
    "Outcome",
    "Input",
    "Feedback Text",
    "Help Level",
    "Total Num Hints",
    "Condition Name",
    "Condition Type",
    "KC (Default)",
    "CF (tutor_move)",
    "CF (p_correct_before)",
    "CF (llm_backend)",
]
FORMATS = ("datashop", "jsonl", "csv", "parquet")
HINT_MOVES = frozenset({"hint", "open_subproblem"})
PARQUET_BATCH_ROWS = 10_000
_CHUNK = 2000


def _salt() -> bytes:
    configured = getattr(settings, "RESEARCH_PSEUDONYM_SALT", "")
    if configured:
        return str(configured).encode()
    # Derived, not the secret itself: a leaked salt must not reveal SECRET_KEY.
    return hmac.new(settings.SECRET_KEY.encode(), b"tutor.research-pseudonym-salt", hashlib.sha256).digest()


def pseudonym(user_id: int, *, salt: bytes | None = None) -> str:
    digest = hmac.new(salt if salt is not None else _salt(), str(int(user_id)).encode(), hashlib.sha256)
    return "stu_" + digest.hexdigest()[:16]


def consenting_students() -> QuerySet[Any]:
    """Ids of users whose latest consent record gives consent."""
    latest = Consent.objects.filter(student=OuterRef("pk")).order_by("-at", "-id").values("given")[:1]
    return get_user_model().objects.annotate(consent=Subquery(latest)).filter(consent=True).values("pk")


def _since_datetime(since: date | datetime | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    return datetime.combine(since, time.min, tzinfo=UTC)


def export_turns(*, course: Course, since: date | datetime | None = None) -> QuerySet[Turn]:
    turns = Turn.objects.filter(session__course=course, session__student__in=consenting_students())
    start = _since_datetime(since)
    if start is not None:
        turns = turns.filter(created__gte=start)
    return turns.select_related("session", "item", "step", "attempt", "attempt__misconception", "reply").order_by(
        "session__created", "session_id", "seq"
    )


def export_attempts(*, course: Course) -> QuerySet[Attempt]:
    return (
        Attempt.objects.filter(session__course=course, session__student__in=consenting_students())
        .select_related("session", "step", "step__item")
        .order_by("created", "id")
    )


def format_time(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def _clean(text: str) -> str:
    """One line, no tabs: DataShop's format has no quoting."""
    return " ".join(text.split())


def _step_name(step: Step | None) -> str:
    if step is None:
        return ""
    prompt = _clean(step.prompt)
    return f"{step.position + 1}: {prompt[:60]}{'…' if len(prompt) > 60 else ''}"


def _reply(turn: Turn) -> Turn | None:
    try:
        return turn.reply
    except Turn.DoesNotExist:
        return None


def _attempt(turn: Turn) -> Attempt | None:
    try:
        return turn.attempt
    except Attempt.DoesNotExist:
        return None


def datashop_rows(*, course: Course, since: date | datetime | None = None) -> Iterator[dict[str, str]]:
    """One dict per DataShop transaction (keys: ``DATASHOP_COLUMNS``); see the module docstring."""
    salt = _salt()
    kcs: dict[int, list[str]] = {}
    item_kcs = Item.kcs.through.objects.filter(item__course=course).order_by(
        "knowledgecomponent__position", "knowledgecomponent_id"
    )
    for item_id, slug in item_kcs.values_list("item_id", "knowledgecomponent__slug"):
        kcs.setdefault(item_id, []).append(slug)
    ladders = dict(
        Step.objects.filter(item__course=course).annotate(n=Count("hints")).values_list("pk", "n")
    )
    attempts_at_step: dict[tuple[int, int], int] = {}

    for turn in export_turns(course=course, since=since).iterator(chunk_size=_CHUNK):
        session = turn.session
        step = turn.step
        reply = _reply(turn)
        attempt = _attempt(turn) if turn.role == Turn.Role.STUDENT else None
        row = dict.fromkeys(DATASHOP_COLUMNS, "")
        row.update({
            "Anon Student Id": pseudonym(session.student_id, salt=salt),
            "Session Id": str(session.pk),
            "Time": format_time(turn.created),
            "Time Zone": "UTC",
            "Level (Course)": course.slug,
            "Problem Name": turn.item.slug if turn.item else "",
            "Step Name": _step_name(step),
            "Total Num Hints": str(ladders.get(step.pk, 0)) if step else "",
            "KC (Default)": "~~".join(kcs.get(turn.item_id, [])) if turn.item_id else "",
        })
        if turn.role == Turn.Role.TUTOR:
            row.update({
                "Tutor Response Type": "HINT_MSG" if turn.move in HINT_MOVES else "RESULT",
                "Feedback Text": _clean(turn.text or turn.authored_text),
                "Help Level": str(turn.hint_level) if turn.move in HINT_MOVES else "",
                "CF (tutor_move)": turn.move,
                "CF (llm_backend)": turn.backend,
            })
            yield row
            continue
        if attempt is None and (reply is None or reply.move not in HINT_MOVES):
            continue  # chat, not a transaction (it is in the JSONL export)
        if step is not None:
            key = (session.student_id, step.pk)
            attempts_at_step[key] = attempts_at_step.get(key, 0) + 1
            row["Attempt At Step"] = str(attempts_at_step[key])
        row.update({
            "Input": _clean(turn.text),
            "Feedback Text": _clean(reply.text or reply.authored_text) if reply else "",
            "CF (tutor_move)": reply.move if reply else "",
            "CF (llm_backend)": reply.backend if reply else "",
        })
        if attempt is not None:
            row.update({
                "Student Response Type": "ATTEMPT",
                "Tutor Response Type": "RESULT",
                "Outcome": attempt.outcome.upper(),
                "CF (p_correct_before)": "" if attempt.p_correct_before is None else f"{attempt.p_correct_before:.4f}",
            })
        else:
            assert reply is not None
            row.update({
                "Student Response Type": "HINT_REQUEST",
                "Tutor Response Type": "HINT_MSG",
                "Outcome": "HINT",
                "Help Level": str(reply.hint_level),
            })
        yield row


def dialogue_rows(*, course: Course, since: date | datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every turn of every exported session, with its attempt, for the JSONL export."""
    salt = _salt()
    for turn in export_turns(course=course, since=since).iterator(chunk_size=_CHUNK):
        attempt = _attempt(turn)
        yield {
            "anon_student_id": pseudonym(turn.session.student_id, salt=salt),
            "session_id": turn.session_id,
            "seq": turn.seq,
            "time": format_time(turn.created),
            "role": turn.role,
            "text": turn.text,
            "course": course.slug,
            "item": turn.item.slug if turn.item else None,
            "step": turn.step.position + 1 if turn.step else None,
            "move": turn.move,
            "mathdial_move": turn.mathdial_move,
            "hint_level": turn.hint_level,
            "authored_text": turn.authored_text,
            "released_answer": turn.released_answer,
            "state": turn.state,
            "backend": turn.backend,
            "model_id": turn.model_id,
            "latency_ms": turn.latency_ms,
            "guard": turn.guard,
            "attempt": None if attempt is None else {
                "raw": attempt.raw,
                "parsed": attempt.parsed,
                "outcome": attempt.outcome,
                "correct": attempt.correct,
                "partial": attempt.partial,
                "misconception": attempt.misconception.name if attempt.misconception else None,
                "p_correct_before": attempt.p_correct_before,
            },
        }


# ---------------------------------------------------------------------------------------------
# Writers: each consumes an iterable of rows and returns how many it wrote.


def tsv_lines(rows: Iterable[dict[str, str]]) -> Iterator[str]:
    yield "\t".join(DATASHOP_COLUMNS) + "\n"
    for row in rows:
        yield "\t".join(row[c] for c in DATASHOP_COLUMNS) + "\n"


def tsv_write(rows: Iterable[dict[str, str]], out: IO[str]) -> int:
    n = -1  # the header is not a row
    for line in tsv_lines(rows):
        out.write(line)
        n += 1
    return n


def csv_write(rows: Iterable[dict[str, str]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=DATASHOP_COLUMNS)
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n


def jsonl_write(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def parquet_write(rows: Iterable[dict[str, str]], path: Path, *, batch_rows: int = PARQUET_BATCH_ROWS) -> int:
    """DataShop columns as strings, one RecordBatch per ``batch_rows`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in DATASHOP_COLUMNS])
    n = 0
    batch: list[dict[str, str]] = []
    with pq.ParquetWriter(str(path), schema) as writer:
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_rows:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                n += len(batch)
                batch = []
        if batch or n == 0:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            n += len(batch)
    return n


def export_write(
    *,
    fmt: str,
    course: Course,
    path: Path,
    since: date | datetime | None = None,
    wrap: Callable[[Iterator[Any]], Iterable[Any]] = lambda rows: rows,
) -> int:
    """Write one export to ``path`` through a temporary file in the same folder, renamed into place
    only when complete, so a crash never leaves a half-written export. ``wrap`` sees the row
    iterator (the command adds a progress bar). Returns the number of rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        if fmt == "parquet":
            os.close(fd)
            n = parquet_write(wrap(datashop_rows(course=course, since=since)), tmp)
        else:
            with open(fd, "w", encoding="utf-8", newline="") as out:
                if fmt == "jsonl":
                    n = jsonl_write(wrap(dialogue_rows(course=course, since=since)), out)
                elif fmt == "csv":
                    n = csv_write(wrap(datashop_rows(course=course, since=since)), out)
                else:
                    n = tsv_write(wrap(datashop_rows(course=course, since=since)), out)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n
