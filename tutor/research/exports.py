"""Pseudonymised exports of the interaction logs for researchers.

Only students whose latest ``Consent`` record gives consent are exported; names and e-mail addresses
never are, in the free text neither: unless the export is identifiable, what students typed and the
tutor's replies (which may quote them) pass through ``tutor.research.redaction``, which replaces
names of the course's people, e-mail addresses, phone numbers, URLs and street addresses with
labels such as ``[NAME]``, and each row says how many spans it replaced (``CF (redacted)`` in
DataShop, ``redacted`` in JSONL and in the research API). Students appear as
``pseudonym(user_id)``: an HMAC-SHA256 of their id under a per-deployment salt, stable across
exports and not reversible without the deployment's secret.

DataShop transaction export (``datashop_rows``; written as tab-delimited, CSV or Parquet), following
DataShop's tab-delimited import format: one row per student action (every message the student
sent: answers, hint requests, "why" questions, requests for the answer, chat), with the tutor's
reply to it as the row's feedback. The tutor's own opening question is no transaction (it has no
student action); it is in the JSONL export. Every row type and column is documented in
docs/datashop.md, with what DataShop does with it.

The JSONL export (``dialogue_rows``) has one object per turn with the same student pseudonym,
``condition_name`` / ``condition_type`` and the turn's attempt, if any (``username`` only when
identifiable, as above). ``since`` / ``until`` select turns by time (``since`` inclusive, ``until``
exclusive); ``Attempt At Step`` counts from ``since``.

Rows are read with ``.iterator(chunk_size=...)`` over one joined query; only per-course lookups (KC
slugs per item, hints per step, each student's condition and pseudonym) and one attempt counter per
(student, step) are held in memory, so memory does not grow with the number of transactions
(``python -m tutor.benchmarks.exports_bench`` measures it).
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
from typing import IO, Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from content.models import Course, Item, Step
from tutor.courses.models import ConditionAssignment
from tutor.models import Turn
from tutor.research.models import Consent
from tutor.research.redaction import Redactor

DATASHOP_COLUMNS = [
    "Anon Student Id",
    "Session Id",
    "Time",
    "Time Zone",
    "Student Response Type",
    "Student Response Subtype",
    "Tutor Response Type",
    "Tutor Response Subtype",
    "Level (Course)",
    "Problem Name",
    "Step Name",
    "Attempt At Step",
    "Outcome",
    "Selection",
    "Action",
    "Input",
    "Feedback Text",
    "Feedback Classification",
    "Help Level",
    "Total Num Hints",
    "Condition Name",
    "Condition Type",
    "KC (Default)",
    "CF (p_correct_before)",
    "CF (intent)",
    "CF (llm_backend)",
    "CF (redacted)",
]
IDENTIFIABLE_COLUMN = "CF (username)"
FORMATS = ("datashop", "jsonl", "csv", "parquet")
# The tutor's moves that climb the hint ladder (a rung, a subproblem, the worked answer at its end).
HINT_MOVES = frozenset({"hint", "open_subproblem", "bottom_out"})
# Replies to a request for help that give no new rung, and the Student Response Subtype they get.
HELD_BACK_HINTS = {"encourage": "asked to try first", "refer_teacher": "referred to the teacher"}
PARQUET_BATCH_ROWS = 10_000
_CHUNK = 2000


def _salt() -> bytes:
    configured = settings.RESEARCH_PSEUDONYM_SALT
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


def datashop_columns(*, identifiable: bool = False) -> list[str]:
    return [*DATASHOP_COLUMNS, IDENTIFIABLE_COLUMN] if identifiable else list(DATASHOP_COLUMNS)


def day_start(day: date | datetime | None) -> datetime | None:
    """A day means its start, 00:00 UTC; a datetime is kept as it is."""
    if day is None or isinstance(day, datetime):
        return day
    return datetime.combine(day, time.min, tzinfo=UTC)


def conditions_by_student(*, course: Course) -> dict[int, tuple[str, str]]:
    """Each assigned student's (condition name, condition type) in the course."""
    rows = ConditionAssignment.objects.filter(course=course).values_list(
        "student_id", "condition__name", "condition__condition_type"
    )
    return {student_id: (name, kind) for student_id, name, kind in rows}


