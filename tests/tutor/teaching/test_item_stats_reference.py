"""The item statistics pages show the figures a plain count over every row gives: whatever the
selector's queries do to be fast (tutor/teaching/selectors.py, ``item_stats``), the sessions,
answers, first tries, hints, answers shown and most common wrong answers stay those below, for
the whole course and for one class, with a teacher's sandbox and subproblem answers left out."""

import html
import random
import re
from collections import Counter, defaultdict

import pytest
from django.urls import reverse

from content.models import Misconception, Step, Subproblem
from tutor.checking import MisconceptionPattern, check_answer
from tutor.models import Attempt, Turn, TutoringSession
from tutor.teaching import selectors as sel
from tutor.teaching.management.commands.teacher_bench import class_generate
from tutor.teaching.models import Classroom, Enrolment

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    rng = random.Random(11)
    world = class_generate(rng, {"students": 12, "kcs": 3, "items_per_kc": 2, "answers": 14})
    course, teacher = world["course"], world["teacher"]
    attempts = list(Attempt.objects.filter(session__course=course).order_by("id"))
    # Rows the generated class lacks: answers the checker could not read (shown as typed), partly right
    # answers, misconceptions recorded on the attempt, a second step, answers to a subproblem.
    for a in attempts[::7]:
        Attempt.objects.filter(pk=a.pk).update(parsed="", raw=f"what is {a.raw}", correct=False, outcome="incorrect")
    for a in attempts[3::11]:
        Attempt.objects.filter(pk=a.pk).update(partial=True)
    for a in attempts[5::9]:
        if not a.correct:
            Attempt.objects.filter(pk=a.pk).update(misconception=Misconception.objects.filter(step=a.step).first())
    session = TutoringSession.objects.filter(course=course).order_by("id").first()
    second = Step.objects.create(item=session.item, position=1, prompt="And *then*?", answer_kind="numeric",
                                 answer="2")
    sub = Subproblem.objects.create(step=session.step, prompt="A smaller one", answer_kind="numeric", answer="1")
    seq = session.turns.order_by("-seq").first().seq
    for raw, correct, subproblem, step in (("5", False, None, second), ("2", True, None, second),
                                           ("1", True, sub, session.step), ("9", False, sub, session.step)):
        seq += 1
        turn = Turn.objects.create(session=session, seq=seq, role="student", text=raw, step=step)
        Attempt.objects.create(session=session, turn=turn, step=step, subproblem=subproblem, raw=raw, parsed=raw,
                               outcome="correct" if correct else "incorrect", correct=correct)
    seq += 1
    Turn.objects.create(session=session, seq=seq, role="tutor", move="bottom_out", step=second)
    # A teacher's sandbox on the same item: no student's work, in no figure.
    sandbox = TutoringSession.objects.create(student=teacher, course=course, item=session.item, step=session.step,
                                             sandbox=True)
    for seq, (role, move, raw) in enumerate((("student", "", "2/6"), ("tutor", "hint", ""),
                                             ("tutor", "bottom_out", "")), start=1):
        turn = Turn.objects.create(session=sandbox, seq=seq, role=role, move=move, text=raw or move,
                                   step=session.step)
        if role == "student":
            Attempt.objects.create(session=sandbox, turn=turn, step=session.step, raw=raw, parsed=raw,
                                   outcome="incorrect")
    # A second class of half the students.
    students = list(world["classroom"].enrolments.order_by("student_id").values_list("student_id", flat=True))
    half = Classroom.objects.create(course=course, name="Half")
    half.teachers.add(teacher)
    Enrolment.objects.bulk_create(Enrolment(classroom=half, student_id=s) for s in students[::2])
    world["half"] = half
    return world


def reference(course, classroom=None):
    """Every figure of the items page, counted in Python over the rows, one at a time."""
    sessions = {s.pk: s for s in TutoringSession.objects.filter(course=course, sandbox=False)}
    if classroom is not None:
        enrolled = set(classroom.enrolments.values_list("student_id", flat=True))
        sessions = {pk: s for pk, s in sessions.items() if s.student_id in enrolled}
    items: dict[int, dict] = defaultdict(lambda: {"sessions": 0, "hints": 0})
    for s in sessions.values():
        items[s.item_id]["sessions"] += 1
    steps: dict[int, dict] = defaultdict(lambda: {"attempts": 0, "first_tries": 0, "first_ok": 0,
                                                  "bottom_out_sessions": set(), "wrong": defaultdict(list)})
    first_seen: set[tuple[int, int]] = set()
    for a in Attempt.objects.filter(subproblem__isnull=True).order_by("id"):
        if a.session_id not in sessions:
            continue
        step = steps[a.step_id]
        step["attempts"] += 1
        if (a.session_id, a.step_id) not in first_seen:
            first_seen.add((a.session_id, a.step_id))
            step["first_tries"] += 1
            step["first_ok"] += a.correct
        if a.outcome == "incorrect":
            step["wrong"][a.parsed or a.raw].append(a)
    for t in Turn.objects.filter(role="tutor", move__in=("hint", "bottom_out")):
        if t.session_id not in sessions:
            continue
        if t.move == "hint":
            items[sessions[t.session_id].item_id]["hints"] += 1
        elif t.step_id is not None:
            steps[t.step_id]["bottom_out_sessions"].add(t.session_id)
    names = dict(Misconception.objects.values_list("id", "name"))
    shown: dict[int, list[tuple[str, int, int, bool, str]]] = {}
    for step_id, step in steps.items():
        row = Step.objects.get(pk=step_id)
        patterns = tuple(MisconceptionPattern(m.pk, m.pattern_kind, m.pattern)
                         for m in Misconception.objects.filter(step_id=step_id).order_by("id"))
        ranked = sorted(step["wrong"].items(), key=lambda kv: (-len(kv[1]), kv[0]))[:sel.WRONG_ANSWERS_SHOWN]
        shown[step_id] = []
        for answer, rows in ranked:
            recorded = max((a.misconception_id for a in rows if a.misconception_id), default=None)
            mid = recorded if recorded in names else (
                check_answer(row.answer_spec(), answer, patterns).misconception_id if patterns else None)
            shown[step_id].append((answer, len(rows), len({sessions[a.session_id].student_id for a in rows}),
                                   any(a.partial for a in rows), names.get(mid, "") if mid else ""))
    return items, steps, shown


