"""Health and readiness probes, request ids and the JSON log format (tutor/ops)."""

from __future__ import annotations

import json
import logging

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

import config.asgi  # noqa: F401  (loaded now: its django.setup() reconfigures logging, which drops caplog's handler)
from tests.chat_socket import connect, receive_until_final
from tutor.ops.request_id import RequestIdFilter, request_id_bind, request_id_new


@pytest.mark.django_db
def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db(transaction=True)
def test_readyz_checks_database_migrations_and_channel_layer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_with_reasons_while_a_migration_is_pending(client):
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("tutor", "0004_models_moved_to_rooms")
    try:
        response = client.get("/readyz")
    finally:
        recorder.record_applied("tutor", "0004_models_moved_to_rooms")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["reasons"] == ["migrations not applied: 1 pending (tutor.0004_models_moved_to_rooms)"]
    assert body["checks"]["channel_layer"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_channel_layer_is_unreachable(client, settings, caplog):
    # Nothing listens on port 1: the Redis layer's connection is refused.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["channel layer unreachable"]
    assert "Connection" in caplog.text  # the cause is logged, not shown


@pytest.mark.django_db
def test_probes_answer_plain_http_when_everything_else_redirects(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/").status_code == 301
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_probes_refuse_writes_cleanly(client):
    assert client.post("/readyz").status_code == 405
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_request_id_taken_from_the_proxy_only_when_well_formed(client, caplog):
    caplog.set_level(logging.INFO, logger="tutor.access")
    good = "0123456789abcdef0123456789abcdef"
    response = client.get("/healthz", HTTP_X_REQUEST_ID=good, REMOTE_ADDR="192.0.2.7")
    assert response["X-Request-ID"] == good
    line = next(r for r in caplog.records if r.name == "tutor.access")
    assert (line.request_id, line.status, line.path, line.client) == (good, 200, "/healthz", "192.0.2.7")
    bad = client.get("/healthz", HTTP_X_REQUEST_ID="<script>\n")["X-Request-ID"]
    assert bad != "<script>\n" and len(bad) == 32 and bad.isalnum()


def test_request_id_shapes():
    assert request_id_new("abc") != "abc"  # too short to be one of ours
    assert request_id_new("a" * 65) != "a" * 65
    assert request_id_new("req-1234.5678_x") == "req-1234.5678_x"
    assert request_id_new(None) != request_id_new(None)


def test_json_lines_carry_the_request_id():
    from pythonjsonlogger.json import JsonFormatter

    from config import settings as conf

    logging_conf: dict = conf.LOGGING  # type: ignore[assignment]
    spec = dict(logging_conf["formatters"]["json"])
    spec.pop("()")
    formatter = JsonFormatter(**spec)
    record = logging.LogRecord("tutor.engine", logging.WARNING, __file__, 1, "LLM reply failed (%s)", ("x",), None)
    request_id_bind("turn-0123456789")
    RequestIdFilter().filter(record)
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "turn-0123456789"
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "tutor.engine", "LLM reply failed (x)")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_each_chat_message_gets_its_own_request_id_from_socket_to_reply(session, student, backend, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    comm, connected = await connect(student, session.pk)
    assert connected
    for i, text in enumerate(["can I have a hint?", "2/6"]):
        await comm.send_to(text_data=json.dumps({"message": text, "client_id": f"rid-{i}"}))
        await receive_until_final(comm)
    await comm.disconnect()
    ids: dict[str, set[str]] = {}
    for record in caplog.records:
        if record.getMessage() in {"chat turn received", "chat turn replied"}:
            ids.setdefault(record.client_id, set()).add(record.request_id)
    assert set(ids) == {"rid-0", "rid-1"}
    assert all(len(v) == 1 and "-" not in v for v in ids.values()), ids
    assert ids["rid-0"] != ids["rid-1"]
    count = await database_sync_to_async(lambda: session.turns.count())()
    assert count == 5
