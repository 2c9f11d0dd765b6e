"""What the chat socket answers tells the page which message it answers (issue 19, defect 5): the
student's bubble names its client id, a re-sent stored message comes back with both bubbles, and a
refusal names the id it refuses, so the page knows what to keep re-sending."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from tests.chat_socket import connect, receive_until_final
from tutor import engine
from tutor.models import Turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_a_new_message_is_acknowledged_by_its_bubble(session, student, backend):
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "hint please", "client_id": "ack-1"}))
    frames = await receive_until_final(comm)
    assert 'data-client-id="ack-1"' in frames[0]
    await comm.disconnect()


async def test_a_stored_message_sent_again_comes_back_with_both_bubbles(session, student, backend):
    plan = await database_sync_to_async(engine.turn_take)(session_id=session.pk, text="hint", client_id="again-1")
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.receive_from(timeout=5)  # the pending reply, finished on connect
    await comm.send_to(text_data=json.dumps({"message": "hint", "client_id": "again-1"}))
    frame = await comm.receive_from(timeout=5)
    assert "beforeend:#transcript" in frame
    assert f'id="turn-{plan.student_turn_id}"' in frame and 'data-client-id="again-1"' in frame
    assert f'id="turn-{plan.tutor_turn_id}"' in frame and "What denominator" in frame
    await comm.disconnect()
    count = await database_sync_to_async(Turn.objects.filter(session=session, role="student").count)()
    assert count == 1


async def test_a_refused_message_is_named_in_the_notice(session, student, backend):
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": "x" * 5000, "client_id": "long-1"}))
    notice = await comm.receive_from(timeout=5)
    assert "too long" in notice and 'data-refused="long-1"' in notice
    await comm.disconnect()
