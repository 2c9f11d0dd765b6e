import csv
import json
import re
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import UserFactory
from tutor import engine, roles
from tutor.models import Attempt, Turn
from tutor.research import exports
from tutor.research.models import Consent, ResearchGrant

pytestmark = pytest.mark.django_db

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


def replay(session, messages):
    for text in messages:
        engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=text))


WHY = "why do we need the same denominator?"


@pytest.fixture
def logs(course, student, session, backend):
    """Ada consents and works through the item (an answer, a hint request, chat, a why-question, the
    right answer); Bob withdrew consent and Cy never answered."""
    Consent.objects.create(student=student, version="1", given=True)
    replay(session, ["2/6", "can I have a hint?", "hello there", WHY, "0.75"])
    item = course.items.get(slug="add-halves-quarters")
    others = []
    for name, decisions in [("bob", [True, False]), ("cy", [])]:
        other = UserFactory(username=name, role=roles.STUDENT)
        for i, given in enumerate(decisions):
            Consent.objects.create(student=other, version="1", given=given,
                                   at=timezone.now() + timedelta(seconds=i))
        replay(engine.session_start(student=other, item=item), ["2/6", "hint please"])
        others.append(other)
    return {"course": course, "student": student, "session": session, "others": others}


def test_one_row_per_student_message_with_the_tutors_reply(logs):
    rows = list(exports.datashop_rows(course=logs["course"]))
    student_turns = list(Turn.objects.filter(session=logs["session"], role="student").select_related("reply")
                         .order_by("seq"))
    # every student message is a row, in order; the tutor's turns are the rows' feedback, not rows
    assert [r["Input"] for r in rows] == [t.text for t in student_turns]
    assert [r["Feedback Text"] for r in rows] == [" ".join(t.reply.text.split()) for t in student_turns]
    assert [r["Tutor Response Subtype"] for r in rows] == [t.reply.move for t in student_turns]
    assert [(r["Student Response Type"], r["Action"], r["Outcome"]) for r in rows] == [
        ("ATTEMPT", "Answer", "INCORRECT"),
        ("HINT_REQUEST", "Hint request", "HINT"),
        ("CHAT", "Chat", ""),
        ("WHY_QUESTION", "Why question", ""),
        ("ATTEMPT", "Answer", "CORRECT"),
    ]
    why = rows[3]
    assert why["Input"] == WHY and why["Tutor Response Type"] == "HINT_MSG" and why["Feedback Text"]
    assert why["Tutor Response Subtype"] == "explain_concept"
    wrong, hint, chat, _, right = rows
    assert wrong["Feedback Classification"] == "adds denominators"  # the misconception the tutor named
    assert wrong["Tutor Response Type"] == right["Tutor Response Type"] == "RESULT"
    assert hint["Tutor Response Type"] == "HINT_MSG" and hint["Help Level"] == "1"
    assert int(hint["Total Num Hints"]) == 3 and hint["CF (llm_backend)"] == "scripted"
    assert chat["Tutor Response Type"] == "MESSAGE" and chat["Help Level"] == ""
    # Attempt At Step counts the graded transactions (answers and hints) at the step, as DataShop does
    assert [r["Attempt At Step"] for r in rows] == ["1", "2", "", "", "3"]
    # what the tutor read each message as, stored on the student's turn when it was taken
    assert [r["CF (intent)"] for r in rows] == ["attempt", "asks_hint", "smalltalk", "concept_question", "attempt"]
    assert [r["CF (intent)"] for r in rows] == [t.intent for t in student_turns]
    for row in rows:
        assert list(row) == exports.DATASHOP_COLUMNS
        assert TIME_RE.match(row["Time"]) and row["Time Zone"] == "UTC"
        assert row["Level (Course)"] == "mini" and row["Problem Name"] == "add-halves-quarters"
        assert row["Selection"] == "step 1" and row["Step Name"].startswith("1: ")
        assert row["KC (Default)"] and all("\t" not in v and "\n" not in v for v in row.values())


