"""A checked answer may change a score an LMS holds: the student's LMS grades in that course are
marked for the next send (``manage.py lti_grades_send``). Only a flag is written, after the answer's
transaction commits; computing and sending happen outside the tutoring turn."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save


def _attempt_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):
        return
    from tutor.lti.services import grades_mark_dirty

    student_id, course_id = instance.session.student_id, instance.session.course_id
    transaction.on_commit(lambda: grades_mark_dirty(student_id=student_id, course_id=course_id))


def connect() -> None:
    from tutor.models import Attempt

    post_save.connect(_attempt_saved, sender=Attempt, dispatch_uid="tutor_lti_attempt_saved")
