"""The demo class (setup_demo: the demo course, the demo teacher, the demo student and replayed
students): the teacher's pages show the database's and the learner model's figures."""

import re
from collections import Counter, defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from tracing.selectors import mastery_predict
from tutor.management.commands.setup_demo import DEMO_CLASS, DEMO_REPLAYS
from tutor.models import Attempt, Turn, TutoringSession
from tutor.teaching import selectors as sel
from tutor.teaching.models import Classroom

HEAT_CELL = re.compile(r'<td class="[^"]*" title="(\d+)% ±(\d+); mastered (\d+)%[^"]*">(\d+)</td>')


@pytest.fixture
def demo(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("setup_demo", allow_production=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    classroom = Classroom.objects.get(name=DEMO_CLASS)
    return classroom


def test_setup_demo_makes_the_class_once(demo):
    users = get_user_model().objects
    assert list(demo.teachers.values_list("username", flat=True)) == ["demo-teacher"]
    enrolled = set(demo.students.values_list("username", flat=True))
    assert enrolled == {"demo-student", *(name for name, _ in DEMO_REPLAYS)}
    before = Attempt.objects.count()
    assert before > 10
    call_command("setup_demo", allow_production=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Classroom.objects.filter(name=DEMO_CLASS).count() == 1
    assert Attempt.objects.count() == before
    assert users.filter(username="demo-ben").get().has_usable_password()


def test_demo_class_view_matches_the_database_and_model(client, demo):
    client.force_login(get_user_model().objects.get(username="demo-teacher"))
    html = client.get(reverse("teacher-class", args=[demo.pk])).content.decode()
    course = demo.course
    kc_ids = list(course.kcs.order_by("position", "id").values_list("id", flat=True))
    table = html.split('id="heatmap"', 1)[1].split("</table>", 1)[0]
    rows = {int(m.group(1)): HEAT_CELL.findall(m.group(2))
            for m in re.finditer(r'<tr data-student="(\d+)">(.*?)</tr>', table, re.S)}
    assert set(rows) == set(demo.students.values_list("id", flat=True))
    for student in demo.students.all():
        own = mastery_predict(learner=student, course=course)
        shown = [int(cell[0]) for cell in rows[student.pk]]
        assert shown == [round(own[k].p_correct * 100) for k in kc_ids]
        summary = html.split('id="heatmap"', 1)[1]
        row = re.search(rf'<tr data-student="{student.pk}">(.*?)</tr>', summary, re.S).group(1)
        attempts = Attempt.objects.filter(session__student=student, subproblem__isnull=True)
        assert f'data-figure="attempts">{attempts.count()}<' in row
        assert f'data-figure="correct">{attempts.filter(correct=True).count()}<' in row
        hints = Turn.objects.filter(session__student=student, move="hint").count()
        assert f'data-figure="hints">{hints}<' in row
    # demo-ben climbs the ladder: the hints show.
    ben = get_user_model().objects.get(username="demo-ben")
    assert Turn.objects.filter(session__student=ben, move="hint").count() >= 2


def test_demo_student_view_matches_the_database(client, demo):
    client.force_login(get_user_model().objects.get(username="demo-teacher"))
    ben = get_user_model().objects.get(username="demo-ben")
    html = client.get(reverse("teacher-student", args=[demo.pk, ben.pk])).content.decode()
    sessions = TutoringSession.objects.filter(student=ben, course=demo.course)
    assert sessions.count() == 3
    assert html.count('<details class="card session"') == 3
    shown = 0
    for s in sessions:
        part = client.get(reverse("teacher-session", args=[demo.pk, ben.pk, s.pk]), HTTP_HX_REQUEST="true")
        shown += part.content.decode().count('class="t t-')
    assert shown == Turn.objects.filter(session__in=sessions).count()
    struggles = html.split('id="struggles"', 1)[1].split("</table>", 1)[0]
    for item_id, wrong in Counter(
        Attempt.objects.filter(session__in=sessions, subproblem__isnull=True, correct=False)
        .values_list("session__item_id", flat=True)
    ).items():
        assert re.search(rf'<tr data-item="{item_id}">.*?data-figure="wrong">{wrong}<', struggles, re.S)


def test_demo_item_statistics_match_the_database(client, demo):
    client.force_login(get_user_model().objects.get(username="demo-teacher"))
    html = client.get(reverse("teacher-class-items", args=[demo.pk])).content.decode()
    attempts = Attempt.objects.filter(session__course=demo.course, subproblem__isnull=True).order_by("id")
    first: dict[tuple[int, int], bool] = {}
    per_item: Counter[int] = Counter()
    for a in attempts.select_related("session"):
        first.setdefault((a.session_id, a.step_id), a.correct)
        per_item[a.session.item_id] += 1
    first_by_item: dict[int, list[bool]] = defaultdict(list)
    step_item = dict(Attempt.objects.values_list("step_id", "step__item_id").distinct())
    for (_session, step), ok in first.items():
        first_by_item[step_item[step]].append(ok)
    assert per_item
    for item_id, n in per_item.items():
        body = re.search(rf'<tbody data-item="{item_id}">(.*?)</tbody>', html, re.S).group(1)
        assert f'data-figure="attempts">{n}<' in body
        oks = first_by_item[item_id]
        assert f"({sum(oks)}/{len(oks)})" in body
    # Known misconceptions are recognised: -19 on the temperature item is authored in the pack.
    stats = {i.title: i for i in sel.item_stats(course=demo.course, classroom=demo)}
    temperature = next(i for i in stats.values() if any(w.answer == "-19" for s in i.steps for w in s.wrong_answers))
    wrong = {w.answer: w for s in temperature.steps for w in s.wrong_answers}
    assert wrong["-19"].misconception