def test_transaction_kinds_follow_the_tutors_reply():
    kind = exports.transaction_kind
    assert kind(has_attempt=True, reply_move="hint") is exports.ATTEMPT
    for move in ("hint", "open_subproblem", "bottom_out"):
        assert kind(has_attempt=False, reply_move=move) is exports.HINT_REQUEST
    # help asked for again with no try in between: "try the last rung first" (it carries the rung)
    assert kind(has_attempt=False, reply_move="encourage", reply_hint_level=2) is exports.HINT_REQUEST
    assert kind(has_attempt=False, reply_move="encourage", reply_hint_level=0) is exports.CHAT
    assert kind(has_attempt=False, reply_move="explain_concept") is exports.WHY_QUESTION
    assert kind(has_attempt=False, reply_move="decline_answer") is exports.ANSWER_REQUEST
    for other in ("redirect", "point_next", None):  # None: the tutor never replied
        assert kind(has_attempt=False, reply_move=other) is exports.CHAT


# DataShop's tab-delimited import rules (its "Tab-delimited format" help page), written out here
# independently of tutor.research.exports.
DATASHOP_REQUIRED = ["Anon Student Id", "Session Id", "Time", "Level (Course)", "Problem Name"]
DATASHOP_KNOWN = [*DATASHOP_REQUIRED, "Time Zone", "Student Response Type", "Student Response Subtype",
                  "Tutor Response Type", "Tutor Response Subtype", "Step Name", "Attempt At Step", "Outcome",
                  "Selection", "Action", "Input", "Feedback Text", "Feedback Classification", "Help Level",
                  "Total Num Hints", "Condition Name", "Condition Type"]
DATASHOP_INTEGER = ["Session Id", "Help Level", "Total Num Hints", "Attempt At Step"]
SIZE_LIMITS = {"Anon Student Id": 55, "Session Id": 255, "Time Zone": 50, "Student Response Type": 30,
               "Student Response Subtype": 30, "Tutor Response Type": 30, "Tutor Response Subtype": 30,
               "Problem Name": 255, "Step Name": 255, "Outcome": 30, "Selection": 255, "Action": 255,
               "Input": 255, "Feedback Classification": 255, "Condition Name": 80, "Condition Type": 255}
# What this export promises on top: the row types of docs/datashop.md and their outcomes.
ROW_TYPES = {"ATTEMPT": ("RESULT", {"CORRECT", "INCORRECT", ""}), "HINT_REQUEST": ("HINT_MSG", {"HINT"}),
             "WHY_QUESTION": ("HINT_MSG", {""}), "ANSWER_REQUEST": ("MESSAGE", {""}), "CHAT": ("MESSAGE", {""})}