def usernames(*, course: Course) -> dict[int, str]:
    """Usernames of the course's students: only for identifiable exports."""
    users = get_user_model().objects.filter(tutoring_sessions__course=course,
                                            tutoring_sessions__sandbox=False).distinct()
    return dict(users.values_list("pk", "username"))


def people_names(*, course: Course) -> set[str]:
    """Usernames, first and last names of everybody in the course: its students (sessions and
    classes), its teachers (classes and course) and its owner."""
    people = get_user_model().objects.filter(
        Q(tutoring_sessions__course=course) | Q(classrooms__course=course) | Q(classrooms_taught__course=course)
        | Q(taught_courses=course) | Q(pk=course.owner_id)
    ).distinct()
    names: set[str] = set()
    for username, first, last in people.values_list("username", "first_name", "last_name"):
        names.update(n for n in (username, first, last, f"{first} {last}".strip()) if n)
    return names


def redactor_for(*, course: Course) -> Redactor:
    """The redactor of a non-identifiable export of ``course``."""
    return Redactor(people_names(course=course), phone_regions=settings.TUTOR_REDACTION_PHONE_REGIONS)


class Redaction:
    """Free text of one export: redacted (counting the spans) unless the export is identifiable."""

    def __init__(self, course: Course, *, identifiable: bool) -> None:
        self.redactor = None if identifiable else redactor_for(course=course)

    def text(self, value: str | None) -> tuple[str, int]:
        if self.redactor is None or not value:
            return value or "", 0
        return self.redactor.redact(value)

    def nested(self, value: Any) -> tuple[Any, int]:
        """Every string in a JSON-like value (the guard's verdict quotes the reply)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            parts = [self.nested(v) for v in value]
            return [p[0] for p in parts], sum(p[1] for p in parts)
        if isinstance(value, dict):
            items = {k: self.nested(v) for k, v in value.items()}
            return {k: v[0] for k, v in items.items()}, sum(v[1] for v in items.values())
        return value, 0


class Pseudonyms(dict[int, str]):
    """``pseudonym`` cached per student for one export (an HMAC per row is most of the row's cost)."""

    def __init__(self) -> None:
        super().__init__()
        self.salt = _salt()

    def __missing__(self, user_id: int) -> str:
        value = self[user_id] = pseudonym(user_id, salt=self.salt)
        return value


def export_turns(
    *, course: Course, since: date | datetime | None = None, until: date | datetime | None = None
) -> QuerySet[Turn]:
    # A teacher's sandbox (TutoringSession.sandbox) is no learner's work.
    turns = Turn.objects.filter(session__course=course, session__sandbox=False,
                                session__student__in=consenting_students())
    start, end = day_start(since), day_start(until)
    if start is not None:
        turns = turns.filter(created__gte=start)
    if end is not None:
        turns = turns.filter(created__lt=end)
    return turns.order_by("session__created", "session_id", "seq")


def format_time(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def _clean(text: str) -> str:
    """One line, no tabs: DataShop's format has no quoting."""
    return " ".join(text.split())


def _step_name(position: int, prompt: str) -> str:
    prompt = _clean(prompt)
    return f"{position + 1}: {prompt[:60]}{'…' if len(prompt) > 60 else ''}"


class _Course:
    """Per-course lookups an export holds in memory (small: they grow with the curriculum and the
    number of students, not with the number of transactions)."""

    def __init__(self, course: Course, *, identifiable: bool) -> None:
        self.slug = course.slug
        self.items = dict(Item.objects.filter(course=course).values_list("pk", "slug"))
        self.kcs: dict[int, list[str]] = {}
        item_kcs = Item.kcs.through.objects.filter(item__course=course).order_by(
            "knowledgecomponent__position", "knowledgecomponent_id"
        )
        for item_id, slug in item_kcs.values_list("item_id", "knowledgecomponent__slug"):
            self.kcs.setdefault(item_id, []).append(slug)
        steps = Step.objects.filter(item__course=course).annotate(n=Count("hints"))
        self.steps = {pk: (position, _step_name(position, prompt), n)
                      for pk, position, prompt, n in steps.values_list("pk", "position", "prompt", "n")}
        self.conditions = conditions_by_student(course=course)
        self.names = usernames(course=course) if identifiable else {}
        self.anon = Pseudonyms()
        self.redaction = Redaction(course, identifiable=identifiable)


class Transaction(NamedTuple):
    """What kind of student action a row is (docs/datashop.md): ``student`` and ``action`` name it,
    ``tutor`` is DataShop's Tutor Response Type, ``graded`` whether it has an Outcome."""

    student: str
    action: str
    tutor: str
    graded: bool


ATTEMPT = Transaction("ATTEMPT", "Answer", "RESULT", True)
HINT_REQUEST = Transaction("HINT_REQUEST", "Hint request", "HINT_MSG", True)
WHY_QUESTION = Transaction("WHY_QUESTION", "Why question", "HINT_MSG", False)
ANSWER_REQUEST = Transaction("ANSWER_REQUEST", "Answer request", "MESSAGE", False)
CHAT = Transaction("CHAT", "Chat", "MESSAGE", False)
TRANSACTIONS = (ATTEMPT, HINT_REQUEST, WHY_QUESTION, ANSWER_REQUEST, CHAT)


def transaction_kind(*, has_attempt: bool, reply_move: str | None, reply_hint_level: int = 0) -> Transaction:
    """The kind of a student message, from what the tutor made of it: a checked answer; else the
    tutor's reply says what was asked (a rung of the hint ladder; or, to a request for help, "try
    the last rung first" or "ask your teacher", the only encouragements and referrals that carry a
    hint level; a concept explanation; a declined request for the answer); anything else is chat."""
    if has_attempt:
        return ATTEMPT
    if reply_move in HINT_MOVES or (reply_move in HELD_BACK_HINTS and reply_hint_level):
        return HINT_REQUEST
    if reply_move == "explain_concept":
        return WHY_QUESTION
    if reply_move == "decline_answer":
        return ANSWER_REQUEST
    return CHAT


def _selection(step: tuple[int, str, int] | None, subproblem: int | None) -> str:
    """The part of the problem the student worked on: the step, or the step's open subproblem."""
    if step is None:
        return "problem"
    return f"step {step[0] + 1}" + (f" part {subproblem + 1}" if subproblem is not None else "")


# One query, one tuple per student turn with its reply and attempt: model instances (five per row
# with the joins) would cost most of the export's time.
_DATASHOP_FIELDS = (
    "session_id", "session__student_id", "created", "text", "item_id", "step_id",
    "reply__text", "reply__authored_text", "reply__move", "reply__hint_level", "reply__backend",
    "attempt__id", "attempt__outcome", "attempt__p_correct_before", "attempt__misconception__name",
    "attempt__subproblem__position", "intent",
)


def datashop_rows(
    *,
    course: Course,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    identifiable: bool = False,
) -> Iterator[dict[str, str]]:
    """One dict per DataShop transaction (keys: ``datashop_columns(identifiable=...)``): one per
    student message, see the module docstring and docs/datashop.md. ``identifiable`` adds the
    username: the caller checks the researcher's grant."""
    info = _Course(course, identifiable=identifiable)
    columns = datashop_columns(identifiable=identifiable)
    attempts_at_step: dict[tuple[int, int], int] = {}
    turns = export_turns(course=course, since=since, until=until).filter(role=Turn.Role.STUDENT)

    for (session_id, student_id, created, text, item_id, step_id, reply_text, reply_authored, reply_move,
         reply_hint_level, reply_backend, attempt_id, outcome, p_before, misconception,
         subproblem, intent) in turns.values_list(*_DATASHOP_FIELDS).iterator(chunk_size=_CHUNK):
        kind = transaction_kind(has_attempt=attempt_id is not None, reply_move=reply_move,
                                reply_hint_level=reply_hint_level or 0)
        step = info.steps.get(step_id) if step_id is not None else None
        condition_name, condition_type = info.conditions.get(student_id, ("", ""))
        given, n_given = info.redaction.text(text)
        feedback, n_feedback = info.redaction.text(reply_text or reply_authored or "")
        row = dict.fromkeys(columns, "")
        if identifiable:
            row[IDENTIFIABLE_COLUMN] = _clean(info.names.get(student_id, ""))
        row.update({
            "Anon Student Id": info.anon[student_id],
            "Session Id": str(session_id),
            "Time": format_time(created),
            "Time Zone": "UTC",
            "Student Response Type": kind.student,
            "Tutor Response Type": kind.tutor if reply_move is not None else "",
            "Tutor Response Subtype": reply_move or "",
            "Level (Course)": info.slug,
            "Problem Name": info.items.get(item_id, "") if item_id is not None else "",
            "Step Name": step[1] if step else "",
            "Selection": _selection(step, subproblem),
            "Action": kind.action,
            "Input": _clean(given),
            "Feedback Text": _clean(feedback),
            "Total Num Hints": str(step[2]) if step else "",
            "Condition Name": _clean(condition_name),
            "Condition Type": _clean(condition_type),
            "KC (Default)": "~~".join(info.kcs.get(item_id, [])) if item_id is not None else "",
            "CF (intent)": intent,
            "CF (llm_backend)": reply_backend or "",
            "CF (redacted)": str(n_given + n_feedback),
        })
        if kind is ATTEMPT:
            row["Student Response Subtype"] = "subproblem" if subproblem is not None else ""
            if outcome == "unreadable":  # not evaluated: the tutor asked for an answer it can read
                row.update({"Student Response Subtype": "unreadable", "Feedback Classification": "unreadable"})
            else:
                row["Outcome"] = outcome.upper()
                row["Feedback Classification"] = _clean(misconception or "")
            row["CF (p_correct_before)"] = "" if p_before is None else f"{p_before:.4f}"
        elif kind is HINT_REQUEST:
            row.update({"Outcome": "HINT", "Help Level": str(reply_hint_level or 0)})
            row["Student Response Subtype"] = HELD_BACK_HINTS.get(reply_move or "", "")
        if row["Outcome"] and step_id is not None:
            key = (student_id, step_id)
            attempts_at_step[key] = attempts_at_step.get(key, 0) + 1
            row["Attempt At Step"] = str(attempts_at_step[key])
        if row["Feedback Classification"] and not row["Feedback Text"]:
            row["Feedback Classification"] = ""  # DataShop: a classification needs a feedback text
        yield row


_DIALOGUE_FIELDS = (
    "session_id", "session__student_id", "seq", "created", "role", "text", "item_id", "step_id", "move",
    "mathdial_move", "hint_level", "authored_text", "released_answer", "state", "backend", "model_id",
    "latency_ms", "guard", "attempt__id", "attempt__raw", "attempt__parsed", "attempt__outcome",
    "attempt__correct", "attempt__partial", "attempt__misconception__name", "attempt__p_correct_before", "intent",
)


def dialogue_rows(
    *,
    course: Course,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    identifiable: bool = False,
) -> Iterator[dict[str, Any]]:
    """Every turn of every exported session, with its attempt, for the JSONL export."""
    info = _Course(course, identifiable=identifiable)
    turns = export_turns(course=course, since=since, until=until).values(*_DIALOGUE_FIELDS)
    for t in turns.iterator(chunk_size=_CHUNK):
        student_id = t["session__student_id"]
        condition_name, condition_type = info.conditions.get(student_id, ("", ""))
        step = info.steps.get(t["step_id"]) if t["step_id"] is not None else None
        row: dict[str, Any] = {"anon_student_id": info.anon[student_id]}
        if identifiable:
            row["username"] = info.names.get(student_id, "")
        text, n_text = info.redaction.text(t["text"])
        authored, n_authored = info.redaction.text(t["authored_text"])
        raw, n_raw = info.redaction.text(t["attempt__raw"])
        parsed, n_parsed = info.redaction.text(t["attempt__parsed"])
        guard, n_guard = info.redaction.nested(t["guard"])
        yield row | {
            "session_id": t["session_id"],
            "seq": t["seq"],
            "time": format_time(t["created"]),
            "role": t["role"],
            "text": text,
            "intent": t["intent"],
            "course": info.slug,
            "condition_name": condition_name,
            "condition_type": condition_type,
            "item": info.items.get(t["item_id"]) if t["item_id"] is not None else None,
            "step": step[0] + 1 if step else None,
            "move": t["move"],
            "mathdial_move": t["mathdial_move"],
            "hint_level": t["hint_level"],
            "authored_text": authored,
            "released_answer": t["released_answer"],
            "state": t["state"],
            "backend": t["backend"],
            "model_id": t["model_id"],
            "latency_ms": t["latency_ms"],
            "guard": guard,
            "redacted": n_text + n_authored + n_raw + n_parsed + n_guard,
            "attempt": None if t["attempt__id"] is None else {
                "raw": raw,
                "parsed": parsed,
                "outcome": t["attempt__outcome"],
                "correct": t["attempt__correct"],
                "partial": t["attempt__partial"],
                "misconception": t["attempt__misconception__name"],
                "p_correct_before": t["attempt__p_correct_before"],
            },
        }


# ---------------------------------------------------------------------------------------------
# Writers: each consumes an iterable of rows and returns how many it wrote.


def tsv_lines(rows: Iterable[dict[str, str]], *, columns: list[str] = DATASHOP_COLUMNS) -> Iterator[str]:
    yield "\t".join(columns) + "\n"
    for row in rows:
        yield "\t".join(row[c] for c in columns) + "\n"


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def tsv_write(rows: Iterable[dict[str, str]], out: IO[str], *, columns: list[str] = DATASHOP_COLUMNS) -> int:
    n = -1  # the header is not a row
    for line in tsv_lines(rows, columns=columns):
        out.write(line)
        n += 1
    return n


def csv_write(rows: Iterable[dict[str, str]], out: IO[str], *, columns: list[str] = DATASHOP_COLUMNS) -> int:
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n


def jsonl_write(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for line in jsonl_lines(rows):
        out.write(line)
        n += 1
    return n


def parquet_write(
    rows: Iterable[dict[str, str]],
    path: Path,
    *,
    batch_rows: int = PARQUET_BATCH_ROWS,
    columns: list[str] = DATASHOP_COLUMNS,
) -> int:
    """DataShop columns as strings, one RecordBatch per ``batch_rows`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in columns])
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
    until: date | datetime | None = None,
    identifiable: bool = False,
    wrap: Callable[[Iterator[Any]], Iterable[Any]] = lambda rows: rows,
) -> int:
    """Write one export to ``path`` through a temporary file in the same folder, renamed into place
    only when complete, so a crash never leaves a half-written export. ``wrap`` sees the row
    iterator (the command adds a progress bar). Returns the number of rows written.
    ``identifiable`` adds usernames: callers check the researcher's grant first."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp_name)
    select: dict[str, Any] = {"course": course, "since": since, "until": until, "identifiable": identifiable}
    columns = datashop_columns(identifiable=identifiable)
    try:
        if fmt == "parquet":
            os.close(fd)
            n = parquet_write(wrap(datashop_rows(**select)), tmp, columns=columns)
        else:
            with open(fd, "w", encoding="utf-8", newline="") as out:
                if fmt == "jsonl":
                    n = jsonl_write(wrap(dialogue_rows(**select)), out)
                elif fmt == "csv":
                    n = csv_write(wrap(datashop_rows(**select)), out, columns=columns)
                else:
                    n = tsv_write(wrap(datashop_rows(**select)), out, columns=columns)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n
