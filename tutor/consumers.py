"""The tutoring websocket: thin. Parse, run the turn service in a thread, stream the reply.

Protocol (htmx ws extension): the browser sends the chat form as JSON (``message``, ``client_id``);
the server sends HTML fragments with out-of-band swaps: the student's bubble, the tutor's bubble,
its tokens as they stream, and the final rendered reply replacing the streamed text. The engine yields
these as plain events; ``fragment`` renders them with the chat's partials.
"""

from __future__ import annotations

import html
import json
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from tutor import engine, ratelimit
from tutor.models import Turn, TutoringSession
from tutor.ops.request_id import request_id_bind

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS: int = settings.TUTOR_MAX_MESSAGE_CHARS


def fragment(event: engine.TurnOpened | engine.ReplyEvent) -> str:
    """The htmx fragment that shows one of the engine's events on the chat page (out-of-band swaps)."""
    if isinstance(event, engine.ReplyToken):
        # Once per token: a plain string, not a template.
        return f'<span hx-swap-oob="beforeend:#turn-{event.turn_id}-stream">{html.escape(event.text)}</span>'
    if isinstance(event, engine.TurnOpened):
        return render_to_string("tutor/partials/turn_open.html", {"student": event.student, "tutor": event.tutor})
    return render_to_string("tutor/partials/turn_final.html", {
        "turn": event.turn, "oob": True, "offer_similar": event.offer_similar, "next_url": event.next_url})


class TutorConsumer(AsyncWebsocketConsumer):
    session_id: int

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        owned = await database_sync_to_async(
            TutoringSession.objects.filter(pk=self.session_id, student=user).exists
        )()
        if not owned:
            await self.close(code=4403)
            return
        await self.accept()
        # A tutor turn left pending by a dropped connection is finished now, so nothing is lost.
        for final in await database_sync_to_async(engine.pending_replies_finish)(session_id=self.session_id):
            await self._send(final)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Each message is a request of its own: every log line of this turn, down to the engine's, carries its id.
        request_id_bind()
        try:
            payload = json.loads(text_data or "{}")
        except (json.JSONDecodeError, RecursionError):  # not JSON, or nested too deeply to read
            payload = None
        # The chat form sends an object with a text message; anything else is refused, not a crash.
        if not isinstance(payload, dict) or not isinstance(payload.get("message", ""), str):
            await self._notice("That message could not be read. Please try again.")
            return
        # PostgreSQL cannot store NUL characters, and they are nothing a student can see.
        message = payload.get("message", "").replace("\x00", "").strip()
        client_id = str(payload.get("client_id", "")).replace("\x00", "")[:64]
        if not message:
            return
        if len(message) > MAX_MESSAGE_CHARS:
            await self._notice(f"That message is too long ({len(message)} characters). "
                               f"Please keep it under {MAX_MESSAGE_CHARS}.", refused=client_id)
            return
        # Per user across every socket and worker, together with the API's messages (tutor.ratelimit).
        if not await sync_to_async(ratelimit.tutor_message_allowed, thread_sensitive=False)(user=self.scope["user"]):
            await self._notice("You are sending messages very quickly — take a moment to think, then try again.",
                               refused=client_id)
            return

        started = time.perf_counter()
        log.info("chat turn received", extra={"session": self.session_id, "client_id": client_id})
        try:
            plan = await database_sync_to_async(engine.turn_take)(
                session_id=self.session_id, text=message, client_id=client_id
            )
        except Exception:  # the database is unreachable for a moment: say whether the message was stored
            log.exception("could not store a turn of session %s", self.session_id)
            if await self._stored(client_id):
                await self._notice("Your message was saved, but the reply could not be shown just now. "
                                   "Reload the page to see it.", stored=client_id)
            else:
                await self._notice("Your message could not be saved just now. Please send it again in a moment.",
                                   refused=client_id)
            return
        if plan.opening is not None:
            await self._send(plan.opening)
        if plan.duplicate:
            # Re-sent after a failure: both bubbles (above), then the stored reply again (finished with
            # its authored text if it never finished), so a re-send is always answered.
            await self._resend(plan.tutor_turn_id)
            return
        try:
            async for event in engine.reply_stream(plan=plan, started=started):
                await self._send(event)
        except Exception:  # the last write failed; whether or not it committed, the reply is sent again
            log.exception("could not finish the reply of session %s", self.session_id)
            await self._resend(plan.tutor_turn_id)
            return
        log.info("chat turn replied", extra={"session": self.session_id, "client_id": client_id,
                                              "tutor_turn": plan.tutor_turn_id,
                                              "ms": round((time.perf_counter() - started) * 1000, 1)})

    async def _resend(self, tutor_turn_id: int) -> None:
        try:
            final = await database_sync_to_async(engine.reply_resend)(tutor_turn_id=tutor_turn_id)
        except Exception:
            log.exception("could not send the reply %s of session %s again", tutor_turn_id, self.session_id)
            await self._notice("The tutor's reply could not be shown just now. Please send your message again.")
            return
        if final is not None:
            await self._send(final)

    async def _send(self, event: engine.TurnOpened | engine.ReplyEvent) -> None:
        if isinstance(event, engine.ReplyToken):
            await self.send(text_data=fragment(event))
        else:  # rendering a template (Markdown and maths included) is blocking work: off the event loop
            await self.send(text_data=await sync_to_async(fragment)(event))

    async def _stored(self, client_id: str) -> bool:
        """Whether the message with this id is in the database (False when that cannot be known)."""
        if not client_id:
            return False
        try:
            return await database_sync_to_async(
                Turn.objects.filter(session_id=self.session_id, client_id=client_id).exists
            )()
        except Exception:
            return False

    async def _notice(self, text: str, *, refused: str = "", stored: str = "") -> None:
        """A notice; ``refused`` / ``stored`` name the message it answers, so the page stops re-sending it."""
        context = {"text": text, "refused": refused, "stored": stored}
        await self.send(text_data=render_to_string("tutor/partials/notice.html", context))


def as_json(data: dict[str, Any]) -> str:
    return json.dumps(data)