def page_figures(page: str):
    """The figures the page shows, per item and per step."""
    items, steps = {}, {}
    for item_id, body in re.findall(r'<tbody data-item="(\d+)">(.*?)</tbody>', page, re.S):
        figure = dict(re.findall(r'data-figure="([a-z-]+)">([^<]*)<', body))
        first = re.search(r'data-figure="first-try">[^<]*(?:<span class="muted">\((\d+)/(\d+)\))?', body)
        items[int(item_id)] = {"sessions": int(figure["sessions"]), "attempts": int(figure["attempts"]),
                               "hints": int(figure["hints"]), "bottom-outs": int(figure["bottom-outs"]),
                               "first": (int(first.group(1)), int(first.group(2))) if first.group(1) else None}
        for step_id, row in re.findall(r'<tr class="step-row" data-step="(\d+)">(.*?)</tr>', body, re.S):
            steps[int(step_id)] = [(html.unescape(a), int(n), int(who))
                                   for a, n, who in re.findall(
                                       r'<li data-answer="([^"]*)" data-count="(\d+)" data-students="(\d+)"', row)]
    return items, steps


@pytest.mark.parametrize("whole_course", [True, False])
def test_item_statistics_are_the_plain_counts(client, world, whole_course):
    course, teacher = world["course"], world["teacher"]
    classroom = None if whole_course else world["half"]
    ref_items, ref_steps, ref_shown = reference(course, classroom)
    stats = sel.item_stats(course=course, classroom=classroom)
    assert {i.id for i in stats} == set(course.items.values_list("id", flat=True))
    assert sum(i.attempts for i in stats) > 0 and any(s.wrong_answers for i in stats for s in i.steps)
    for item in stats:
        assert (item.sessions, item.hints) == (ref_items[item.id]["sessions"], ref_items[item.id]["hints"]), item.title
        for step in item.steps:
            ref = ref_steps[step.id]
            assert (step.attempts, step.first_tries, step.first_try_correct, step.bottom_outs) == (
                ref["attempts"], ref["first_tries"], ref["first_ok"], len(ref["bottom_out_sessions"])), step.id
            assert [(w.answer, w.count, w.students, w.partial, w.misconception) for w in step.wrong_answers] == \
                ref_shown.get(step.id, []), step.id
    # ...and the page shows them.
    client.force_login(teacher)
    url = (reverse("teacher-course-items", args=[course.slug]) if whole_course
           else reverse("teacher-class-items", args=[classroom.pk]))
    shown_items, shown_steps = page_figures(client.get(url).content.decode())
    assert set(shown_items) == set(course.items.values_list("id", flat=True))
    for item in stats:
        steps = [ref_steps[s.id] for s in item.steps]
        first_tries = sum(s["first_tries"] for s in steps)
        assert shown_items[item.id] == {
            "sessions": ref_items[item.id]["sessions"], "attempts": sum(s["attempts"] for s in steps),
            "hints": ref_items[item.id]["hints"], "bottom-outs": sum(len(s["bottom_out_sessions"]) for s in steps),
            "first": (sum(s["first_ok"] for s in steps), first_tries) if first_tries else None,
        }, item.title
        for step in item.steps:
            if ref_steps[step.id]["attempts"]:
                assert shown_steps[step.id] == [(a, n, who) for a, n, who, _p, _m in ref_shown[step.id]]
            else:
                assert step.id not in shown_steps
    # The rows added to the generated class are in the figures: a second step answered in one session,
    # unreadable answers shown as typed, partly right answers.
    assert any(len(i.steps) == 2 and i.steps[1].attempts for i in stats) or not whole_course
    assert any(w.answer.startswith("what is ") for i in stats for s in i.steps for w in s.wrong_answers)
    assert Counter(w.partial for i in stats for s in i.steps for w in s.wrong_answers)[True] > 0 or not whole_course
