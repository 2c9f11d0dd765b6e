import copy
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync

SMALL_PACK: dict[str, Any] = {
    "format": "tutor-course-pack",
    "version": 1,
    "course": {"slug": "mini", "title": "Mini course", "description": "Fractions, *briefly*."},
    "kcs": [
        {"slug": "equivalent", "name": "Equivalent fractions", "description": "Same value, other parts."},
        {"slug": "adding", "name": "Adding fractions", "description": "Common denominators first."},
        {"slug": "equations", "name": "One-step equations", "description": "Undo the operation."},
    ],
    "prerequisites": [
        {"prerequisite": "equivalent", "dependent": "adding", "strength": 0.9},
        {"prerequisite": "adding", "dependent": "equations"},
    ],
    "items": [
        {
            "slug": "add-halves-quarters",
            "title": "Halves and quarters",
            "statement": "Compute $\\frac{1}{2} + \\frac{1}{4}$.",
            "kcs": ["adding", "equivalent"],
            "difficulty": 2,
            "expected_seconds": 90,
            "worked_solution": "1/2 = 2/4, so 2/4 + 1/4 = 3/4.",
            "steps": [
                {
                    "prompt": "What is the sum?",
                    "answer": {"kind": "expression", "value": "3/4"},
                    "explanation": "Rewrite 1/2 as 2/4 and add the numerators.",
                    "hints": ["What denominator could both fractions share?",
                              "Write 1/2 as quarters.", "2/4 + 1/4 = 3/4."],
                    "subproblems": [
                        {"prompt": "How many quarters make a half?",
                         "answer": {"kind": "numeric", "value": "2"}, "hints": ["Cut a half in two."],
                         "kc": "equivalent"}
                    ],
                    "misconceptions": [
                        {"name": "adds denominators", "pattern_kind": "answer", "pattern": "2/6",
                         "feedback": "Did you add the bottoms too?", "kc": "adding"}
                    ],
                }
            ],
        },
        {
            "slug": "solve-x-plus-3",
            "title": "Solve for x",
            "statement": "Solve $x + 3 = 7$.",
            "kcs": ["equations"],
            "steps": [
                {"prompt": "What is x?", "answer": {"kind": "expression", "value": "x = 4"}},
                {"prompt": "Which operation undid +3?",
                 "answer": {"kind": "choice", "value": "subtract 3", "choices": ["add 3", "subtract 3"]}},
                {"prompt": "How long is the side?",
                 "answer": {"kind": "numeric", "value": "2.5", "tolerance": 0.01, "units": "cm"}},
                {"prompt": "Name the property.",
                 "answer": {"kind": "text", "value": "inverse operation", "variants": ["inverse"]}},
            ],
        },
    ],
}


# Fixtures through which a test reaches the database (pytest-django's, and the live server's). Not
# django_db_blocker: pytest-django's autouse fixtures give every test that one.
DB_FIXTURES = frozenset({
    "db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server",
})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``nodb`` every test that touches no database, cache or channel layer of its own.

    .ci/test runs the suite on SQLite with the in-memory channel layer, then again on PostgreSQL with
    Redis; a test that uses neither (a model fit, the answer checker, a pure function) learns nothing
    from the second pass, so that pass runs ``-m "not nodb"``. A test counts as touching the services
    when it asks for a database fixture (directly or through another fixture), carries the
    ``django_db`` marker, or is marked ``services`` (it reaches them some other way, e.g. a subprocess
    given DATABASE_URL). Runs before ``-m`` deselects, so the marker can be selected on.
    """
    nodb = pytest.mark.nodb
    for item in items:
        if item.get_closest_marker("django_db") or item.get_closest_marker("services"):
            continue
        if DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            continue
        item.add_marker(nodb)


@pytest.fixture
def small_pack() -> dict[str, Any]:
    return copy.deepcopy(SMALL_PACK)


# The tutoring fixtures most suites share: the small course, a student, their session on its first
# item, and the language model (the scripted backend unless a test swaps in another). A folder that
# needs another course defines its own ``course``.


@pytest.fixture
def course(db: Any) -> Any:
    from content import packs

    return packs.import_pack(copy.deepcopy(SMALL_PACK))


@pytest.fixture
def student(db: Any) -> Any:
    from tests.factories import UserFactory
    from tutor import roles

    return UserFactory(username="ada", role=roles.STUDENT)


@pytest.fixture
def session(course: Any, student: Any) -> Any:
    from tutor import engine

    return engine.session_start(student=student, item=course.items.get(slug="add-halves-quarters"))


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The scripted backend by default (echoes the authored text): the one stand-in for a language
    model the suites use. ``backend(other)`` swaps in another (scripted faults, delays, replies)."""
    from tutor.llm.scripted import ScriptedBackend

    holder = {"backend": ScriptedBackend()}
    monkeypatch.setattr("tutor.llm.get_backend", lambda spec=None: holder["backend"])

    def use(other: Any) -> Any:
        holder["backend"] = other
        return other

    return use


@pytest.fixture(autouse=True)
def _executor_db_connections_closed() -> Iterator[None]:
    """After each test, close the database connections of asgiref's shared sync_to_async thread.

    With no ``async_to_sync`` or ``ThreadSensitiveContext`` around it, as in the tests, thread-sensitive
    ``sync_to_async`` (and so channels' ``database_sync_to_async``) runs its function in one
    process-wide worker thread, ``SyncToAsync.single_thread_executor``. A
    connection opened there belongs to that thread and outlives the test: ``engine.reply_stream``
    driven through ``asyncio.run`` stores the reply with a plain ``sync_to_async``, which never closes
    its connection, and channels' test communicators turn off the ``close_old_connections`` that
    ``database_sync_to_async`` would otherwise run. Left open, the last such connection keeps the
    PostgreSQL test database busy and ``DROP DATABASE`` fails at the end of the session. Django
    connections are thread-local, so they are closed by a call run in that same thread.
    """
    yield
    executor = SyncToAsync.single_thread_executor
    if getattr(executor, "_threads", None) == set():
        return  # the worker thread was never started: it holds no connection
    from django.db import connections

    executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    """MD5 instead of the production Argon2id, for tests that create many accounts (the hashing
    itself is tested in tests/test_passwords.py)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