def datashop_problems(text):
    """Why a tab-delimited export would not load into DataShop (empty when it would)."""
    lines = text.split("\n")
    problems = []
    if lines[-1] != "":
        problems.append("the file does not end with a newline")
    header, body = lines[0].split("\t"), [line.split("\t") for line in lines[1:-1]]
    problems += [f"missing column {c!r}" for c in DATASHOP_REQUIRED if c not in header]
    problems += [f"bad column name {c!r}" for c in header
                 if c not in DATASHOP_KNOWN and not re.fullmatch(r"(KC|CF) \([A-Za-z0-9_ -]+\)", c)]
    if not any(c.startswith("KC (") for c in header):
        problems.append("no KC column")
    if len(set(header)) != len(header):
        problems.append("duplicate columns")
    for n, cells in enumerate(body, start=2):
        if len(cells) != len(header):
            problems.append(f"line {n}: {len(cells)} fields, header has {len(header)}")
            continue
        row = dict.fromkeys(DATASHOP_KNOWN, "") | dict(zip(header, cells, strict=True))
        if not row["Anon Student Id"] or not row["Problem Name"] or not row["Session Id"]:
            problems.append(f"line {n}: empty student, session or problem")
        if not (row["Step Name"] or row["Selection"] or row["Action"]):
            problems.append(f"line {n}: none of Step Name, Selection, Action")
        if not TIME_RE.match(row["Time"]) or row["Time Zone"] != "UTC":
            problems.append(f"line {n}: time {row['Time']!r} {row['Time Zone']!r}")
        for c in DATASHOP_INTEGER:
            if row[c] and not row[c].isdigit():
                problems.append(f"line {n}: {c} {row[c]!r} is not an integer")
        for c, limit in SIZE_LIMITS.items():
            if len(row[c]) > limit:
                problems.append(f"line {n}: {c} longer than {limit}")
        if row["Feedback Classification"] and not row["Feedback Text"]:
            problems.append(f"line {n}: Feedback Classification without Feedback Text")
        if bool(row["Condition Type"]) and not row["Condition Name"]:
            problems.append(f"line {n}: Condition Type without Condition Name")
        student = row["Student Response Type"]
        if student not in ROW_TYPES:
            problems.append(f"line {n}: Student Response Type {student!r}")
            continue
        tutor, outcomes = ROW_TYPES[student]
        if row["Tutor Response Type"] != tutor or row["Outcome"] not in outcomes:
            problems.append(f"line {n}: {student} with {row['Tutor Response Type']!r} and {row['Outcome']!r}")
        if bool(row["Attempt At Step"]) != bool(row["Outcome"]):
            problems.append(f"line {n}: Attempt At Step {row['Attempt At Step']!r} with Outcome {row['Outcome']!r}")
        p = row.get("CF (p_correct_before)", "")
        if p and not 0.0 <= float(p) <= 1.0:
            problems.append(f"line {n}: p_correct_before {p!r}")
    return problems


def test_datashop_export_of_a_replayed_session_validates_and_matches_the_database(logs, tmp_path):
    call_command("export_logs", format="datashop", course="mini", out=tmp_path / "d.tsv", verbosity=0)
    text = (tmp_path / "d.tsv").read_text(encoding="utf-8")
    assert datashop_problems(text) == []
    rows = [dict(zip(exports.DATASHOP_COLUMNS, line.split("\t"), strict=True)) for line in text.splitlines()[1:]]

    # one row per message of the consenting student, counted straight from the database
    consenting = Turn.objects.filter(session__course=logs["course"], session__student=logs["student"])
    assert len(rows) == consenting.filter(role="student").count() == 5
    assert [r["Outcome"] for r in rows if r["Student Response Type"] == "ATTEMPT"] == [
        a.outcome.upper() for a in Attempt.objects.filter(session__student=logs["student"]).order_by("id")]
    assert {r["Session Id"] for r in rows} == {str(logs["session"].pk)}
    assert rows == sorted(rows, key=lambda r: r["Time"])  # session order is time order
    # no experiment in this course: the condition columns are empty, not made up
    assert {(r["Condition Name"], r["Condition Type"]) for r in rows} == {("", "")}


def test_the_validator_catches_broken_files():
    columns = [*DATASHOP_KNOWN, "KC (Default)"]
    good = "\t".join(columns) + "\n"
    assert datashop_problems(good) == []
    assert datashop_problems(good.replace("Session Id\t", "")) == ["missing column 'Session Id'"]
    row = dict.fromkeys(columns, "")
    row.update({"Anon Student Id": "s", "Session Id": "1", "Time": "2026-01-01 10:00:00.000", "Time Zone": "UTC",
                "Level (Course)": "c", "Problem Name": "p", "Step Name": "1: x", "Student Response Type": "ATTEMPT",
                "Tutor Response Type": "RESULT", "Outcome": "CORRECT", "Attempt At Step": "1",
                "Total Num Hints": "3"})
    assert datashop_problems(good + "\t".join(row.values()) + "\n") == []
    broken = row | {"Time": "2026-01-01 10:00:00", "Step Name": "", "Feedback Classification": "sign error",
                    "Student Response Type": "CHAT"}
    assert datashop_problems(good + "\t".join(broken.values()) + "\n") == [
        "line 2: none of Step Name, Selection, Action", "line 2: time '2026-01-01 10:00:00' 'UTC'",
        "line 2: Feedback Classification without Feedback Text", "line 2: CHAT with 'RESULT' and 'CORRECT'"]


