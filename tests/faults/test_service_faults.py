"""Database and Redis faults against the real server (tests/faults/service_drill.py): runs in the
PostgreSQL + Redis pass of .ci/test (skipped on SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy.services import postgres_and_redis
from tests.load.driver import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_database_drops_and_redis_kills_lose_nothing(tmp_path):
    db, redis_url = postgres_and_redis()
    out = tmp_path / "drill.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.service_drill", "--students", "4", "--turns", "6",
         "--database-url", db, "--redis-url", redis_url, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    log = r.pop("server_log_tail")
    assert r["db"]["lost"] == [] and r["db"]["duplicated"] == [] and r["db"]["unanswered"] == [], (r, log)
    assert r["unanswered_by_client"] == [], r
    # An idle socket survives the channel layer's blocking read (no reconnect needed).
    assert r["idle_7s_answered"] and r["idle_7s_reconnects"] == 0, r
    # Dropped database connections are replaced without the student noticing.
    assert r["pg_terminated"] >= 1 and r["pg_drop_answered"], r
    assert r["pg_chaos_terminated"] >= 1 and r["pg_chaos_answered"], r
    # While the database refuses connections the student is told; the re-sent message is stored once.
    assert not r["pg_down_answered_while_down"] and "could not be saved" in (r["pg_down_notice"] or ""), r
    assert r["pg_down_answered_after"], r
    # Redis connections killed: the next message is answered (after the browser reconnects if need be).
    assert r["redis_killed"] >= 1 and r["redis_kill_answered"], r
    assert proc.returncode == 0, proc.stdout[-2000:]
