"""A message sent just before the server dies is not lost (issue 19, defect 5): the page keeps it
until the server acknowledges it and re-sends it, with the same id, once the socket is back."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import _page
from tests.e2e.server import STUDENT, Server, server_start
from tests.e2e.test_student_flow import log_in, open_item

pytestmark = pytest.mark.e2e

MESSAGE = "Is it 3/4? (sent as the server froze)"


@pytest.fixture
def own_server() -> Iterator[Server]:
    """A server of this test's own: it is killed and started again."""
    srv = server_start()
    yield srv
    srv.stop()


@pytest.fixture
def own_page(request: pytest.FixtureRequest, browser: Any, own_server: Server) -> Iterator[Any]:
    yield from _page(request, browser, own_server, viewport={"width": 1280, "height": 900})


def _stored(server: Server, text: str) -> int:
    with sqlite3.connect(Path(server.workdir.name) / "e2e.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM tutor_turn WHERE role = 'student' AND text = ?",
                              (text,)).fetchone()[0])


def test_a_message_sent_as_the_server_dies_is_sent_again_and_stored_once(own_page: Any, own_server: Server) -> None:
    page, server = own_page, own_server
    log_in(page, *STUDENT)
    open_item(page)
    # Freeze the server: the browser's message reaches the socket's buffer and no further.
    os.kill(server.process.pid, signal.SIGSTOP)
    page.fill("#message", MESSAGE)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function("() => document.getElementById('message').value === ''")
    time.sleep(0.5)
    server.process.kill()  # the buffered message dies with it
    server.process.wait(timeout=10)
    page.wait_for_function("() => document.getElementById('conn').textContent.startsWith('Connection lost')")
    assert "saved" not in page.locator("#conn").inner_text()
    assert _stored(server, MESSAGE) == 0, "the frozen server must not have read the message"

    server.restart()
    bubble = page.locator(".turn-student", has_text=MESSAGE)
    bubble.wait_for(timeout=30_000)
    # (a function, not an expression: the page's Content-Security-Policy forbids eval)
    page.wait_for_function("() => !document.querySelector('.turn-tutor.pending')", timeout=30_000)
    assert bubble.count() == 1
    assert _stored(server, MESSAGE) == 1
    # The next message gets a new id and is stored too; the first is not sent a third time.
    page.fill("#message", "and now?")
    page.get_by_role("button", name="Send", exact=True).click()
    page.locator(".turn-student", has_text="and now?").wait_for()
    page.reload()
    assert page.locator(".turn-student", has_text=MESSAGE).count() == 1
    assert _stored(server, MESSAGE) == 1
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
