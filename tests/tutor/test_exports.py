import csv
import json
import re
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tutor import engine, exports, roles
from tutor.models import Attempt, Consent, ResearchGrant, Turn

pytestmark = pytest.mark.django_db

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


def replay(session, messages):
    for text in messages:
        engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=text))


@pytest.fixture
def logs(course, student, session, backend):
    """Ada consents and works through the item; Bob withdrew consent and Cy never answered."""
    Consent.objects.create(student=student, version="1", given=True)
    replay(session, ["2/6", "can I have a hint?", "hello there", "0.75"])
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


def expected_transactions(session):
    turns = Turn.objects.filter(session=session).select_related("reply")
    attempts = Attempt.objects.filter(session=session).count()
    hint_requests = sum(
        1 for t in turns
        if t.role == "student" and not Attempt.objects.filter(turn=t).exists()
        and getattr(t, "reply", None) is not None and t.reply.move in exports.HINT_MOVES
    )
    tutor_messages = turns.filter(role="tutor").count()
    return attempts, hint_requests, tutor_messages


def test_datashop_rows_cover_every_logged_transaction(logs):
    rows = list(exports.datashop_rows(course=logs["course"]))
    attempts, hints, tutor = expected_transactions(logs["session"])
    assert attempts == 2 and hints == 1  # the replay really exercised both kinds
    assert len(rows) == attempts + hints + tutor
    assert [r["Student Response Type"] for r in rows].count("ATTEMPT") == attempts
    assert [r["Student Response Type"] for r in rows].count("HINT_REQUEST") == hints
    assert sum(1 for r in rows if r["Student Response Type"] == "") == tutor
    for row in rows:
        assert list(row) == exports.DATASHOP_COLUMNS
        assert TIME_RE.match(row["Time"]) and row["Time Zone"] == "UTC"
        assert row["Level (Course)"] == "mini" and row["Problem Name"] == "add-halves-quarters"
        assert row["KC (Default)"] and all("\t" not in v and "\n" not in v for v in row.values())
    answers = [r for r in rows if r["Student Response Type"] == "ATTEMPT"]
    assert [r["Outcome"] for r in answers] == ["INCORRECT", "CORRECT"]
    assert [r["Input"] for r in answers] == ["2/6", "0.75"]
    assert all(r["Tutor Response Type"] == "RESULT" and r["CF (tutor_move)"] for r in answers)
    hint = next(r for r in rows if r["Student Response Type"] == "HINT_REQUEST")
    assert hint["Outcome"] == "HINT" and hint["Tutor Response Type"] == "HINT_MSG" and hint["Help Level"] == "1"
    assert int(hint["Total Num Hints"]) >= 1 and hint["CF (llm_backend)"] == "scripted"
    # attempts and hint requests count up at the step
    assert [r["Attempt At Step"] for r in rows if r["Student Response Type"]] == ["1", "2", "3"]


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
    def broken(rows, out):
        out.write("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "tsv_write", broken)
    with pytest.raises(RuntimeError):
        exports.export_write(fmt="datashop", course=logs["course"], path=tmp_path / "d.tsv")
    assert list(tmp_path.iterdir()) == []


def token_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_api_serves_granted_researchers_only(logs):
    researcher = UserFactory(username="rita", role=roles.RESEARCHER)
    client = token_client(researcher)
    assert client.get("/api/research/courses/mini/export.tsv").status_code == 404
    assert client.get("/api/research/courses/mini/attempts/").status_code == 404
    assert token_client(logs["student"]).get("/api/research/courses/mini/export.tsv").status_code == 403
    assert APIClient().get("/api/research/courses/mini/attempts/").status_code in (401, 403)

    ResearchGrant.objects.create(researcher=researcher, course=logs["course"])
    resp = client.get("/api/research/courses/mini/export.tsv")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/tab-separated-values")
    body = b"".join(resp.streaming_content).decode()
    assert body == "".join(exports.tsv_lines(exports.datashop_rows(course=logs["course"])))

    page = client.get("/api/research/courses/mini/attempts/").json()
    assert page["count"] == 2
    assert {a["anon_student_id"] for a in page["results"]} == {exports.pseudonym(logs["student"].pk)}
    assert "ada" not in re.sub(r"stu_[0-9a-f]{16}", "", json.dumps(page))


def test_openapi_schema_lists_the_research_api(client):
    resp = client.get("/api/schema/")
    assert resp.status_code == 200
    assert b"/api/research/courses/{slug}/attempts/" in resp.content
