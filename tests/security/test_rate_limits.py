"""Message limits: per user across sockets and the API, and only answered requests count
(issue 19, defects 8 and 10)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from tests.chat_socket import connect, receive_until_final
from tests.factories import UserFactory
from tutor import roles


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves: every limit reads time.time()."""
    now = {"t": time.time()}
    monkeypatch.setattr(time, "time", lambda: now["t"])
    return now


def _student_client(course):
    student = UserFactory(username=f"steady-{uuid.uuid4().hex[:8]}", role=roles.STUDENT)
    client = APIClient()
    client.force_authenticate(student)
    sid = client.post("/api/tutor/sessions/", {"course": course.slug, "item": "add-halves-quarters"},
                      format="json").json()["session"]["id"]
    return client, sid


def _say(client, sid, i) -> int:
    # (the item may finish on the way: a 400 "finished" is an answered, unthrottled request)
    return client.post(f"/api/tutor/sessions/{sid}/messages/", {"text": f"hmm {i}", "client_id": f"m{i}"},
                       format="json").status_code


@pytest.mark.django_db
def test_a_steady_eight_messages_per_ten_seconds_are_never_refused(course, scripted, clock):
    client, sid = _student_client(course)
    codes = []
    for i in range(24):  # 30 s at exactly the documented rate
        codes.append(_say(client, sid, i))
        clock["t"] += 10 / 8 + 0.001
    assert 429 not in codes, codes


@pytest.mark.django_db
def test_refused_requests_do_not_count(course, scripted, clock):
    client, sid = _student_client(course)
    assert 429 not in [_say(client, sid, i) for i in range(8)]
    refused = []
    for i in range(8, 18):  # keep knocking for nine seconds
        clock["t"] += 0.9
        refused.append(_say(client, sid, i))
    assert refused == [429] * 10
    clock["t"] += 1.2  # ten seconds after the first eight
    assert _say(client, sid, 99) != 429


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_chat_limit_is_per_user_across_sockets_and_the_api(session, student, scripted):
    sockets = [(await connect(student, session.pk))[0] for _ in range(3)]
    answered = refused = 0
    for i in range(9):
        comm = sockets[i % 3]
        await comm.send_to(text_data=json.dumps({"message": f"hmm {i}", "client_id": f"s{i}"}))
        frame = await comm.receive_from(timeout=5)
        if "very quickly" in frame:
            refused += 1
        else:
            answered += 1
            await receive_until_final(comm)
    assert (answered, refused) == (8, 1)
    for comm in sockets:
        await comm.disconnect()

    # The API's messages share the same budget.
    def api_post() -> int:
        client = APIClient()
        client.force_authenticate(student)
        return client.post(f"/api/tutor/sessions/{session.pk}/messages/", {"text": "hmm api"},
                           format="json").status_code

    assert await sync_to_async(api_post)() == 429
