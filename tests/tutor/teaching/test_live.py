"""The live class view: answers reach the class's teachers' sockets as they are stored (in-memory
channel layer here; tests/deploy/ runs the same across worker processes over Redis)."""

from __future__ import annotations

import json
import re
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse

from config.asgi import application
from tests.factories import UserFactory
from tutor import engine, roles
from tutor.models import Attempt
from tutor.teaching import live
from tutor.teaching import services as teaching
from tutor.teaching.models import Enrolment

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def klass(course, student):
    teacher = UserFactory(username="t-live", role=roles.TEACHER)
    classroom = teaching.classroom_create(teacher=teacher, course=course, name="8A")
    Enrolment.objects.create(classroom=classroom, student=student)
    return {"teacher": teacher, "classroom": classroom}


def _cookie(user) -> bytes:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"sessionid={store.session_key}".encode()


async def _connect(user, classroom_id):
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]  # same origin as the socket
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(_cookie)(user)))
    comm = WebsocketCommunicator(application, f"/ws/teach/classes/{classroom_id}/live/", headers=headers)
    connected, code = await comm.connect()
    return comm, connected, code


@pytest.mark.asyncio
async def test_an_answer_reaches_the_teachers_class_view_within_a_second(klass, session, student, backend):
    comm, connected, _ = await _connect(klass["teacher"], klass["classroom"].pk)
    assert connected
    # The first turn and the first update of a process load the learner model: not timed.
    await database_sync_to_async(engine.turn_take)(session_id=session.pk, text="1/6", client_id="warm-1")
    await comm.receive_from(timeout=5)
    await comm.receive_from(timeout=5)
    started = time.perf_counter()
    await database_sync_to_async(engine.turn_take)(session_id=session.pk, text="2/6", client_id="live-1")
    feed = await comm.receive_from(timeout=2)
    shown = time.perf_counter() - started
    rows = await comm.receive_from(timeout=2)
    attempt = await database_sync_to_async(Attempt.objects.get)(turn__client_id="live-1")
    assert 'hx-swap-oob="afterbegin:#live-answers"' in feed
    assert f'data-attempt="{attempt.pk}"' in feed and ">ada</a>" in feed and "not right" in feed
    # The student's heatmap row, with the page's own figures: two answers so far, none right.
    assert rows.startswith(f'<tr data-student="{student.pk}" hx-swap-oob="outerHTML:#heatmap tr[data-student=')
    assert re.search(r'data-figure="attempts">2<', rows) and re.search(r'data-figure="correct">0<', rows)
    assert shown < 1.0, shown
    await comm.disconnect()


@pytest.mark.asyncio
async def test_answers_close_together_arrive_as_one_update(klass, session, student, backend):
    comm, connected, _ = await _connect(klass["teacher"], klass["classroom"].pk)
    assert connected
    for i, text in enumerate(["1/6", "3/4"]):
        await database_sync_to_async(engine.turn_take)(session_id=session.pk, text=text, client_id=f"burst-{i}")
    feed = await comm.receive_from(timeout=2)
    rows = await comm.receive_from(timeout=2)
    assert feed.count("<li ") == 2
    assert feed.index(": right") < feed.index(": not right")  # newest first
    assert re.search(r'data-figure="attempts">2<', rows) and re.search(r'data-figure="correct">1<', rows)
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


@pytest.mark.asyncio
async def test_only_the_classes_teachers_get_in(klass, course, student):
    other = await database_sync_to_async(UserFactory)(username="t-other", role=roles.TEACHER)
    theirs = await database_sync_to_async(teaching.classroom_create)(teacher=other, course=course, name="8B")
    for user, classroom_id in [(None, klass["classroom"].pk), (student, klass["classroom"].pk),
                               (other, klass["classroom"].pk), (klass["teacher"], theirs.pk),
                               (klass["teacher"], 999_999)]:
        _comm, connected, code = await _connect(user, classroom_id)
        assert not connected, (user, classroom_id)
        assert code in (4401, 4403)


@pytest.mark.asyncio
async def test_a_class_in_another_course_or_without_the_student_hears_nothing(klass, course, session, backend):
    lonely = await database_sync_to_async(teaching.classroom_create)(teacher=klass["teacher"], course=course,
                                                                     name="empty")
    comm, connected, _ = await _connect(klass["teacher"], lonely.pk)
    assert connected
    await database_sync_to_async(engine.turn_take)(session_id=session.pk, text="2/6", client_id="quiet-1")
    assert await comm.receive_nothing(timeout=0.6)
    await comm.disconnect()


def test_a_dead_channel_layer_costs_the_update_not_the_turn(klass, session, settings, caplog, backend):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    plan = engine.turn_take(session_id=session.pk, text="3/4", client_id="dead-1")
    assert plan.tutor_turn_id and Attempt.objects.filter(turn__client_id="dead-1", correct=True).exists()
    assert "live class view not updated" in caplog.text


def test_publish_counts_the_students_classes_in_that_course(klass, course, session, student):
    second = teaching.classroom_create(teacher=klass["teacher"], course=course, name="8A-extra")
    Enrolment.objects.create(classroom=second, student=student)
    engine.turn_take(session_id=session.pk, text="2/6", client_id="count-1")
    attempt = Attempt.objects.select_related("session__student", "session__item").get(turn__client_id="count-1")
    assert live.answer_publish(event=live.answer_event(attempt)) == 2
    Enrolment.objects.filter(student=student).delete()
    assert live.answer_publish(event=live.answer_event(attempt)) == 0


def test_class_page_connects_to_its_live_socket(client, klass, student):
    client.force_login(klass["teacher"])
    html = client.get(reverse("teacher-class", args=[klass["classroom"].pk])).content.decode()
    assert f'ws-connect="/ws/teach/classes/{klass["classroom"].pk}/live/"' in html
    assert 'id="live-answers"' in html
    assert f'<tr data-student="{student.pk}"><th' in html


def test_event_is_json_serialisable_for_the_redis_layer(klass, session):
    engine.turn_take(session_id=session.pk, text="2/6", client_id="json-1")
    attempt = Attempt.objects.select_related("session__student", "session__item").get(turn__client_id="json-1")
    event = live.answer_event(attempt)
    assert json.loads(json.dumps(event)) == event and event["type"] == "class.answer"
