"""Schemathesis against the OpenAPI schema at /api/schema/, in-process through the WSGI app: every
documented operation gets generated (valid and invalid) requests as a signed-in student and as a
granted researcher. No 5xx, and no half-written tutoring records (every student turn is answered
once, no tutor turn is left pending). ``FUZZ_EXAMPLES`` sets the number of requests over all operations
(at least 10 examples per operation)."""

from __future__ import annotations

import copy

import pytest
import schemathesis
from hypothesis import given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tests.security.fuzzing import FUZZ, TIMEOUT, Tally
from tutor import roles
from tutor.models import Turn
from tutor.research.models import Consent, ResearchGrant

_api = Tally("/api/schema/ (schemathesis, all operations)")


@pytest.fixture
def keep_test_connection():
    """The WSGI handler closes the database connection at the end of each request (CONN_MAX_AGE=0);
    inside the test's transaction that would close it for good on PostgreSQL. Django's own test client
    turns that off the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, monkeypatch, scripted, keep_test_connection):
    # The per-user API rate limits would turn most generated requests into 429s; they have their own tests.
    monkeypatch.setattr("tutor.ratelimit.ScopedRateThrottle.allow_request", lambda self, request, view: True)
    course = packs.import_pack(copy.deepcopy(SMALL_PACK))
    student = UserFactory(username="fuzz-student", role=roles.STUDENT)
    researcher = UserFactory(username="fuzz-researcher", role=roles.RESEARCHER)
    Consent.objects.create(student=student, version="1", given=True)
    ResearchGrant.objects.create(researcher=researcher, course=course)
    return {"student": Token.objects.create(user=student).key, "researcher": Token.objects.create(user=researcher).key}


def _consistent() -> None:
    students = Turn.objects.filter(role=Turn.Role.STUDENT)
    assert not students.filter(reply__isnull=True).exists(), "a student turn has no tutor reply"
    assert not Turn.objects.filter(role=Turn.Role.TUTOR, state=Turn.State.PENDING).exists(), "a reply is pending"


@TIMEOUT
@pytest.mark.django_db
def test_api_operations_never_fail_with_5xx(tokens):
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 3
    failures: list[str] = []
    for operation in operations:

        # FUZZ_EXAMPLES counts requests over all operations (each example is sent as two users).
        @settings(FUZZ, max_examples=max(10, -(-FUZZ.max_examples // (2 * len(operations)))))
        @given(case=operation.as_strategy())
        def run(case):
            for who in ("student", "researcher"):
                response = case.call(headers={"Authorization": f"Token {tokens[who]}"})
                _api.timed(0.0)
                case.validate_response(response, checks=[not_a_server_error])
                _consistent()

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            _api.failures += 1
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if _api.examples:
        _api.write()
