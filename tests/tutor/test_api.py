import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.tutor.streaming import templates_rendered
from tutor import roles

pytestmark = pytest.mark.django_db(transaction=True)


def test_start_message_transcript(course, student, backend):
    client = APIClient()
    client.force_authenticate(student)
    resp = client.post("/api/tutor/sessions/", {"course": "mini", "item": "add-halves-quarters"}, format="json")
    assert resp.status_code == 201, resp.content
    sid = resp.json()["session"]["id"]
    resp = client.post(f"/api/tutor/sessions/{sid}/messages/", {"text": "2/6", "client_id": "a"}, format="json")
    assert resp.status_code == 200
    turns = resp.json()["turns"]
    assert [t["role"] for t in turns] == ["tutor", "student", "tutor"]
    assert turns[-1]["move"] == "misconception_feedback" and turns[-1]["state"] in ("complete", "fallback")
    again = client.post(f"/api/tutor/sessions/{sid}/messages/", {"text": "2/6", "client_id": "a"}, format="json")
    assert len(again.json()["turns"]) == 3
    assert client.get(f"/api/tutor/sessions/{sid}/").json()["turns"] == again.json()["turns"]


def test_the_api_renders_no_template(course, student, backend):
    """The API reads the stored turns; nothing renders the chat's partials for it to throw away."""
    client = APIClient()
    client.force_authenticate(student)
    with templates_rendered() as rendered:
        sid = client.post("/api/tutor/sessions/", {"course": "mini", "item": "add-halves-quarters"},
                          format="json").json()["session"]["id"]
        for text in ("can I have a hint?", "2/6", "3/4"):
            resp = client.post(f"/api/tutor/sessions/{sid}/messages/", {"text": text, "client_id": text},
                               format="json")
            assert resp.status_code == 200, resp.content
    assert rendered == []
    assert resp.json()["turns"][-1]["move"] == "praise_advance"


def test_bad_input_gets_clear_errors(course, student, backend):
    client = APIClient()
    client.force_authenticate(student)
    assert client.post("/api/tutor/sessions/", {"course": "mini", "item": "nope"}, format="json").status_code == 400
    sid = client.post("/api/tutor/sessions/", {"course": "mini", "item": "add-halves-quarters"},
                      format="json").json()["session"]["id"]
    resp = client.post(f"/api/tutor/sessions/{sid}/messages/", {"text": "x" * 3000}, format="json")
    assert resp.status_code == 400 and "text" in resp.json()
    assert client.post(f"/api/tutor/sessions/{sid}/messages/", {}, format="json").status_code == 400


def test_other_students_and_anonymous_are_kept_out(course, student, backend):
    client = APIClient()
    client.force_authenticate(student)
    sid = client.post("/api/tutor/sessions/", {"course": "mini", "item": "add-halves-quarters"},
                      format="json").json()["session"]["id"]
    other = APIClient()
    other.force_authenticate(UserFactory(username="mallory", role=roles.STUDENT))
    assert other.get(f"/api/tutor/sessions/{sid}/").status_code == 404
    assert other.post(f"/api/tutor/sessions/{sid}/messages/", {"text": "hi"}, format="json").status_code == 404
    assert APIClient().get(f"/api/tutor/sessions/{sid}/").status_code in (401, 403)


def test_openapi_schema_documents_the_tutor_api(client):
    resp = client.get("/api/schema/")
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "/api/tutor/sessions/{session_id}/messages/" in body
