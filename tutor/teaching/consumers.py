"""The live class view's socket: a teacher's class page hears of each answer as it is stored.

Only the class's teachers (and superusers) are let in, by the same rule as the page
(``selectors.classroom_for_teacher``). Answers arriving close together are gathered for a moment and
sent as one update: the feed lines from the messages themselves, and the students' rows of the
heatmap recomputed by the page's own selector, so the figures are the page's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.urls import reverse

from tutor.ops.request_id import request_id_bind
from tutor.teaching import live
from tutor.teaching import selectors as sel
from tutor.teaching.models import Classroom
from tutor.teaching.views import heatmap_row

log = logging.getLogger(__name__)

# How long answers are gathered before one update goes out: at 200 answers a second across a class
# the page gets five updates a second, not two hundred, and each answer still shows well within 1 s.
GATHER_S = 0.2
MAX_FEED_LINES = 50  # per update; the feed shows the latest when a burst is larger


def live_fragments(*, classroom: Classroom, events: list[dict[str, Any]]) -> list[str]:
    """The update for ``events``: the feed lines, newest first, then the answering students' rows
    (two messages: a fragment that starts with a table row is parsed in table context only on its own)."""
    student_ids = {e["student_id"] for e in events}
    overview = sel.class_overview(classroom=classroom, students=student_ids)
    rows = [(s, heatmap_row(s)) for s in overview.students]
    student_base = reverse("teacher-student", args=[classroom.pk, 0]).removesuffix("0/")
    feed = sorted(events, key=lambda e: e["attempt_id"], reverse=True)[:MAX_FEED_LINES]
    out: list[str] = [
        render_to_string("tutor/teacher/partials/live_feed.html", {"events": feed, "student_base": student_base})
    ]
    if rows:
        out.append(render_to_string("tutor/teacher/partials/live_rows.html",
                                    {"rows": rows, "student_base": student_base}))
    return out


class ClassLiveConsumer(AsyncWebsocketConsumer):
    classroom: Classroom
    group: str

    async def connect(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.flush: asyncio.Task[None] | None = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        classroom_id = int(self.scope["url_route"]["kwargs"]["classroom_id"])
        classroom = await database_sync_to_async(sel.classroom_for_teacher)(user=user, classroom_id=classroom_id)
        if classroom is None:  # not a teacher, or not theirs: the page would be a 403 or 404
            await self.close(code=4403)
            return
        self.classroom = classroom
        self.group = live.class_group(classroom.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.flush is not None:
            self.flush.cancel()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The teacher's page sends nothing; anything it does send is ignored."""

    async def class_answer(self, event: dict[str, Any]) -> None:
        self.pending.append(event)
        if self.flush is None:
            self.flush = asyncio.create_task(self._send_later())

    async def _send_later(self) -> None:
        await asyncio.sleep(GATHER_S)
        events, self.pending, self.flush = self.pending, [], None
        # The update's log lines carry the request id of the (latest) chat turn that caused it.
        request_id_bind(events[-1].get("request_id"))
        try:
            fragments = await database_sync_to_async(live_fragments)(classroom=self.classroom, events=events)
            for fragment in fragments:
                await self.send(text_data=fragment)
        except Exception:
            log.exception("live update of class %s failed", self.classroom.pk)
            return
        log.info("live class view updated", extra={"classroom": self.classroom.pk, "answers": len(events)})
