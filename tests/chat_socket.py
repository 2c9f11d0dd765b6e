"""Open the app's websockets as a signed-in browser does, through the real ASGI stack (origin check,
session cookie, auth middleware), and read the chat's frames."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator


async def ws_connect(user: Any, path: str) -> tuple[WebsocketCommunicator, bool]:
    """``path`` (e.g. ``ws/sessions/1/``) opened by ``user``, or anonymously when ``user`` is None."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from config.asgi import application

    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if user is not None:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        await database_sync_to_async(store.save)()
        headers.append((b"cookie", f"sessionid={store.session_key}".encode()))
    comm = WebsocketCommunicator(application, "/" + path.lstrip("/"), headers=headers)
    connected, _ = await comm.connect(timeout=5)
    return comm, connected


async def connect(user: Any, session_id: int) -> tuple[WebsocketCommunicator, bool]:
    """The chat socket of one tutoring session."""
    return await ws_connect(user, f"ws/sessions/{session_id}/")


async def receive_until_final(comm: WebsocketCommunicator, limit: int = 300) -> list[str]:
    """The frames up to and including the tutor's final bubble (the one swapped in out of band)."""
    frames = []
    for _ in range(limit):
        frame = await comm.receive_from(timeout=10)
        frames.append(frame)
        if 'hx-swap-oob="outerHTML"' in frame:
            return frames
    raise AssertionError("no final frame")
