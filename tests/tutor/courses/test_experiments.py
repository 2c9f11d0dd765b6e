"""Experiments: conditions change what the tutor does for the students assigned to them, students are
assigned at random but stably (following the weights), the condition is recorded in every export,
and teachers define conditions in the admin for their own courses only."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tutor import engine, roles
from tutor.courses import services as course_settings
from tutor.courses.models import Condition, ConditionAssignment
from tutor.llm.scripted import ScriptedBackend
from tutor.models import Turn
from tutor.research import exports
from tutor.research.models import Consent, ResearchGrant

pytestmark = pytest.mark.django_db

WRONG = ["5", "7", "9", "11", "13", "15", "17", "19"]


def condition(course, name, kind="experimental", weight=1, **overrides):
    return Condition.objects.create(course=course, name=name, condition_type=kind, weight=weight,
                                    overrides=overrides)


def assigned(course, cond, username):
    """A student placed in ``cond`` (as ``condition_assign`` would have done), with a session."""
    student = UserFactory(username=username, role=roles.STUDENT)
    ConditionAssignment.objects.create(student=student, course=course, condition=cond)
    return engine.session_start(student=student, item=course.items.get(slug="add-halves-quarters"))


def answer(session, text):
    return engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=text))


def wrong_answers(session, n):
    return [answer(session, WRONG[i % len(WRONG)]).move for i in range(n)]


def test_no_telling_condition_never_releases_the_answer_to_its_students(course, backend):
    control = assigned(course, condition(course, "control", "control"), "ctl")
    treated = assigned(course, condition(course, "no-telling", allow_telling=False), "trt")

    control_moves = wrong_answers(control, 6)
    treated_moves = wrong_answers(treated, 6)
    assert "bottom_out" in control_moves
    assert "bottom_out" not in treated_moves
    assert not Turn.objects.filter(session=treated, released_answer=True).exists()
    assert Turn.objects.filter(session=control, released_answer=True).exists()


def test_max_attempts_condition_moves_the_bottom_out(course, backend):
    control = assigned(course, condition(course, "control", "control"), "ctl")
    patient = assigned(course, condition(course, "patient", max_attempts_before_bottom_out=6), "pat")

    control_moves = wrong_answers(control, 8)
    patient_moves = wrong_answers(patient, 8)
    first = control_moves.index("bottom_out")
    assert "bottom_out" in patient_moves
    assert patient_moves.index("bottom_out") > first, (control_moves, patient_moves)
    assert "bottom_out" not in patient_moves[: first + 1]


def test_llm_off_condition_uses_authored_text_for_its_students_only(course, backend):
    calls = []

    def reply(messages):
        calls.append(messages)
        return "What do the denominators tell you?"

    backend(ScriptedBackend(reply))
    control = assigned(course, condition(course, "model", "control"), "ctl")
    authored = assigned(course, condition(course, "authored", llm_enabled=False), "aut")

    reply = answer(authored, "hint please")
    assert reply.backend == engine.AUTHORED_ONLY and reply.text == reply.authored_text
    assert calls == []
    reply = answer(control, "hint please")
    assert reply.backend != engine.AUTHORED_ONLY and len(calls) >= 1


def test_llm_backend_condition_picks_the_backend(course, monkeypatch):
    asked = []

    def get_backend(spec=None):
        asked.append(spec)
        return ScriptedBackend()

    monkeypatch.setattr("tutor.llm.get_backend", get_backend)
    session = assigned(course, condition(course, "scripted", llm_backend="scripted"), "scr")
    answer(session, "hint please")
    assert asked == ["scripted"]


def test_assignment_is_stable_and_survives_condition_changes(course):
    a = condition(course, "a")
    b = condition(course, "b")
    user_model = get_user_model()
    students = user_model.objects.bulk_create([user_model(username=f"s{i}") for i in range(20)])
    students = list(user_model.objects.filter(username__in=[s.username for s in students]).order_by("pk"))
    first = [course_settings.condition_assign(student=s, course=course) for s in students]
    assert {c.name for c in first} == {"a", "b"}  # both arms get students
    assert [course_settings.condition_assign(student=s, course=course) for s in students] == first
    # a stored assignment holds even when the experiment changes afterwards
    Condition.objects.filter(pk=a.pk).update(active=False, weight=0)
    assert [course_settings.condition_assign(student=s, course=course) for s in students] == first
    assert ConditionAssignment.objects.filter(course=course).count() == 20
    # and the draw itself is deterministic: forgetting the assignments gives the same arms back
    Condition.objects.filter(pk=a.pk).update(active=True, weight=1)
    ConditionAssignment.objects.all().delete()
    assert [course_settings.condition_assign(student=s, course=course) for s in students] == first
    assert course_settings.settings_effective(course=course, student=students[0]).condition_name == first[0].name
    assert b.pk in {c.pk for c in first}


def test_assignment_follows_the_weights(course):
    condition(course, "small", weight=1)
    condition(course, "large", weight=3)
    condition(course, "zero", weight=0)
    Condition.objects.create(course=course, name="closed", weight=5, active=False)
    user_model = get_user_model()
    user_model.objects.bulk_create([user_model(username=f"w{i}") for i in range(1200)])
    counts = {"small": 0, "large": 0}
    for student in user_model.objects.filter(username__startswith="w"):
        counts[course_settings.condition_assign(student=student, course=course).name] += 1
    share = counts["large"] / 1200
    # expected 0.75; four standard deviations (0.0125 each) either side
    assert 0.70 <= share <= 0.80, counts


def test_course_without_conditions_assigns_nothing(course, student):
    assert course_settings.condition_assign(student=student, course=course) is None
    assert course_settings.settings_effective(course=course, student=student).condition_name == ""


def test_invalid_overrides_are_rejected_with_a_message(course):
    bad = Condition(course=course, name="bad", overrides={"allow_telling": "no", "colour": "red"})
    with pytest.raises(ValidationError) as err:
        bad.full_clean()
    text = " ".join(err.value.message_dict["overrides"])
    assert "allow_telling must be bool" in text and "Unknown setting 'colour'" in text


def test_every_export_records_the_students_condition(course, backend, tmp_path):
    control = assigned(course, condition(course, "control", "control"), "ctl")
    treated = assigned(course, condition(course, "no-telling", allow_telling=False), "trt")
    for session in (control, treated):
        Consent.objects.create(student=session.student, version="1", given=True)
        answer(session, "2/6")
    expected = {exports.pseudonym(control.student_id): ("control", "control"),
                exports.pseudonym(treated.student_id): ("no-telling", "experimental")}

    rows = list(exports.datashop_rows(course=course))
    assert {r["Anon Student Id"] for r in rows} == set(expected)
    for row in rows:
        assert (row["Condition Name"], row["Condition Type"]) == expected[row["Anon Student Id"]]
    for row in exports.dialogue_rows(course=course):
        assert (row["condition_name"], row["condition_type"]) == expected[row["anon_student_id"]]

    researcher = UserFactory(username="rita", role=roles.RESEARCHER)
    ResearchGrant.objects.create(researcher=researcher, course=course)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=researcher).key}")
    for endpoint in ("sessions", "turns", "attempts"):
        page = client.get(f"/api/research/courses/mini/{endpoint}/").json()
        assert page["results"], endpoint
        for row in page["results"]:
            assert (row["condition_name"], row["condition_type"]) == expected[row["anon_student_id"]]
    lines = b"".join(client.get("/api/research/courses/mini/export.jsonl").streaming_content).splitlines()
    assert {json.loads(line)["condition_name"] for line in lines} == {"control", "no-telling"}


# ---------------------------------------------------------------------------------------------
# Admin: teachers define conditions for their own courses only


@pytest.fixture
def teacher_client(course, client):
    teacher = UserFactory(username="tess", role=roles.TEACHER)
    course.owner = teacher
    course.save()
    client.force_login(teacher)
    return client


def test_teacher_defines_a_condition_in_the_admin(course, teacher_client):
    resp = teacher_client.post("/admin/courses/condition/add/", {
        "course": course.pk, "name": "no-telling", "condition_type": "experimental", "weight": 2,
        "active": "on", "overrides": '{"allow_telling": false}',
    })
    assert resp.status_code == 302, resp.content.decode()[:2000]
    made = Condition.objects.get(course=course, name="no-telling")
    assert made.overrides == {"allow_telling": False} and made.weight == 2


def test_admin_rejects_bad_overrides_with_the_reason(course, teacher_client):
    resp = teacher_client.post("/admin/courses/condition/add/", {
        "course": course.pk, "name": "broken", "weight": 1, "active": "on",
        "overrides": '{"max_attempts_before_bottom_out": 99}',
    })
    assert resp.status_code == 200
    assert "max_attempts_before_bottom_out must be between 1 and 20" in resp.content.decode()
    assert not Condition.objects.filter(name="broken").exists()


def test_teacher_sees_and_edits_only_their_courses_conditions(course, teacher_client):
    other = packs.import_pack(SMALL_PACK, slug="other-course")
    mine = condition(course, "mine")
    theirs = condition(other, "theirs")
    ConditionAssignment.objects.create(student=UserFactory(username="x1"), course=other, condition=theirs)

    listing = teacher_client.get("/admin/courses/condition/").content.decode()
    assert "mine" in listing and "theirs" not in listing
    assert teacher_client.get(f"/admin/courses/condition/{mine.pk}/change/").status_code == 200
    assert teacher_client.get(f"/admin/courses/condition/{theirs.pk}/change/").status_code in (302, 403, 404)
    assert "x1" not in teacher_client.get("/admin/courses/conditionassignment/").content.decode()
    # a course the teacher does not teach cannot be chosen
    resp = teacher_client.post("/admin/courses/condition/add/", {
        "course": other.pk, "name": "sneaky", "weight": 1, "active": "on", "overrides": "{}",
    })
    assert resp.status_code == 200 and not Condition.objects.filter(name="sneaky").exists()
    # consents and grants are for administrators
    assert teacher_client.get("/admin/research/researchgrant/").status_code == 403
    assert teacher_client.get("/admin/research/consent/").status_code == 403
