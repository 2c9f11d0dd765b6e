"""Memory benchmark of the research exports: do they stream in constant memory?

    .venv/bin/python -m tutor.benchmarks.exports_bench --transactions 1000000 --json var/exports-bench.json

Generates a course with ``--transactions`` DataShop transactions (one per student message: attempts
and hint requests of consenting students, plus some non-consenting students who must be left out) in a
temporary SQLite database, or in the database named by ``--database-url`` (e.g. PostgreSQL), where
the rows stay for the next run to reuse (drop that database afterwards). Then it runs each export
in a fresh child process and reports that process's peak resident memory (Linux ``VmHWM``), its
memory before the export started, the rows written and the time taken. The budget is 300 MB peak
at 1,000,000 transactions.

Rows are generated with ``bulk_create`` and explicit keys (no per-row query). The export reads
them as the API and ``export_logs`` do: one joined query through ``.iterator(chunk_size=...)``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BUDGET_MB = 300.0
COURSE_SLUG = "exports-bench"
EXCHANGES_PER_SESSION = 10  # each: a student turn (attempt or hint request) and the tutor's reply
NON_CONSENTING_EVERY = 20  # one student in 20 withholds consent (their rows must not be exported)


def _setup(database_url: str | None) -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TUTOR_LLM", "scripted")
    import django

    django.setup()


def _rss_mb() -> float:
    """Current resident memory of this process (Linux /proc), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _peak_rss_mb() -> float:
    """This process's peak resident memory, in MB. Linux's VmHWM belongs to the process image, so it
    starts afresh at exec; ``ru_maxrss`` does not (a child started by a large parent inherits the
    parent's figure), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def generate(*, transactions: int, batch: int = 5000, progress: bool = True) -> dict[str, int]:
    """Create the bench course and its logs; returns the counts the export must reproduce."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Max

    from content.models import Course, Hint, Item, KnowledgeComponent, Step
    from tutor.courses.models import Condition, ConditionAssignment
    from tutor.models import Attempt, Turn, TutoringSession
    from tutor.research.models import Consent

    user_model = get_user_model()
    # Consenting sessions have EXCHANGES_PER_SESSION transactions: one per student message (the tutor's
    # intro and replies are no transactions of their own).
    per_session = EXCHANGES_PER_SESSION
    sessions_needed = -(-transactions // per_session)
    students = max(1, sessions_needed // 4)  # about four sessions per student
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def next_id(model: Any) -> int:
        return int(model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1

    with transaction.atomic():
        course = Course.objects.create(slug=COURSE_SLUG, title="Exports benchmark")
        kcs = KnowledgeComponent.objects.bulk_create(
            [KnowledgeComponent(course=course, slug=f"kc-{k}", name=f"Concept {k}", position=k) for k in range(10)]
        )
        kcs = list(KnowledgeComponent.objects.filter(course=course).order_by("position"))
        items = []
        for i in range(50):
            item = Item.objects.create(course=course, slug=f"item-{i}", title=f"Item {i}", statement="Compute.",
                                       difficulty=1 + i % 5, position=i)
            item.kcs.set([kcs[i % 10], kcs[(i + 3) % 10]])
            items.append(item)
        steps: list[list[Any]] = []
        for item in items:
            item_steps = [Step.objects.create(item=item, position=p, prompt=f"Step {p + 1} of {item.slug}?",
                                              answer="1") for p in range(2)]
            for st in item_steps:
                Hint.objects.bulk_create([Hint(step=st, position=h, text=f"Hint {h + 1}") for h in range(3)])
            steps.append(item_steps)
        conditions = [
            Condition.objects.create(course=course, name="control", condition_type="control"),
            Condition.objects.create(course=course, name="no-telling", condition_type="experimental",
                                     overrides={"allow_telling": False}),
        ]
        uid0 = next_id(user_model)
        total_students = students + max(1, students // NON_CONSENTING_EVERY)
        user_model.objects.bulk_create(
            [user_model(pk=uid0 + s, username=f"bench-{uid0 + s}", password="!") for s in range(total_students)],
            batch_size=batch,
        )
        Consent.objects.bulk_create(
            [Consent(student_id=uid0 + s, version="1", given=s < students, at=start) for s in range(total_students)],
            batch_size=batch,
        )
        ConditionAssignment.objects.bulk_create(
            [ConditionAssignment(student_id=uid0 + s, course=course, condition=conditions[s % 2])
             for s in range(total_students)],
            batch_size=batch,
        )

    expected = {"transactions": 0, "turns": 0, "attempts": 0, "hint_requests": 0,
                "students": students, "excluded_students": total_students - students}
    sid = next_id(TutoringSession)
    tid = next_id(Turn)
    aid = next_id(Attempt)
    excluded_sessions = max(1, sessions_needed // NON_CONSENTING_EVERY)
    total_sessions = sessions_needed + excluded_sessions
    sessions: list[Any] = []
    turns: list[Any] = []
    attempts: list[Any] = []

    def flush() -> None:
        with transaction.atomic():
            TutoringSession.objects.bulk_create(sessions, batch_size=batch)
            Turn.objects.bulk_create(turns, batch_size=batch)
            Attempt.objects.bulk_create(attempts, batch_size=batch)
        sessions.clear()
        turns.clear()
        attempts.clear()

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_sessions, unit="sessions", desc="generating")
    for n in range(total_sessions):
        consenting = n < sessions_needed
        student_id = uid0 + (n % students if consenting else students + n % (total_students - students))
        item = items[n % len(items)]
        item_steps = steps[n % len(items)]
        session = TutoringSession(pk=sid, student_id=student_id, course=course, item=item, step=item_steps[0],
                                  status=TutoringSession.Status.FINISHED)
        sessions.append(session)
        at = start + timedelta(minutes=n)
        turns.append(Turn(pk=tid, session_id=sid, seq=1, role=Turn.Role.TUTOR, text="Let us begin.",
                          authored_text="Let us begin.", move="present", item=item, step=item_steps[0],
                          backend="scripted", created=at))
        tid += 1
        seq = 2
        for e in range(EXCHANGES_PER_SESSION):
            step = item_steps[0 if e < EXCHANGES_PER_SESSION // 2 else 1]
            hint = e % 5 == 1
            correct = e % 5 == 4
            student_tid = tid
            turns.append(Turn(pk=tid, session_id=sid, seq=seq, role=Turn.Role.STUDENT,
                              text="a hint please" if hint else ("1" if correct else "2"), item=item, step=step,
                              created=at + timedelta(seconds=2 * e + 1)))
            tid += 1
            turns.append(Turn(pk=tid, session_id=sid, seq=seq + 1, role=Turn.Role.TUTOR,
                              text="Think about the parts." if hint else ("Right." if correct else "Not yet."),
                              move="hint" if hint else ("confirm" if correct else "feedback"),
                              hint_level=1 if hint else 0, item=item, step=step, backend="scripted",
                              reply_to_id=student_tid, created=at + timedelta(seconds=2 * e + 2)))
            tid += 1
            seq += 2
            if not hint:
                attempts.append(Attempt(pk=aid, session_id=sid, turn_id=student_tid, step=step,
                                        raw="1" if correct else "2", parsed="1" if correct else "2",
                                        outcome="correct" if correct else "incorrect", correct=correct,
                                        p_correct_before=0.5))
                aid += 1
            if consenting:
                expected["attempts" if not hint else "hint_requests"] += 1
        if consenting:
            expected["turns"] += 1 + 2 * EXCHANGES_PER_SESSION
        sid += 1
        if len(turns) >= batch * 4:
            flush()
        if bar is not None:
            bar.update(1)
    flush()
    if bar is not None:
        bar.close()
    # Explicit keys do not advance PostgreSQL's sequences: move them past the rows written.
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [user_model, TutoringSession, Turn, Attempt]):
            cursor.execute(sql)
    expected["transactions"] = expected["attempts"] + expected["hint_requests"]
    return expected


def existing() -> dict[str, int] | None:
    """The counts of a bench course left in the database by an earlier run, or None."""
    from content.models import Course
    from tutor.models import Attempt, Turn
    from tutor.research import exports

    course = Course.objects.filter(slug=COURSE_SLUG).first()
    if course is None:
        return None
    turns = Turn.objects.filter(session__course=course, session__student__in=exports.consenting_students())
    attempts = Attempt.objects.filter(session__course=course, session__student__in=exports.consenting_students())
    # every generated student turn is an attempt or a hint request: a transaction each
    return {"transactions": turns.filter(role="student").count(), "turns": turns.count(),
            "attempts": attempts.count(), "reused": 1}


def _export_child(fmt: str, out: Path) -> dict[str, Any]:
    """Run in a fresh process: one export, with this process's memory figures."""
    from content.models import Course
    from tutor.research import exports

    course = Course.objects.get(slug=COURSE_SLUG)
    before = _rss_mb()
    started = time.perf_counter()
    rows = exports.export_write(fmt=fmt, course=course, path=out)
    return {
        "format": fmt,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 2),
        "rss_before_export_mb": round(before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "bytes": out.stat().st_size,
    }


def _stream_child() -> dict[str, Any]:
    """The API's streamed DataShop response, consumed to the end (as a client would read it)."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from rest_framework.test import force_authenticate

    from content.models import Course
    from tutor import roles
    from tutor.research import api as research_api
    from tutor.research.models import ResearchGrant
    from tutor.services import role_groups_ensure

    course = Course.objects.get(slug=COURSE_SLUG)
    researcher, _ = get_user_model().objects.get_or_create(username="exports-bench-researcher")
    researcher.groups.add(role_groups_ensure()[roles.RESEARCHER])
    ResearchGrant.objects.get_or_create(researcher=researcher, course=course)
    request = RequestFactory().get(f"/api/research/courses/{course.slug}/export.tsv")
    force_authenticate(request, user=researcher)
    before = _rss_mb()
    started = time.perf_counter()
    response = research_api.course_export_tsv(request, slug=course.slug)
    lines = n_bytes = 0
    for chunk in response.streaming_content:  # type: ignore[union-attr]
        lines += chunk.count(b"\n")
        n_bytes += len(chunk)
    return {
        "format": "datashop-http-stream",
        "rows": lines - 1,
        "seconds": round(time.perf_counter() - started, 2),
        "rss_before_export_mb": round(before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "bytes": n_bytes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutor.benchmarks.exports_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--transactions", type=int, default=100_000, help="DataShop transactions to generate.")
    parser.add_argument("--formats", default="datashop,jsonl,http",
                        help="Comma-separated: datashop, csv, parquet, jsonl (files) and http (the API stream).")
    parser.add_argument("--json", type=Path, help="Write the figures here as JSON.")
    parser.add_argument("--database-url", help="An empty database to use instead of a temporary SQLite file.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # one measurement in a fresh process
        _setup(args.database_url)
        result = _stream_child() if args.child == "http" else _export_child(args.child, args.out)
        print(json.dumps(result))
        return 0

    if args.transactions < 1:
        parser.error("--transactions must be at least 1")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in ("datashop", "csv", "parquet", "jsonl", "http")]
    if unknown:
        parser.error(f"unknown format(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="exports-bench-") as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        _setup(database_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        expected = existing() if args.database_url else None
        if expected is None:
            expected = generate(transactions=args.transactions)
        generated_s = round(time.perf_counter() - started, 1)
        verb = "reused" if "reused" in expected else "generated"
        print(f"{verb} {expected['transactions']:,} transactions ({expected['turns']:,} turns, "
              f"{expected['attempts']:,} attempts) in {generated_s} s", flush=True)
        results = []
        for fmt in formats:
            out = Path(tmp) / f"export.{fmt}"
            cmd = [sys.executable, "-m", "tutor.benchmarks.exports_bench", "--child", fmt, "--out", str(out),
                   "--database-url", database_url]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"export {fmt} failed")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            want = expected["turns"] if fmt == "jsonl" else expected["transactions"]
            result["rows_expected"] = want
            result["within_budget"] = result["peak_rss_mb"] <= BUDGET_MB
            results.append(result)
            print(f"{fmt:>8}: {result['rows']:,} rows (expected {want:,}) in {result['seconds']} s, "
                  f"peak RSS {result['peak_rss_mb']} MB (before export {result['rss_before_export_mb']} MB), "
                  f"{result['bytes'] / 2**20:.0f} MB written", flush=True)
            out.unlink(missing_ok=True)
    report = {"transactions": args.transactions, "generated": expected, "generate_seconds": generated_s,
              "budget_mb": BUDGET_MB, "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    ok = all(r["within_budget"] and r["rows"] == r["rows_expected"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
