"""import_logs: DataShop and ASSISTments logs into the learner model's training data."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from content.models import Course, KnowledgeComponent
from tests.tutor.research.test_exports import logs  # noqa: F401  (fixture)
from tracing.models import Observation
from tutor.models import Attempt
from tutor.research import exports, log_import

pytestmark = pytest.mark.django_db

ASSIST17 = Path(__file__).resolve().parents[4] / "shared" / "data" / "kt" / "assist17_timed.tsv"
HEADER = "Anon Student Id\tTime\tTime Zone\tProblem Name\tStep Name\tOutcome\tKC (Skills)\tKC (Other)\n"


def write(tmp_path, text, name="log.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def imported():
    return Observation.objects.filter(source=Observation.Source.IMPORT)


def test_round_trip_export_then_import_gives_one_observation_per_answer(logs, tmp_path):  # noqa: F811
    call_command("export_logs", format="datashop", course="mini", out=tmp_path / "d.tsv", verbosity=0)
    answers = Attempt.objects.filter(session__student=logs["student"]).count()
    tutor_observations = Observation.objects.filter(learner=logs["student"], source="tutor").count()
    assert answers == tutor_observations == 2

    # into a new course: the log's students, problems and KCs become the course's
    call_command("import_logs", tmp_path / "d.tsv", course="copy", create=True, verbosity=0)
    copy = Course.objects.get(slug="copy")
    rows = imported().filter(course=copy)
    assert rows.count() == answers
    assert [o.correct for o in rows.order_by("at", "id")] == [False, True]
    learner = get_user_model().objects.get(username=f"log-datashop-{exports.pseudonym(logs['student'].pk)}")
    assert not learner.is_active and not learner.has_usable_password()
    assert set(rows.values_list("learner_id", flat=True)) == {learner.pk}
    assert set(KnowledgeComponent.objects.filter(course=copy).values_list("slug", flat=True)) == {
        "adding", "equivalent"}
    assert rows.first().item_ref.startswith("add-halves-quarters · 1: ")

    # into the course it came from: problems and KCs match the authored ones
    call_command("import_logs", tmp_path / "d.tsv", verbosity=0)  # Level (Course) names "mini"
    mini = imported().filter(course=logs["course"])
    assert mini.count() == answers
    item = logs["course"].items.get(slug="add-halves-quarters")
    assert set(mini.values_list("item_id", flat=True)) == {item.pk}
    assert sorted(mini.first().kcs) == sorted(item.kcs.values_list("pk", flat=True))

    # importing again changes nothing
    before = Observation.objects.count()
    call_command("import_logs", tmp_path / "d.tsv", verbosity=0)
    call_command("import_logs", tmp_path / "d.tsv", course="copy", verbosity=0)
    assert Observation.objects.count() == before


def test_datashop_rows_map_to_observations(tmp_path):
    Course.objects.create(slug="ext", title="External")
    path = write(tmp_path, HEADER
                 + "s1\t2025-03-01 10:00:00.250\tUTC\tp1\tstep a\tINCORRECT\tfrac~~add\tx\n"
                 + "s1\t2025-03-01 10:00:05\t\tp1\tstep a\tHINT\tfrac\tx\n"
                 + "s1\t2025-03-01 10:00:09\tEurope/Paris\tp1\tstep a\tCORRECT\tfrac\tx\n"
                 + "s2\t2025-03-01 10:00:00.250\tUTC\tp1\tstep a\tINCORRECT\t\tx\n"
                 + "s2\t2025-03-01 10:00:00.250\tUTC\tp1\tstep a\tINCORRECT\t\tx\n"
                 + "s2\t2025-03-02 11:00:00\tUTC\tp2\t\t\t\t\n")
    report = log_import.log_import(path=path, fmt="datashop", course="ext", source="study1")
    assert (report.rows, report.answers, report.created, report.skipped_hints, report.skipped_other) == (6, 4, 4, 1, 1)
    rows = list(imported().order_by("learner__username", "at", "id"))
    assert [r.learner.username for r in rows] == ["log-study1-s1", "log-study1-s1", "log-study1-s2", "log-study1-s2"]
    # Paris is UTC+1 in March: the correct answer came first
    assert rows[0].at.isoformat() == "2025-03-01T09:00:09+00:00" and rows[0].correct
    assert rows[1].at.microsecond == 250_000 and not rows[1].correct
    kcs = dict(KnowledgeComponent.objects.filter(course__slug="ext").values_list("source_id", "pk"))
    assert set(kcs) == {"frac", "add"} and sorted(rows[1].kcs) == sorted([kcs["frac"], kcs["add"]])
    assert rows[2].kcs == [] and rows[2].item_ref == "p1 · step a"
    # two identical rows are two answers, and stay two on re-import
    assert len({r.attempt_id for r in rows}) == 4
    again = log_import.log_import(path=path, fmt="datashop", course="ext", source="study1")
    assert again.created == 0 and again.existing == 4 and imported().count() == 4
    # the other KC model
    other = log_import.log_import(path=path, fmt="datashop", course="ext", source="study2", kc_model="Other")
    assert other.created == 4
    assert KnowledgeComponent.objects.filter(course__slug="ext", source_id="x").exists()


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_written(tmp_path):
    Course.objects.create(slug="ext", title="External")
    users, kcs = get_user_model().objects.count(), KnowledgeComponent.objects.count()
    path = write(tmp_path, HEADER
                 + "s1\t2025-03-01 10:00:00\tUTC\tp1\ta\tCORRECT\tk\t\n"
                 + "s1\t01/03/2025 10:00\tUTC\tp1\ta\tCORRECT\tk\t\n"
                 + "s1\t2025-03-01 10:00:00\tMars/Olympus\tp1\ta\tCORRECT\tk\t\n"
                 + "s1\t2025-03-01 10:00:00\tUTC\tp1\ta\tMAYBE\tk\t\n"
                 + "\t2025-03-01 10:00:00\tUTC\tp1\ta\tCORRECT\tk\t\n"
                 + "s1\t2025-03-01 10:00:00\tUTC\tp1\n")
    with pytest.raises(CommandError) as err:
        call_command("import_logs", path, course="ext", verbosity=0)
    message = str(err.value)
    assert "Nothing was imported" in message
    for line in ("line 3: Time '01/03/2025 10:00'", "line 4: unknown Time Zone 'Mars/Olympus'",
                 "line 5: Outcome 'MAYBE'", "line 6: Anon Student Id is empty",
                 "line 7: expected 8 tab-separated fields, got 4"):
        assert line in message, message
    assert "line 2" not in message
    assert Observation.objects.count() == 0
    assert (get_user_model().objects.count(), KnowledgeComponent.objects.count()) == (users, kcs)


@pytest.mark.parametrize("text, options, message", [
    ("Anon Student Id\tTime\tOutcome\n", {"course": "ext"}, "missing DataShop column(s): Problem Name, Step Name"),
    (HEADER, {}, "no 'Level (Course)' column"),
    (HEADER + "s\t2025-01-01 00:00:00\tUTC\tp\ts\tCORRECT\tk\t\n", {"course": "nope"}, "no course 'nope'"),
    (HEADER, {"course": "ext", "kc_model": "Missing"}, "no column 'KC (Missing)'"),
    ("", {"course": "ext"}, "the file is empty"),
    (HEADER, {"course": "ext", "format": "xls"}, "Unknown format 'xls'"),
    (HEADER, {"course": "ext", "source": "a b"}, "source 'a b'"),
])
def test_bad_files_and_options_get_clear_errors(tmp_path, text, options, message):
    Course.objects.create(slug="ext", title="External")
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_logs", write(tmp_path, text), verbosity=0, **options)
    assert not Course.objects.filter(slug="nope").exists()


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_logs", tmp_path / "absent.tsv", course="x", verbosity=0)
    (tmp_path / "latin.tsv").write_bytes(HEADER.encode() + "s\u00e9".encode("latin-1") + b"\n")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_logs", tmp_path / "latin.tsv", course="x", create=True, verbosity=0)
    assert not Course.objects.filter(slug="x").exists()


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    path = write(tmp_path, HEADER + "s1\t2025-03-01 10:00:00\tUTC\tp1\ta\tCORRECT\tk\t\n")

    def broken(*, course, answers, batch_size=2000):
        Observation.objects.bulk_create([])
        list(answers)
        raise RuntimeError("disk full")

    monkeypatch.setattr(log_import, "observations_import", broken)
    users = get_user_model().objects.count()
    with pytest.raises(RuntimeError):
        call_command("import_logs", path, course="made", create=True, verbosity=0)
    assert not Course.objects.filter(slug="made").exists()
    assert get_user_model().objects.count() == users and not KnowledgeComponent.objects.exists()


def test_assistments_log(tmp_path):
    if ASSIST17.exists():
        lines = ASSIST17.read_text(encoding="utf-8").splitlines()[:301]
    else:  # the shared data is beside the checkout; a few rows in its format otherwise
        lines = ["user_id\titem_id\ttimestamp\tcorrect\tskill_id", "7\t809\t38976428\t0\t70",
                 "7\t806\t38976484\t1\t340", "8\t809\t38976500\t1\t"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    data = [line.split("\t") for line in lines[1:]]
    report = log_import.log_import(path=path, fmt="assistments", course="assist", create_courses=True)
    assert report.courses_created == ["assist"] and report.created == len(data)
    rows = imported().filter(course__slug="assist")
    assert rows.count() == len(data) and rows.filter(correct=True).count() == sum(d[3] == "1" for d in data)
    assert report.learners_created == len({d[0] for d in data})
    assert report.kcs_created == len({d[4] for d in data if d[4]})
    first = rows.filter(item_ref=data[0][1], learner__username=f"log-assistments-{data[0][0]}",
                        at=log_import.datetime.fromtimestamp(int(data[0][2]), tz=log_import.UTC)).first()
    assert first.correct == (data[0][3] == "1")
    assert log_import.log_import(path=path, fmt="assistments", course="assist").created == 0
    with pytest.raises(log_import.LogImportError, match="give --course"):
        log_import.log_import(path=path, fmt="assistments")
    bad = write(tmp_path, "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n1\t2\tsoon\t1\t3\n1\t2\t5\t0.5\t3\n",
                "b.tsv")
    with pytest.raises(log_import.LogImportError) as err:
        log_import.log_import(path=bad, fmt="assistments", course="assist")
    assert err.value.problems == ["line 2: timestamp 'soon' is not a number of seconds.",
                                  "line 3: correct must be 0 or 1, got '0.5'."]
