"""Read-side queries of the tutor app."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from content.models import Course, Item
from tutor.models import Attempt, Turn, TutoringSession


def item_next_in_order(*, student: Any, course: Course) -> Item | None:
    """The first item of the course (in course order) the student has not finished yet."""
    finished = TutoringSession.objects.filter(
        student=student, course=course, status=TutoringSession.Status.FINISHED, sandbox=False
    ).values("item_id")
    return (
        Item.objects.filter(course=course, steps__isnull=False)
        .exclude(pk__in=finished)
        .order_by("position", "id")
        .distinct()
        .first()
    )


def session_for_student(*, student: Any, session_id: int) -> TutoringSession | None:
    """The student's own session (a teacher's sandbox is reached from its preview page only)."""
    return (
        TutoringSession.objects.select_related("item", "course", "step")
        .filter(pk=session_id, student=student, sandbox=False)
        .first()
    )


def session_transcript(*, session: TutoringSession) -> QuerySet[Turn]:
    return session.turns.order_by("seq")


def course_progress(*, student: Any, course: Course) -> dict[str, int]:
    sessions = TutoringSession.objects.filter(student=student, course=course, sandbox=False)
    return {
        "finished": sessions.filter(status=TutoringSession.Status.FINISHED).count(),
        "items": Item.objects.filter(course=course, steps__isnull=False).distinct().count(),
        "attempts": Attempt.objects.filter(session__in=sessions).count(),
    }
