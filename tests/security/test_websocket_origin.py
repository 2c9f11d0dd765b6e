"""The chat socket opens only for a page of this very site: scheme, host and port (issue 19, defect 7)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["127.0.0.1", "tutor.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.tutor.example"]


async def _open(student, session_id, origin: str | None, host: str, extra=()) -> bool:
    store = SessionStore()
    store[SESSION_KEY] = str(student.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = student.get_session_auth_hash()
    await database_sync_to_async(store.save)()
    headers = [(b"host", host.encode()), (b"cookie", f"sessionid={store.session_key}".encode()), *extra]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    comm = WebsocketCommunicator(application, f"/ws/sessions/{session_id}/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    if connected:
        await comm.disconnect()
    return connected


@pytest.mark.parametrize(("origin", "host", "extra", "accepted"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", (), True),
    ("http://127.0.0.1:8080", "127.0.0.1:8000", (), False),  # another program on the same host
    ("https://127.0.0.1:8000", "127.0.0.1:8000", (), False),  # another scheme
    ("http://127.0.0.1", "127.0.0.1:8000", (), False),
    ("http://evil.example:8000", "127.0.0.1:8000", (), False),
    ("null", "127.0.0.1:8000", (), False),
    (None, "127.0.0.1:8000", (), False),
    ("http://evil.example", "evil.example", (), False),  # a host that is not allowed
    ("http://tutor.example", "tutor.example:80", (), True),  # default port written out
    # Behind a TLS proxy (SECURE_PROXY_SSL_HEADER): the page is https, the socket reaches us as ws.
    ("https://tutor.example", "tutor.example", ((b"x-forwarded-proto", b"https"),), True),
    ("http://tutor.example", "tutor.example", ((b"x-forwarded-proto", b"https"),), False),
    ("https://admin.tutor.example", "tutor.example", (), True),  # CSRF_TRUSTED_ORIGINS
])
async def test_only_the_sites_own_origin_opens_the_socket(production, session, student, origin, host, extra,
                                                         accepted):
    assert await _open(student, session.pk, origin, host, extra) is accepted
