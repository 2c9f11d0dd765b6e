"""The live class view: a student's answer reaches the class views of their teachers at once.

Every class has a channel group. When an attempt is stored (by the chat, the API or anything else
that records one), and only once its transaction has committed, a short message goes to the groups
of the classes the student is in for that course. Over the Redis channel layer that reaches the
teachers' sockets on every worker process, whichever one the student's turn ran on.
``tutor.teaching.consumers.ClassLiveConsumer`` turns these messages into updates of the page.

The attempt's ``post_save`` is the hook because the teaching room sits above the tutoring engine:
the engine cannot call up into it. The receiver only schedules the message; what the teacher sees
is computed by the class view's own selector.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tutor.models import Attempt
from tutor.ops.request_id import request_id_get
from tutor.teaching.models import Enrolment

log = logging.getLogger(__name__)

EVENT = "class.answer"  # handled by ClassLiveConsumer.class_answer
PUBLISH_TIMEOUT_S = 1.0


def class_group(classroom_id: int) -> str:
    return f"teaching.class.{classroom_id}"


def answer_event(attempt: Attempt) -> dict[str, Any]:
    """What the live view shows of one answer, read from the objects the engine already holds."""
    session = attempt.session
    return {
        "type": EVENT,
        "attempt_id": attempt.pk,
        "student_id": session.student_id,
        "username": session.student.get_username(),
        "course_id": session.course_id,
        "item": session.item.title,
        "outcome": attempt.outcome,
        "correct": bool(attempt.correct),
        "partial": bool(attempt.partial),
        "subproblem": attempt.subproblem_id is not None,
        "at": (attempt.created.isoformat() if attempt.created else ""),
        "request_id": request_id_get(),
    }


def answer_publish(*, event: dict[str, Any]) -> int:
    """Send ``event`` to the live views of every class the student is in for its course; returns how
    many groups it went to. A channel layer that is down costs the live view an update, never the turn."""
    classroom_ids = list(
        Enrolment.objects.filter(student_id=event["student_id"], classroom__course_id=event["course_id"])
        .values_list("classroom_id", flat=True)
    )
    if not classroom_ids:
        return 0
    layer = get_channel_layer()
    if layer is None:
        return 0

    async def send_all() -> None:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await asyncio.gather(*(layer.group_send(class_group(cid), event) for cid in classroom_ids))

    try:
        async_to_sync(send_all)()
    except Exception as exc:
        log.warning("live class view not updated for attempt %s: %s: %s", event["attempt_id"],
                    type(exc).__name__, exc)
        return 0
    return len(classroom_ids)


def attempt_saved(sender: Any, instance: Attempt, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """``post_save`` receiver for attempts (connected in ``TeachingConfig.ready``)."""
    if not created or raw or instance.session.sandbox:  # a teacher's sandbox is no student's answer
        return
    event = answer_event(instance)
    transaction.on_commit(lambda: answer_publish(event=event))
