"""The live class view with the teacher and the student on different uvicorn workers (Redis channel
layer): each answer reaches the teacher's page within 1 s. Runs in the PostgreSQL + Redis pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy import services
from tests.load import driver

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_answer_reaches_a_teacher_on_another_worker_within_a_second(tmp_path):
    db, redis_url = services.postgres_and_redis()
    out = tmp_path / "live.json"
    proc = subprocess.run([sys.executable, "-m", "tests.deploy.live_drill", "--answers", "4", "--database-url", db,
                           "--redis-url", redis_url, "--json", str(out)],
                          cwd=driver.ROOT, capture_output=True, text=True, timeout=300)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["teacher_worker_port"] != report["student_worker_port"]
    assert report["answers"] == 4
    assert report["max_s"] <= 1.0, report
    assert proc.returncode == 0
