"""The conversation suite in a real browser with the real embedded model (issue 19's target).

Each script of tests/tutor/data/conversations/conversations.jsonl (the demo course and imported MathDial
problems) is played by a new student who types every message into the chat page, waits for the tutor's
reply to finish streaming and presses the Next item button where the script says ``/next``. The same
behaviours as the scripted suite are asserted on what the browser received and what the server stored:
every "why" gets an explanation, no reply is sent twice word for word, stuck students climb the ladder to
the worked answer (or to their teacher where telling is off), Next item is offered after solving and
serves another problem, and the moves the script expects. The model-phrased share and the timings are
reported per conversation and written to test-artifacts/conversations-real-model.json.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.server import ROOT, Server, sign_up
from tutor.management.commands.tutor_replay import NEXT_ITEM, WHY, expectation_problems, summarise

pytestmark = pytest.mark.e2e

SCRIPTS = [json.loads(line) for line in
           (ROOT / "tests" / "tutor" / "data" / "conversations" / "conversations.jsonl").read_text().splitlines()
           if line.strip()]
REPORT = ROOT / "test-artifacts" / "conversations-real-model.json"
AUTHORED = ("authored", "authored-fallback")
_results: list[dict[str, Any]] = []


def _db(server: Server) -> sqlite3.Connection:
    connection = sqlite3.connect(Path(server.workdir.name) / "e2e.sqlite3", timeout=10)
    connection.row_factory = sqlite3.Row
    return connection


def _item_id(server: Server, course: str, item: str) -> int:
    with _db(server) as db:
        row = db.execute(
            "SELECT i.id FROM content_item i JOIN content_course c ON c.id = i.course_id "
            "WHERE c.slug = ? AND (i.slug = ? OR i.source_id = ?)", (course, item, item)).fetchone()
    assert row is not None, (course, item)
    return int(row["id"])


def _course_setting(server: Server, course: str, **values: Any) -> dict[str, Any]:
    """Set the course's tutor settings in the running server's database; returns the old values."""
    code = (
        "import json,sys; from content.models import Course; from tutor.courses.models import CourseSettings;"
        f"c=Course.objects.get(slug={course!r}); s,_=CourseSettings.objects.get_or_create(course=c);"
        f"v=json.loads({json.dumps(json.dumps(values))}); old={{k: getattr(s, k) for k in v}};"
        "[setattr(s, k, x) for k, x in v.items()]; s.save(); print(json.dumps(old))"
    )
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=server.env,
                          check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _start(page: Any, item_id: int) -> None:
    """Start the item as the item page's Start button does (a POST with the page's CSRF token)."""
    page.evaluate(
        """url => { const f = document.createElement('form'); f.method = 'post'; f.action = url;
                    const t = document.querySelector('input[name=csrfmiddlewaretoken]');
                    f.append(t.cloneNode()); document.body.append(f); f.submit(); }""",
        f"/items/{item_id}/start/",
    )
    _ready(page)


def _ready(page: Any) -> None:
    page.wait_for_url(re.compile(r".*/sessions/\d+/$"))
    expect(page.locator("#conn")).to_have_text("Connected.")


def _send(page: Any, text: str) -> dict[str, Any]:
    """Type and send; wait until the tutor's reply has finished; return what the page shows."""
    before = page.locator(".turn-tutor").count()
    started = time.perf_counter()
    page.fill("#message", text)
    page.locator("#chat-form").get_by_role("button", name="Send", exact=True).click()
    # Locators, not page functions: the page's CSP refuses the eval that polling a function string needs.
    expect(page.locator(".turn-tutor")).to_have_count(before + 1, timeout=30_000)
    expect(page.locator(".turn-tutor.pending")).to_have_count(0, timeout=30_000)
    reply = page.locator(".turn-tutor").last
    return {"move": reply.get_attribute("data-move"), "text": reply.locator(".text").inner_text().strip(),
            "ms": round((time.perf_counter() - started) * 1000)}


def _stored(server: Server, username: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The student's turns as the server stored them, in order, and the items of their sessions."""
    with _db(server) as db:
        sessions = db.execute(
            "SELECT s.id, i.slug, i.source_id FROM tutor_tutoringsession s JOIN auth_user u ON u.id = s.student_id "
            "JOIN content_item i ON i.id = s.item_id WHERE u.username = ? ORDER BY s.id", (username,)).fetchall()
        turns: list[dict[str, Any]] = []
        for session in sessions:
            if turns:
                turns.append({"role": "action", "text": NEXT_ITEM})
            for t in db.execute("SELECT * FROM tutor_turn WHERE session_id = ? ORDER BY seq", (session["id"],)):
                guard = json.loads(t["guard"] or "{}")
                turns.append({
                    "role": t["role"], "text": t["text"], "move": t["move"], "state": t["state"],
                    "backend": t["backend"], "guard": guard, "released_answer": bool(t["released_answer"]),
                    "model_phrased": (t["role"] == "tutor" and t["reply_to_id"] is not None
                                      and t["state"] == "complete" and t["backend"] not in AUTHORED
                                      and bool(guard.get("passed"))),
                })
    return turns, [s["slug"] or s["source_id"] for s in sessions]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s["name"] for s in SCRIPTS])
def test_conversation_in_the_browser_with_the_real_model(page: Any, server: Server, script: dict[str, Any]) -> None:
    username = "rm-" + re.sub(r"[^a-z0-9]+", "-", script["name"].lower())[:60].strip("-")
    restore: dict[str, Any] = {}
    if script.get("settings"):
        restore = _course_setting(server, script["course"], **script["settings"])
    try:
        sign_up(page, username)
        _start(page, _item_id(server, script["course"], script["item"]))
        shown: list[dict[str, Any]] = []
        for message in script["student"]:
            if message == NEXT_ITEM:
                button = page.locator(".turn-tutor").last.get_by_role("button", name="Next item")
                assert button.is_visible(), f"no Next item button after: {shown[-1]['text']!r}"
                url = page.url
                button.click()
                page.wait_for_url(lambda now, old=url: now != old)
                _ready(page)
                continue
            reply = _send(page, message)
            assert reply["text"], message
            shown.append({"said": message, **reply})
    finally:
        if restore:
            _course_setting(server, script["course"], **restore)

    turns, items = _stored(server, username)
    result = {"name": script["name"], "items": items, "turns": turns}
    result["summary"] = summarise(turns)
    result["problems"] = expectation_problems(script.get("expect") or {}, result)
    tutor = [t for t in turns if t["role"] == "tutor" and t["move"] != "present"]
    result["fallbacks"] = sorted({t["guard"].get("fallback", "") for t in tutor if t["state"] == "fallback"})
    result["reply_ms"] = [s["ms"] for s in shown]
    _results.append(result)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(_results, indent=1))
    summary = result["summary"]
    print(f"\n{script['name']}: moves {' '.join(summary['moves'])}; model-phrased "
          f"{summary['model_phrased']}/{summary['replies']}; why explained {summary['whys_explained']}/"
          f"{summary['whys']}; reply ms max {max(result['reply_ms'])}; fallbacks {result['fallbacks']}")

    # What the browser showed is what was stored, reply by reply.
    assert [s["move"] for s in shown] == [m for m in summary["moves"]], (shown, summary["moves"])
    assert result["problems"] == [], result["problems"]
    for s in shown:
        if WHY.search(s["said"]):
            assert s["move"] == "explain_concept" and "You have finished" not in s["text"], s
    # The answer is released only by the worked answer at the end of the ladder.
    assert all(t["move"] == "bottom_out" for t in tutor if t["released_answer"]), tutor
