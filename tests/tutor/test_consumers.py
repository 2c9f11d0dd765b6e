import json

import pytest
from channels.db import database_sync_to_async

from tests.chat_socket import connect, receive_until_final
from tests.factories import UserFactory
from tutor import roles
from tutor.models import Turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_anonymous_and_other_students_are_refused(session, backend):
    _, connected = await connect(None, session.pk)
    assert not connected
    other = await database_sync_to_async(UserFactory)(username="eve", role=roles.STUDENT)
    _, connected = await connect(other, session.pk)
    assert not connected


async def test_streaming_order_and_persistence(session, student, backend):
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "c1"}))
    frames = await receive_until_final(comm)
    assert "beforeend:#transcript" in frames[0] and "can I have a hint?" in frames[0]
    tokens = [f for f in frames[1:-1] if "-stream" in f]
    assert len(tokens) >= 3
    assert "What denominator" in frames[-1]
    await comm.disconnect()
    turns = await database_sync_to_async(lambda: list(Turn.objects.filter(session=session).order_by("seq")))()
    assert [t.role for t in turns] == ["tutor", "student", "tutor"]
    assert turns[-1].state == Turn.State.COMPLETE


async def test_reconnect_resends_nothing_twice_and_finishes_pending(session, student, backend):
    from tutor import engine

    plan = await database_sync_to_async(engine.turn_take)(session_id=session.pk, text="hint", client_id="x1")
    # the socket died before the reply streamed; on reconnect the reply arrives (authored text)
    comm, connected = await connect(student, session.pk)
    assert connected
    frame = await comm.receive_from(timeout=5)
    assert f"turn-{plan.tutor_turn_id}" in frame and "What denominator" in frame
    # the browser re-sends the same message id: stored once, the stored reply is shown again
    await comm.send_to(text_data=json.dumps({"message": "hint", "client_id": "x1"}))
    again = await comm.receive_from(timeout=5)
    assert f"turn-{plan.tutor_turn_id}" in again
    await comm.disconnect()
    count = await database_sync_to_async(Turn.objects.filter(session=session, role="student").count)()
    assert count == 1


async def test_size_cap_and_rate_limit(session, student, backend):
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "x" * 5000}))
    assert "too long" in await comm.receive_from(timeout=5)
    await comm.send_to(text_data="{not json")
    assert "could not be read" in await comm.receive_from(timeout=5)
    limited = False
    for i in range(12):
        await comm.send_to(text_data=json.dumps({"message": f"{i}", "client_id": f"r{i}"}))
        frame = await comm.receive_from(timeout=5)
        if "very quickly" in frame:
            limited = True
            break
        await receive_until_final(comm) if "#transcript" in frame else None
    assert limited
    await comm.disconnect()


async def test_a_reply_whose_last_write_broke_after_committing_is_still_sent(session, student, backend, monkeypatch):
    # The database connection dies between the reply's UPDATE and the read after it (as a terminated
    # PostgreSQL backend does): nothing is pending any more, yet the student must still get the reply.
    from django.db import OperationalError

    from tutor import engine

    real_finish = engine.reply_finish
    broken: list[int] = []

    def finish_then_lose_the_connection(**kwargs):
        turn = real_finish(**kwargs)
        if not broken:
            broken.append(turn.pk)
            raise OperationalError("terminating connection due to administrator command")
        return turn

    monkeypatch.setattr(engine, "reply_finish", finish_then_lose_the_connection)
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "lost-1"}))
    frames = await receive_until_final(comm)
    assert broken and f'id="turn-{broken[0]}"' in frames[-1] and "What denominator" in frames[-1]
    # Re-sending the same message (as the page does after a notice) gets the stored reply again, once.
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "lost-1"}))
    again = await receive_until_final(comm)
    assert f'id="turn-{broken[0]}"' in again[-1]
    await comm.disconnect()
    count = await database_sync_to_async(Turn.objects.filter(session=session, client_id="lost-1").count)()
    assert count == 1
