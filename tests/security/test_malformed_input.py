"""Malformed input is refused with a clear error, never a 500 or a dropped socket (issue 19, defect 6).

Deeply nested JSON (Python's decoder raises RecursionError, not ValueError) on every DRF endpoint,
the anonymous token endpoint included; websocket frames that are JSON but not an object; and a
deeply nested course pack uploaded in the admin.
"""

from __future__ import annotations

import copy
import io
import json

import pytest
from django.test import Client
from django.urls import reverse

from content import packs
from tests.chat_socket import connect, receive_until_final
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tutor import roles

pytestmark = pytest.mark.django_db

VERY_DEEP = "[" * 100_000 + "]" * 100_000  # past the decoder's recursion limit
DEEP = '{"text": ' + "[" * 100 + "]" * 100 + "}"  # parses, but nests past any request of this API


@pytest.fixture
def debug_client(settings):
    # The default settings have DEBUG=1: an unhandled error would send Django's debug page.
    settings.DEBUG = True
    return Client(raise_request_exception=False)


def _api_endpoints(course, student) -> list[tuple[str, bool]]:
    from tutor import engine

    session = engine.session_start(student=student, item=course.items.get(slug="add-halves-quarters"))
    return [
        ("/api/research/token/", False),
        ("/api/tutor/sessions/", True),
        (f"/api/tutor/sessions/{session.pk}/messages/", True),
    ]


@pytest.mark.parametrize("body", [VERY_DEEP, DEEP], ids=["very-deep", "deep"])
def test_deeply_nested_json_is_a_400_on_every_api_endpoint(debug_client, course, body):
    student = UserFactory(username="nest", role=roles.STUDENT)
    for url, signed_in in _api_endpoints(course, student):
        if signed_in:
            debug_client.force_login(student)
        else:
            debug_client.logout()
        resp = debug_client.post(url, body, content_type="application/json")
        assert resp.status_code == 400, f"{url}: {resp.status_code}"
        assert resp["Content-Type"].startswith("application/json"), url
        assert "nested" in resp.json()["detail"], url


def test_deeply_nested_course_pack_is_refused_with_a_message(client):
    teacher = UserFactory(username="teach-nest", role=roles.TEACHER)
    client.force_login(teacher)
    deep_pack = copy.deepcopy(SMALL_PACK)
    deep_pack["course"]["description"] = json.loads("[" * 200 + "]" * 200)
    for raw in (VERY_DEEP.encode(), json.dumps(deep_pack).encode()):
        upload = io.BytesIO(raw)
        upload.name = "deep.json"
        resp = client.post(reverse("admin:content_course_import"), {"pack": upload})
        assert resp.status_code == 200
        assert "nested more than" in resp.content.decode()
    with pytest.raises(packs.PackError, match="nested more than"):
        packs.import_pack(deep_pack)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("frame", ["[1]", '"x"', "5", "null", "true", '{"message": ["hint"]}',
                                   '{"message": {"a": 1}}', VERY_DEEP])
async def test_a_frame_that_is_not_a_message_object_gets_a_notice_and_keeps_the_socket(
        session, student, scripted, frame):
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=frame)
    assert "could not be read" in await comm.receive_from(timeout=5)
    # The same socket still tutors.
    await comm.send_to(text_data=json.dumps({"message": "can I have a hint?", "client_id": "after"}))
    frames = await receive_until_final(comm)
    assert "What denominator" in frames[-1]
    await comm.disconnect()
