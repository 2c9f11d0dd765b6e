"""Import external interaction logs into the learner model's training data (``tracing.Observation``
rows, through ``tracing.services.observations_import``; ASSISTments rows read by ``tracing.psikt.data``),
the other half of the research exports.

Formats (tab-delimited, UTF-8, a header line first):

- ``datashop``: a DataShop transaction export (ours, ``tutor.research.exports``, or any other). Required
  columns: ``Anon Student Id``, ``Time``, ``Problem Name``, ``Step Name``, ``Outcome``; optional:
  ``Time Zone`` (``UTC`` when absent or empty; an IANA name otherwise), ``Level (Course)`` (picks the
  course when ``--course`` is not given), ``Transaction Id``, and ``KC (<model>)`` columns (the first
  one, or the one named by ``kc_model``; several KCs are joined with ``~~``). One answer per row whose
  ``Outcome`` is ``CORRECT`` / ``OK`` (right) or ``INCORRECT`` / ``ERROR`` / ``BUG`` / ``UNREADABLE``
  (wrong). ``HINT`` rows and rows with no outcome (questions, chat, unreadable answers) are counted and
  skipped.
- ``assistments``: ``user_id item_id timestamp correct skill_id`` (header case-insensitive; e.g.
  ASSISTments 2017, ``assist17_timed.tsv``). ``timestamp`` is seconds since the Unix epoch (UTC),
  ``correct`` is 0 or 1, ``skill_id`` may be empty.

What the external identifiers become (decided here, once):

- a student is an inactive account with no password and no role, named
  ``log-<source>-<external id>`` (``source`` defaults to the format; pass another to keep two logs'
  students apart). Imported students cannot sign in and never appear in exports of tutoring logs.
- a KC is the course's KC whose slug or ``source_id`` equals the external name, else a new KC (slug
  from the name, ``source_id`` = the name).
- an item is the course's item whose slug or ``source_id`` equals ``Problem Name`` / ``item_id``
  (then the observation points at it, and takes the item's KCs when the row names none); otherwise the
  observation keeps the external reference (``Problem Name · Step Name`` for DataShop), which the
  learner model treats as an item of its own.

The import is checked whole before anything is written: every bad row is reported with its line
number and nothing is stored. Then everything is written in one transaction. Re-importing the same
file adds nothing: each answer's idempotency key is a hash of the course, the source and the row's
content (the DataShop ``Transaction Id`` when present), numbered when identical rows repeat.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from content.models import Course, Item, KnowledgeComponent
from tracing.psikt.data import AssistmentsFormatError, assistments_answer, assistments_columns
from tracing.services import ImportedAnswer, observations_import

FORMATS = ("datashop", "assistments")
DATASHOP_REQUIRED = ("Anon Student Id", "Time", "Problem Name", "Step Name", "Outcome")
RIGHT = frozenset({"CORRECT", "OK"})
WRONG = frozenset({"INCORRECT", "ERROR", "BUG", "UNREADABLE"})
SKIPPED = frozenset({"HINT", ""})
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S.%f",
                "%Y-%m-%dT%H:%M:%S")
KC_COLUMN = re.compile(r"^KC \((.+)\)$")
MAX_PROBLEMS_SHOWN = 50


class LogImportError(Exception):
    """The file cannot be imported; ``problems`` lists why, with line numbers."""

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        more = f"\n… and {self.total - len(problems)} more" if self.total > len(problems) else ""
        super().__init__("\n".join(problems) + more)


@dataclass(frozen=True)
class LogAnswer:
    line: int
    course: str  # slug
    learner: str  # external id
    item: str  # external item (Problem Name / item_id)
    step: str
    kcs: tuple[str, ...]
    correct: bool
    at: datetime
    key: str  # content of the row that identifies it


@dataclass
class LogImportReport:
    rows: int = 0
    answers: int = 0
    created: int = 0
    skipped_hints: int = 0
    skipped_other: int = 0  # tutor messages and rows with no outcome
    courses_created: list[str] = field(default_factory=list)
    learners_created: int = 0
    kcs_created: int = 0
    matched_items: int = 0

    @property
    def existing(self) -> int:
        return self.answers - self.created


# Parses one data line (its number, its cells): an answer, a problem, or None for a skipped row.
_RowParser = Callable[[int, list[str]], "LogAnswer | str | None"]


def _parse_time(text: str, zone: tzinfo) -> datetime | None:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def _zone(name: str, cache: dict[str, tzinfo]) -> tzinfo:
    if name not in cache:
        if name.upper() in ("", "UTC", "GMT", "Z"):
            cache[name] = UTC
        else:
            cache[name] = ZoneInfo(name)  # raises ZoneInfoNotFoundError / ValueError
    return cache[name]


class _Reader:
    """Reads one log file, yielding answers or problems (``str``) and counting skipped rows."""

    def __init__(self, path: Path, fmt: str, *, course: str | None, kc_model: str | None) -> None:
        if fmt not in FORMATS:
            raise LogImportError([f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}."])
        self.path, self.fmt, self.course, self.kc_model = path, fmt, course, kc_model
        self.skipped_hints = self.skipped_other = self.rows = 0

    def __iter__(self) -> Iterator[LogAnswer | str]:
        self.skipped_hints = self.skipped_other = self.rows = 0
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as f:
                header_line = f.readline()
                if not header_line.strip():
                    yield "line 1: the file is empty (expected a header line)."
                    return
                header = [h.strip() for h in header_line.rstrip("\r\n").split("\t")]
                parse = self._datashop(header) if self.fmt == "datashop" else self._assistments(header)
                if isinstance(parse, str):
                    yield parse
                    return
                for number, line in enumerate(f, start=2):
                    line = line.rstrip("\r\n")
                    if not line.strip():
                        continue
                    self.rows += 1
                    cells = line.split("\t")
                    if len(cells) != len(header):
                        yield f"line {number}: expected {len(header)} tab-separated fields, got {len(cells)}."
                        continue
                    result = parse(number, cells)
                    if result is not None:
                        yield result
        except UnicodeDecodeError as exc:
            yield f"{self.path}: not UTF-8 text ({exc.reason} at byte {exc.start})."

    def _datashop(self, header: list[str]) -> str | _RowParser:
        missing = [c for c in DATASHOP_REQUIRED if c not in header]
        if missing:
            return f"line 1: missing DataShop column(s): {', '.join(missing)}."
        kc_columns = [c for c in header if KC_COLUMN.match(c)]
        if self.kc_model is not None:
            wanted = f"KC ({self.kc_model})"
            if wanted not in header:
                return f"line 1: no column {wanted!r}; KC columns here: {', '.join(kc_columns) or 'none'}."
            kc_columns = [wanted]
        if self.course is None and "Level (Course)" not in header:
            return "line 1: no 'Level (Course)' column: name the course with --course."
        at = {c: i for i, c in enumerate(header)}
        kc_index = at[kc_columns[0]] if kc_columns else None
        zones: dict[str, tzinfo] = {}
        reader = self

        def parse(number: int, cells: list[str]) -> LogAnswer | str | None:
            def cell(name: str) -> str:
                i = at.get(name)
                return cells[i].strip() if i is not None else ""

            outcome = cell("Outcome").upper()
            if outcome in SKIPPED:
                if outcome == "HINT":
                    reader.skipped_hints += 1
                else:
                    reader.skipped_other += 1
                return None
            if outcome not in RIGHT and outcome not in WRONG:
                return (f"line {number}: Outcome {cell('Outcome')!r} is not one of "
                        f"{', '.join(sorted(RIGHT | WRONG | {'HINT'}))} (or empty).")
            student, problem = cell("Anon Student Id"), cell("Problem Name")
            if not student:
                return f"line {number}: Anon Student Id is empty."
            if not problem:
                return f"line {number}: Problem Name is empty."
            try:
                zone = _zone(cell("Time Zone"), zones)
            except (ZoneInfoNotFoundError, ValueError):
                return f"line {number}: unknown Time Zone {cell('Time Zone')!r} (use UTC or a name like Europe/Paris)."
            when = _parse_time(cell("Time"), zone)
            if when is None:
                return f"line {number}: Time {cell('Time')!r} is not yyyy-MM-dd HH:mm:ss[.SSS]."
            course = reader.course or cell("Level (Course)")
            if not course:
                return f"line {number}: Level (Course) is empty (or name the course with --course)."
            kcs = tuple(k.strip() for k in cells[kc_index].split("~~") if k.strip()) if kc_index is not None else ()
            transaction_id = cell("Transaction Id")
            key = transaction_id or "\x1f".join(
                [student, cell("Session Id"), cell("Time"), cell("Time Zone"), problem, cell("Step Name"), outcome,
                 cell("Input"), cell("Attempt At Step")])
            return LogAnswer(number, course, student, problem, cell("Step Name"), kcs, outcome in RIGHT, when, key)

        return parse

    def _assistments(self, header: list[str]) -> str | _RowParser:
        try:
            columns = assistments_columns(header)
        except AssistmentsFormatError as exc:
            return str(exc)
        if self.course is None:
            return "ASSISTments logs name no course: give --course."
        course = self.course

        def parse(number: int, cells: list[str]) -> LogAnswer | str | None:
            try:
                a = assistments_answer(cells, columns, line=number)
            except AssistmentsFormatError as exc:
                return str(exc)
            return LogAnswer(number, course, a.learner, a.item, "", a.kcs, a.correct, a.at, a.key)

        return parse


def _username(source: str, external: str) -> str:
    name = f"log-{source}-{external}"
    if len(name) > 150:
        name = f"log-{source}-{hashlib.sha256(external.encode()).hexdigest()[:40]}"
    return name


def _kc_slug(name: str, taken: set[str]) -> str:
    base = (slugify(name) or "kc")[:180]
    slug = base
    if slug in taken:
        slug = f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    taken.add(slug)
    return slug


def log_import(
    *,
    path: Path,
    fmt: str,
    course: str | None = None,
    create_courses: bool = False,
    source: str | None = None,
    kc_model: str | None = None,
    wrap: Callable[[Iterator[LogAnswer | str], str], Iterable[LogAnswer | str]] = lambda rows, phase: rows,
) -> LogImportReport:
    """Check the whole file, then import it in one transaction (see the module docstring).
    Raises ``LogImportError`` listing every problem; nothing is written then. ``wrap`` sees each pass
    over the rows with its name (the command adds a progress bar)."""
    source = source or fmt
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", source):
        raise LogImportError([f"source {source!r} must be 1-40 letters, digits, '.', '_' or '-'."])
    if not Path(path).is_file():
        raise LogImportError([f"{path}: no such file."])
    reader = _Reader(Path(path), fmt, course=course, kc_model=kc_model)

    # Pass 1: check every row and collect the external identifiers.
    problems: list[str] = []
    n_problems = 0
    courses: set[str] = set()
    learners: set[str] = set()
    kcs: dict[str, set[str]] = {}
    for row in wrap(iter(reader), "checking"):
        if isinstance(row, str):
            n_problems += 1
            if len(problems) < MAX_PROBLEMS_SHOWN:
                problems.append(row)
            continue
        courses.add(row.course)
        learners.add(row.learner)
        kcs.setdefault(row.course, set()).update(row.kcs)
    known = set(Course.objects.filter(slug__in=courses).values_list("slug", flat=True))
    missing = sorted(courses - known)
    if missing and not create_courses:
        n_problems += 1
        problems.append(f"no course {', '.join(repr(m) for m in missing)} (create it first, or pass --create).")
    bad_slugs = [m for m in missing if not re.fullmatch(r"[-a-zA-Z0-9_]{1,100}", m)]
    if bad_slugs and create_courses:
        n_problems += 1
        problems.append(f"cannot create course(s) {', '.join(map(repr, bad_slugs))}: not a valid slug.")
    if n_problems:
        raise LogImportError(problems, n_problems)

    report = LogImportReport()
    with transaction.atomic():
        course_rows: dict[str, Course] = {c.slug: c for c in Course.objects.filter(slug__in=courses)}
        for slug in missing:
            course_rows[slug] = Course.objects.create(slug=slug, title=slug, description=f"Imported {fmt} log.")
            report.courses_created.append(slug)
        users = _learners(source, learners, report)
        kc_ids = {slug: _kcs(course_rows[slug], names, report) for slug, names in kcs.items()}
        items = {slug: _items(c) for slug, c in course_rows.items()}
        for slug, target in course_rows.items():
            seen: dict[bytes, int] = {}

            def answers(slug: str = slug, seen: dict[bytes, int] = seen) -> Iterator[ImportedAnswer]:
                for row in wrap(iter(reader), f"importing into {slug}"):
                    if isinstance(row, str):  # the file changed since it was checked
                        raise LogImportError([row])
                    if row.course != slug:
                        continue
                    digest = hashlib.sha256(f"{slug}\x1f{source}\x1f{row.key}".encode()).digest()
                    seen[digest] = seen.get(digest, 0) + 1
                    item = items[slug].get(row.item)
                    row_kcs = [kc_ids[slug][k] for k in row.kcs]
                    if item is not None:
                        report.matched_items += 1
                        row_kcs = row_kcs or item[1]
                    ref = row.item if not row.step else f"{row.item} · {row.step}"
                    report.answers += 1
                    yield ImportedAnswer(
                        learner_id=users[row.learner], item_ref=str(item[0]) if item else ref[:200],
                        kc_ids=sorted(set(row_kcs)), correct=row.correct, at=row.at,
                        attempt_id=f"log:{digest.hex()[:40]}:{seen[digest]}", item_id=item[0] if item else None,
                    )

            report.created += observations_import(course=target, answers=answers())
        report.rows = reader.rows
        report.skipped_hints = reader.skipped_hints
        report.skipped_other = reader.skipped_other
    return report


def _learners(source: str, external: set[str], report: LogImportReport) -> dict[str, int]:
    user_model = get_user_model()
    names = {ext: _username(source, ext) for ext in external}
    ids: dict[str, int] = {}
    wanted = sorted(names.values())
    for i in range(0, len(wanted), 500):
        ids.update(user_model.objects.filter(username__in=wanted[i:i + 500]).values_list("username", "pk"))
    fresh = []
    for username in wanted:
        if username not in ids:
            user = user_model(username=username, is_active=False)
            user.set_unusable_password()
            fresh.append(user)
    if fresh:
        user_model.objects.bulk_create(fresh, batch_size=500)
        report.learners_created = len(fresh)
        for i in range(0, len(fresh), 500):
            chunk = [u.username for u in fresh[i:i + 500]]
            ids.update(user_model.objects.filter(username__in=chunk).values_list("username", "pk"))
    return {ext: ids[name] for ext, name in names.items()}


def _kcs(course: Course, names: set[str], report: LogImportReport) -> dict[str, int]:
    existing = list(KnowledgeComponent.objects.filter(course=course).values_list("pk", "slug", "source_id"))
    by_name: dict[str, int] = {}
    for pk, slug, source_id in existing:
        by_name.setdefault(slug, pk)
        if source_id:
            by_name.setdefault(source_id, pk)
    taken = {slug for _, slug, _ in existing}
    position = (KnowledgeComponent.objects.filter(course=course).aggregate(m=Max("position"))["m"] or 0) + 1
    out: dict[str, int] = {}
    for name in sorted(names):
        if name in by_name:
            out[name] = by_name[name]
            continue
        kc = KnowledgeComponent.objects.create(course=course, slug=_kc_slug(name, taken), name=name[:200],
                                               source_id=name[:200], position=position)
        position += 1
        report.kcs_created += 1
        out[name] = by_name[name] = kc.pk
    return out


def _items(course: Course) -> dict[str, tuple[int, list[int]]]:
    """Items by slug and by source id, with their KC ids."""
    out: dict[str, tuple[int, list[int]]] = {}
    kcs: dict[int, list[int]] = {}
    for item_id, kc_id in Item.kcs.through.objects.filter(item__course=course).values_list(
            "item_id", "knowledgecomponent_id"):
        kcs.setdefault(item_id, []).append(kc_id)
    for pk, slug, source_id in Item.objects.filter(course=course).values_list("pk", "slug", "source_id"):
        out.setdefault(slug, (pk, sorted(kcs.get(pk, []))))
        if source_id:
            out.setdefault(source_id, (pk, sorted(kcs.get(pk, []))))
    return out


__all__ = ["FORMATS", "LogImportError", "LogImportReport", "log_import"]
