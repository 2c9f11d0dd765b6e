"""What a teacher changes: classes and their join codes, students joining, the course's tutor
settings and goals, the preview sandbox. Views check the request and call one of these; reads are in
``tutor.teaching.selectors``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from content.models import Course, Item, KnowledgeComponent
from tutor import engine
from tutor.courses.models import CourseGoal, CourseSettings
from tutor.models import TutoringSession
from tutor.teaching import selectors as sel
from tutor.teaching.models import JOIN_CODE_ALPHABET, Classroom, Enrolment, join_code_new


class JoinError(ValueError):
    """A join code that cannot be used, with a message for the student."""


def join_code_normalise(code: str) -> str:
    """Codes are read off a board: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def _fresh_code() -> str:
    for _ in range(20):
        code = join_code_new()
        if not Classroom.objects.filter(join_code=code).exists():
            return code
    raise RuntimeError("could not find an unused join code")  # 32^8 codes: practically unreachable


def classroom_create(*, teacher: Any, course: Course, name: str) -> Classroom:
    with transaction.atomic():
        classroom = Classroom.objects.create(course=course, name=name, join_code=_fresh_code())
        classroom.teachers.add(teacher)
    return classroom


def classroom_code_regenerate(*, classroom: Classroom) -> Classroom:
    """A new join code; the old one stops working (students already in the class stay)."""
    classroom.join_code = _fresh_code()
    classroom.save(update_fields=["join_code"])
    return classroom


def classroom_joining_set(*, classroom: Classroom, open_: bool) -> Classroom:
    classroom.joining_open = open_
    classroom.save(update_fields=["joining_open"])
    return classroom


def classroom_join(*, student: Any, code: str) -> tuple[Classroom, bool]:
    """Enrol the student in the class with this code; returns (class, newly joined)."""
    code = join_code_normalise(code)
    if not code or any(ch not in JOIN_CODE_ALPHABET for ch in code):
        raise JoinError("That is not a class code: codes are letters and digits, like K7QX2M9P.")
    classroom = Classroom.objects.select_related("course").filter(join_code=code).first()
    if classroom is None:
        raise JoinError("No class has this code. Check it with your teacher.")
    if Enrolment.objects.filter(classroom=classroom, student=student).exists():
        return classroom, False
    if not classroom.joining_open:
        raise JoinError("This class is not taking new students at the moment. Ask your teacher.")
    try:
        with transaction.atomic():
            Enrolment.objects.create(classroom=classroom, student=student)
    except IntegrityError:  # joined twice at once (a double click): the first one counts
        return classroom, False
    return classroom, True


def course_settings_save(*, course: Course, values: dict[str, Any]) -> CourseSettings:
    row, _ = CourseSettings.objects.update_or_create(course=course, defaults=values)
    return row


def goal_save(*, course: Course, goal: CourseGoal | None, name: str, kcs: Iterable[KnowledgeComponent],
              is_default: bool, position: int) -> CourseGoal:
    """Create or change a goal; making it the default takes that role from any other goal."""
    kc_list = list(kcs)
    if any(kc.course_id != course.pk for kc in kc_list):
        raise ValueError("A goal's knowledge components must belong to its course.")
    with transaction.atomic():
        if is_default:
            others = CourseGoal.objects.filter(course=course, is_default=True)
            if goal is not None:
                others = others.exclude(pk=goal.pk)
            others.update(is_default=False)
        if goal is None:
            goal = CourseGoal(course=course)
        goal.name, goal.is_default, goal.position = name, is_default, position
        goal.save()
        goal.kcs.set(kc_list)
    return goal


def goal_delete(*, goal: CourseGoal) -> None:
    goal.delete()


# ---------------------------------------------------------------------------------------------
# The preview sandbox: a teacher tries an item through the students' tutoring path


def sandbox_session(*, teacher: Any, item: Item) -> TutoringSession:
    """The teacher's sandbox conversation on ``item``: the latest one (finished or not), else a new
    one. A sandbox session is no learner's work (``TutoringSession.sandbox``)."""
    session = sel.sandbox_session_latest(teacher=teacher, item=item)
    return session if session is not None else engine.session_start(student=teacher, item=item, sandbox=True)


def sandbox_restart(*, teacher: Any, item: Item) -> TutoringSession:
    """Start over: the teacher's sandbox conversations on ``item`` are deleted, and a new one begins."""
    with transaction.atomic():
        TutoringSession.objects.filter(student=teacher, item=item, sandbox=True).delete()
        return engine.session_start(student=teacher, item=item, sandbox=True)


def sandbox_say(*, session: TutoringSession, text: str, client_id: str = "") -> None:
    """One turn of a sandbox conversation through the students' engine: the answer checked, the
    dialogue policy's move, the reply phrased by the course's model and passed by the guard (or the
    authored text). A message sent twice (same ``client_id``) is answered once."""
    if not session.sandbox:
        raise ValueError("only a sandbox session can be tried from the preview")
    plan = engine.turn_take(session_id=session.pk, text=text, client_id=client_id)
    if plan.duplicate:
        engine.pending_replies_finish(session_id=session.pk)
    else:
        engine.reply_generate(plan=plan)
