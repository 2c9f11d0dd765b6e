"""Backup and restore (deploy/pg-backup, deploy/pg-restore, docs/deploy.md), tested once end to end on a
scratch database: dump, drop, restore; then the learner states are intact and the app works on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from tests.deploy import services
from tests.load import driver

pytestmark = [pytest.mark.slow, pytest.mark.services]
ROOT = driver.ROOT


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CACHE_KEY_PREFIX"}}
    env.update({"DATABASE_URL": url, "DEBUG": "1", "TUTOR_LLM": "scripted", "PYTHON": sys.executable,
                "DJANGO_SETTINGS_MODULE": "config.settings"})
    return env


def _world(action: str, url: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "tests.deploy.backup_world", action], cwd=ROOT, env=_env(url),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _bash(script: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", f"deploy/{script}", *args], cwd=ROOT, env=_env(url), capture_output=True,
                          text=True, timeout=300)


def test_dump_drop_restore_keeps_learner_states_and_the_app_works(tmp_path):
    base, _ = services.postgres_and_redis()
    services.tools("pg_dump", "pg_restore", "psql")
    name = f"tutor_backup_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = services.scratch_url(base, name)
    admin = driver._pg_admin(base)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                                 env=_env(url), capture_output=True, text=True, timeout=300)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        before = _world("seed", url)
        assert len(before["tracing.LearnerKCState"]) >= 2 and len(before["tutor.Attempt"]) == 4

        dump = tmp_path / "tutor.dump"
        backup = _bash("pg-backup", url, str(dump))
        assert backup.returncode == 0, backup.stderr
        assert dump.exists() and not (tmp_path / "tutor.dump.partial").exists()
        assert oct(dump.stat().st_mode & 0o777) == "0o600"

        # Restoring over a database that exists needs --replace; a file that is not a dump is refused.
        refused = _bash("pg-restore", url, str(dump))
        assert refused.returncode == 1 and "add --replace" in refused.stderr
        junk = tmp_path / "junk.dump"
        junk.write_text("not a dump")
        assert _bash("pg-restore", url, str(junk)).returncode == 2

        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        restore = _bash("pg-restore", url, str(dump))
        assert restore.returncode == 0, restore.stdout + restore.stderr
        assert "restored" in restore.stdout

        assert _world("fingerprint", url) == before
        after = _world("work", url)
        assert after["readyz"] == 200
        assert after["observations_after"] == after["observations_before"] + 1
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
