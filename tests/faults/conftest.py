import copy

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tutor import engine, roles
from tutor.llm.scripted import ScriptedBackend


@pytest.fixture
def course(db):
    return packs.import_pack(copy.deepcopy(SMALL_PACK))


@pytest.fixture
def student(db):
    return UserFactory(username="ada", role=roles.STUDENT)


@pytest.fixture
def session(course, student):
    return engine.session_start(student=student, item=course.items.get(slug="add-halves-quarters"))


@pytest.fixture
def use_backend(monkeypatch):
    """The scripted backend (the only stand-in these suites use), with the faults a test asks for."""
    holder = {"backend": ScriptedBackend()}
    monkeypatch.setattr("tutor.llm.get_backend", lambda spec=None: holder["backend"])

    def use(backend):
        holder["backend"] = backend
        return backend

    return use


async def connect(user, session_id):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from config.asgi import application

    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    await database_sync_to_async(store.save)()
    headers.append((b"cookie", f"sessionid={store.session_key}".encode()))
    comm = WebsocketCommunicator(application, f"/ws/sessions/{session_id}/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    return comm, connected


async def receive_until_final(comm, limit=300):
    frames = []
    for _ in range(limit):
        frame = await comm.receive_from(timeout=10)
        frames.append(frame)
        if 'hx-swap-oob="outerHTML"' in frame:
            return frames
    raise AssertionError("no final frame")