def test_identifiable_exports_add_usernames_only_when_asked(logs, tmp_path):
    plain = list(exports.datashop_rows(course=logs["course"]))
    assert all(exports.IDENTIFIABLE_COLUMN not in r for r in plain)
    named = list(exports.datashop_rows(course=logs["course"], identifiable=True))
    assert {r[exports.IDENTIFIABLE_COLUMN] for r in named} == {"ada"}
    assert [{k: v for k, v in r.items() if k != exports.IDENTIFIABLE_COLUMN} for r in named] == plain
    assert {r["username"] for r in exports.dialogue_rows(course=logs["course"], identifiable=True)} == {"ada"}
    assert all("username" not in r for r in exports.dialogue_rows(course=logs["course"]))

    rita = UserFactory(username="rita", role=roles.RESEARCHER)
    with pytest.raises(CommandError, match="no identifiable grant"):
        call_command("export_logs", format="csv", course="mini", out=tmp_path / "x.csv",
                     identifiable_for="rita", verbosity=0)
    grant = ResearchGrant.objects.create(researcher=rita, course=logs["course"])
    with pytest.raises(CommandError, match="no identifiable grant"):
        call_command("export_logs", format="csv", course="mini", out=tmp_path / "x.csv",
                     identifiable_for="rita", verbosity=0)
    assert list(tmp_path.iterdir()) == []
    grant.identifiable = True
    grant.save()
    for fmt in exports.FORMATS:
        call_command("export_logs", format=fmt, course="mini", out=tmp_path / f"x.{fmt}",
                     identifiable_for="rita", verbosity=0)
    with open(tmp_path / "x.csv", encoding="utf-8", newline="") as f:
        assert {r["CF (username)"] for r in csv.DictReader(f)} == {"ada"}
    assert set(pq.read_table(tmp_path / "x.parquet").column("CF (username)").to_pylist()) == {"ada"}
    assert (tmp_path / "x.datashop").read_text(encoding="utf-8").splitlines()[0].endswith("\tCF (username)")
    # still only consenting students, named or not
    assert "bob" not in (tmp_path / "x.jsonl").read_text(encoding="utf-8")


def test_until_excludes_the_day_and_after(logs, tmp_path):
    today = timezone.now().date()
    assert list(exports.datashop_rows(course=logs["course"], until=today)) == []
    everything = list(exports.datashop_rows(course=logs["course"]))
    assert list(exports.datashop_rows(course=logs["course"], until=today + timedelta(days=1))) == everything
    with pytest.raises(CommandError, match="--until must be after --since"):
        call_command("export_logs", format="csv", course="mini", since=today.isoformat(),
                     until=today.isoformat(), out=tmp_path / "x", verbosity=0)


def test_non_consenting_students_appear_in_no_export(logs, tmp_path):
    consenting = {exports.pseudonym(logs["student"].pk)}
    excluded = {exports.pseudonym(u.pk) for u in logs["others"]}
    assert {r["Anon Student Id"] for r in exports.datashop_rows(course=logs["course"])} == consenting
    assert {r["anon_student_id"] for r in exports.dialogue_rows(course=logs["course"])} == consenting
    for fmt in exports.FORMATS:
        out = tmp_path / f"export.{fmt}"
        call_command("export_logs", format=fmt, course="mini", out=out, verbosity=0)
        if fmt == "parquet":
            ids = set(pq.read_table(out).column("Anon Student Id").to_pylist())
            assert ids == consenting
        else:
            text = out.read_text(encoding="utf-8")
            assert not any(p in text for p in excluded)
            # no usernames (pseudonyms are hex, which can spell "ada", so drop them first)
            words = re.sub(r"stu_[0-9a-f]{16}", "", text).lower()
            assert "ada" not in words and "bob" not in words


