"""Faults in the language model and the client, through the real ASGI app (websocket consumer, engine,
database, channel layer of the pass): the student's message is kept, a reply (the authored text when
the model fails) arrives or is shown on reconnect, and nothing is stored twice."""

from __future__ import annotations

import json
import time

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.chat_socket import connect, receive_until_final
from tutor import engine
from tutor.llm.base import BackendError
from tutor.llm.scripted import ScriptedBackend
from tutor.models import Turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HINT = "What denominator could both fractions share?"  # the first authored hint of SMALL_PACK


def _turns(session_id: int) -> list[Turn]:
    return list(Turn.objects.filter(session_id=session_id).order_by("seq"))


async def turns(session_id: int) -> list[Turn]:
    return await database_sync_to_async(_turns)(session_id)


def tokens(frames: list[str]) -> list[str]:
    return [f for f in frames if f.startswith('<span hx-swap-oob="beforeend:#turn-')]


async def ask_hint(comm, client_id: str = "h1") -> list[str]:
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": client_id}))
    return await receive_until_final(comm)


def assert_one_exchange(rows: list[Turn], state: str) -> Turn:
    assert [t.role for t in rows] == ["tutor", "student", "tutor"], [(t.role, t.text) for t in rows]
    reply = rows[-1]
    assert rows[1].text == "can I have a hint?"
    assert reply.reply_to_id == rows[1].pk and reply.state == state and reply.text.strip()
    return reply


@pytest.mark.parametrize("fault", [
    {"fail_after": 0},  # errors before the first token
    {"fail_after": 3},  # dies mid-stream
])
async def test_model_error_sends_the_authored_text(session, student, backend, fault):
    backend(ScriptedBackend(**fault))
    comm, connected = await connect(student, session.pk)
    assert connected
    frames = await ask_hint(comm)
    await comm.disconnect()
    assert HINT in frames[-1]
    reply = assert_one_exchange(await turns(session.pk), Turn.State.FALLBACK)
    assert reply.text == reply.authored_text and "backend error" in " ".join(reply.guard["reasons"])
    assert len(tokens(frames)) == (3 if fault["fail_after"] == 3 else 0)


async def test_model_that_stalls_times_out_to_the_authored_text(session, student, backend, monkeypatch):
    monkeypatch.setattr(engine, "LLM_TOTAL_S", 0.5)
    backend(ScriptedBackend(stall_after=2))
    comm, connected = await connect(student, session.pk)
    assert connected
    started = time.perf_counter()
    frames = await ask_hint(comm)
    elapsed = time.perf_counter() - started
    await comm.disconnect()
    assert 0.4 < elapsed < 3.0, elapsed
    assert HINT in frames[-1]
    reply = assert_one_exchange(await turns(session.pk), Turn.State.FALLBACK)
    assert "ReplyTooSlow" in " ".join(reply.guard["reasons"]) and reply.guard["fallback"] == "total deadline"


async def test_model_that_cannot_be_loaded_still_gets_a_reply(session, student, monkeypatch):
    def broken(spec=None):
        raise BackendError("model files missing")

    monkeypatch.setattr("tutor.llm.get_backend", broken)
    comm, connected = await connect(student, session.pk)
    assert connected
    frames = await ask_hint(comm)
    await comm.disconnect()
    assert HINT in frames[-1]
    assert_one_exchange(await turns(session.pk), Turn.State.FALLBACK)


async def test_slow_model_within_the_timeout_is_streamed(session, student, backend):
    backend(ScriptedBackend(delay=0.02))
    comm, connected = await connect(student, session.pk)
    assert connected
    frames = await ask_hint(comm)
    await comm.disconnect()
    assert len(tokens(frames)) >= 3
    assert_one_exchange(await turns(session.pk), Turn.State.COMPLETE)


async def test_client_disconnects_mid_stream_then_reconnects_and_resends(session, student, backend):
    backend(ScriptedBackend(delay=0.1))
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "gone-1"}))
    opening = await comm.receive_from(timeout=5)
    assert "can I have a hint?" in opening
    await comm.receive_from(timeout=5)  # one streamed token, then the browser goes away
    await comm.disconnect(timeout=10)
    rows = await turns(session.pk)
    assert [t.role for t in rows] == ["tutor", "student", "tutor"], "the message must be kept"

    # The browser reconnects (a pending reply is finished now) and re-sends the same message id.
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "gone-1"}))
    reply_id = (await turns(session.pk))[-1].pk
    frames = []
    for _ in range(3):  # a reply still pending is finished on connect; then the re-sent message's reply
        frames.append(await comm.receive_from(timeout=5))
        if f"turn-{reply_id}" in frames[-1] and "turn-student" not in frames[-1]:
            break
    await comm.disconnect()
    reply = assert_one_exchange(await turns(session.pk), (await turns(session.pk))[-1].state)
    assert reply.state in (Turn.State.COMPLETE, Turn.State.FALLBACK)
    assert HINT in frames[-1] and f"turn-{reply.pk}" in frames[-1], "the stored reply is shown again"
    # And the transcript page shows the exchange once.
    page = await database_sync_to_async(_page)(student, session.pk)
    assert page.count("can I have a hint?") == 1 and HINT in page


def _page(student, session_id: int) -> str:
    client = Client()
    client.force_login(student)
    return client.get(f"/sessions/{session_id}/").content.decode()


async def test_reply_left_pending_is_finished_on_reconnect(session, student, backend):
    backend(ScriptedBackend())
    plan = await database_sync_to_async(engine.turn_take)(session_id=session.pk, text="can I have a hint?",
                                                          client_id="p1")
    comm, connected = await connect(student, session.pk)
    assert connected
    frame = await comm.receive_from(timeout=5)
    await comm.disconnect()
    assert f"turn-{plan.tutor_turn_id}" in frame and HINT in frame
    assert_one_exchange(await turns(session.pk), Turn.State.FALLBACK)


async def test_many_resends_of_one_message_store_it_once(session, student, backend):
    backend(ScriptedBackend())
    comm, connected = await connect(student, session.pk)
    assert connected
    await ask_hint(comm, "same")
    for _ in range(5):
        await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "same"}))
        assert "turn-" in await comm.receive_from(timeout=5)
    await comm.disconnect()
    assert_one_exchange(await turns(session.pk), Turn.State.COMPLETE)
