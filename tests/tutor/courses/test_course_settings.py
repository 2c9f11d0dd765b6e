"""The teacher's course settings change what the tutor does, and goals narrow what the planner aims at."""

import pytest
from django.core.exceptions import ValidationError

from tests.tutor.streaming import reply_events as run_reply
from tutor import engine
from tutor.courses import services as course_settings
from tutor.courses.models import CourseGoal, CourseSettings, StudentGoal
from tutor.llm.scripted import ScriptedBackend
from tutor.models import Turn

pytestmark = pytest.mark.django_db(transaction=True)

WRONG = ["5", "7", "9", "11", "13", "15", "17", "19"]


def wrong_until_released(session, limit=12):
    """Wrong answers (no known misconception) until the tutor shows the worked answer or gives up."""
    moves = []
    for i in range(limit):
        plan = engine.turn_take(session_id=session.pk, text=WRONG[i % len(WRONG)])
        run_reply(plan)
        moves.append(Turn.objects.get(pk=plan.tutor_turn_id).move)
        if plan.released:
            break
    return moves


def test_defaults_without_a_settings_row(course):
    s = course_settings.settings_effective(course=course)
    assert (s.max_attempts_before_bottom_out, s.allow_telling, s.llm_enabled) == (3, True, True)
    assert s.condition_name == ""


def test_more_attempts_before_bottom_out_delays_the_answer(course, session, backend):
    baseline = wrong_until_released(session)
    assert baseline[-1] == "bottom_out"

    other = engine.session_start(student=session.student, item=course.items.get(slug="solve-x-plus-3"))
    CourseSettings.objects.create(course=course, max_attempts_before_bottom_out=8)
    stricter = wrong_until_released(other)
    assert stricter[-1] == "bottom_out"
    # eight wrong answers before the worked answer, where the default needs three
    assert len(stricter) == 8 and len(baseline) < len(stricter), (baseline, stricter)


def test_no_telling_never_releases_the_answer(course, session, backend):
    CourseSettings.objects.create(course=course, allow_telling=False, max_attempts_before_bottom_out=1)
    moves = wrong_until_released(session, limit=10)
    assert "bottom_out" not in moves
    tutor_turns = Turn.objects.filter(session=session, role=Turn.Role.TUTOR)
    assert not tutor_turns.filter(released_answer=True).exists()
    assert all("3/4" not in t.text for t in tutor_turns.exclude(move="present"))


def test_llm_off_sends_the_authored_text_without_calling_the_model(course, session, backend):
    calls = []

    def model(msgs):
        calls.append(msgs)
        return "A lovely model reply about denominators."

    backend(ScriptedBackend(model))
    CourseSettings.objects.create(course=course, llm_enabled=False)
    plan = engine.turn_take(session_id=session.pk, text="hint please")
    run_reply(plan)
    tutor = Turn.objects.get(pk=plan.tutor_turn_id)
    assert calls == []
    assert tutor.text == tutor.authored_text and tutor.backend == engine.AUTHORED_ONLY
    assert tutor.state == Turn.State.COMPLETE

    reply = engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text="another hint"))
    assert calls == [] and reply.backend == engine.AUTHORED_ONLY and reply.text == reply.authored_text


def test_review_threshold_above_mastery_is_rejected(course):
    row = CourseSettings(course=course, mastery_threshold=0.7, review_threshold=0.9)
    with pytest.raises(ValidationError) as err:
        row.full_clean()
    assert "review_threshold" in err.value.message_dict


def test_goal_kcs_follow_the_student_choice_then_the_default_then_the_course(course, student):
    every = set(course.kcs.values_list("pk", flat=True))
    assert set(course_settings.goal_kc_ids(course=course, student=student)) == every

    adding = course.kcs.get(slug="adding")
    equations = course.kcs.get(slug="equations")
    default = CourseGoal.objects.create(course=course, name="Add fractions", is_default=True)
    default.kcs.set([adding])
    solve = CourseGoal.objects.create(course=course, name="Solve equations")
    solve.kcs.set([equations])
    assert course_settings.goal_kc_ids(course=course, student=student) == [adding.pk]

    course_settings.goal_choose(student=student, course=course, goal=solve)
    assert course_settings.goal_kc_ids(course=course, student=student) == [equations.pk]
    course_settings.goal_choose(student=student, course=course, goal=default)
    assert StudentGoal.objects.filter(student=student, course=course).count() == 1


def test_a_goal_of_another_course_cannot_be_chosen(course, student):
    from content import packs
    from tests.conftest import SMALL_PACK

    other = packs.import_pack(SMALL_PACK, slug="other-course")
    foreign = CourseGoal.objects.create(course=other, name="Elsewhere")
    with pytest.raises(ValueError):
        course_settings.goal_choose(student=student, course=course, goal=foreign)
    assert not StudentGoal.objects.exists()