def test_pseudonyms_are_stable_salted_and_hide_the_username(student, settings):
    first = exports.pseudonym(student.pk)
    assert first == exports.pseudonym(student.pk)
    assert re.fullmatch(r"stu_[0-9a-f]{16}", first) and student.username not in first
    settings.RESEARCH_PSEUDONYM_SALT = "another deployment"
    assert exports.pseudonym(student.pk) != first


def test_command_round_trip_for_each_format(logs, tmp_path):
    expected = list(exports.datashop_rows(course=logs["course"]))
    n_turns = Turn.objects.filter(session=logs["session"]).count()

    call_command("export_logs", format="datashop", course="mini", out=tmp_path / "d.tsv", verbosity=0)
    lines = (tmp_path / "d.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == exports.DATASHOP_COLUMNS
    assert [dict(zip(exports.DATASHOP_COLUMNS, line.split("\t"), strict=True)) for line in lines[1:]] == expected

    call_command("export_logs", format="csv", course="mini", out=tmp_path / "d.csv", verbosity=0)
    with open(tmp_path / "d.csv", encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == expected

    call_command("export_logs", format="parquet", course="mini", out=tmp_path / "d.parquet", verbosity=0)
    assert pq.read_table(tmp_path / "d.parquet").to_pylist() == expected

    call_command("export_logs", format="jsonl", course="mini", out=tmp_path / "d.jsonl", verbosity=0)
    turns = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(turns) == n_turns and [t["seq"] for t in turns] == list(range(1, n_turns + 1))
    assert [t["attempt"]["outcome"] for t in turns if t["attempt"]] == ["incorrect", "correct"]

    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "d.jsonl", "d.parquet", "d.tsv"]


def test_parquet_is_written_in_batches(logs, tmp_path):
    rows = list(exports.datashop_rows(course=logs["course"]))
    assert exports.parquet_write(iter(rows), tmp_path / "b.parquet", batch_rows=2) == len(rows)
    assert pq.ParquetFile(tmp_path / "b.parquet").read().to_pylist() == rows


def test_since_filters_by_day(logs, tmp_path):
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    call_command("export_logs", format="datashop", course="mini", since=tomorrow, out=tmp_path / "d.tsv",
                 verbosity=0)
    assert len((tmp_path / "d.tsv").read_text(encoding="utf-8").splitlines()) == 1  # header only


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "xls", "course": "mini"}, "Unknown format"),
    ({"format": "csv", "course": "nope"}, "No course"),
    ({"format": "csv", "course": "mini", "since": "yesterday"}, "not a date"),
])
def test_command_errors_are_clear_and_leave_no_file(course, tmp_path, kwargs, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_logs", out=tmp_path / "x", verbosity=0, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_leaves_no_partial_file(logs, tmp_path, monkeypatch):
    def broken(rows, out, **kwargs):
        out.write("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "tsv_write", broken)
    with pytest.raises(RuntimeError):
        exports.export_write(fmt="datashop", course=logs["course"], path=tmp_path / "d.tsv")
    assert list(tmp_path.iterdir()) == []


def test_exports_bench_runs_end_to_end_with_tiny_arguments(tmp_path):
    """The memory benchmark (python -m tutor.benchmarks.exports_bench) in its own processes and database."""
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tutor.benchmarks.exports_bench", "--transactions", "300", "--formats", "datashop,http",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False, cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["format"] for r in report["results"]] == ["datashop", "datashop-http-stream"]
    for result in report["results"]:
        assert result["rows"] == result["rows_expected"] == report["generated"]["transactions"] >= 300
        assert 0 < result["peak_rss_mb"] <= 300 and result["within_budget"]
