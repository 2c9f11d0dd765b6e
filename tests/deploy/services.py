"""What the deployment tests need from the machine, and a clear skip when it is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.load import driver

NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")


def postgres_and_redis() -> tuple[str, str]:
    """The PostgreSQL server and Redis of this test pass, or skip (fail in CI, where they are promised)."""
    db, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not db.startswith(("postgres://", "postgresql://")) or not redis_url:
        pytest.skip("needs PostgreSQL and Redis (runs in the PostgreSQL + Redis pass of .ci/test)")
    why = driver.services_available(db, redis_url)
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL/Redis are configured but not reachable: {why}")
        pytest.skip(f"PostgreSQL/Redis not reachable: {why}")
    return db, redis_url


def tools(*names: str) -> None:
    """Skip unless each program is installed (nginx by its Debian path)."""
    for name in names:
        found = Path(NGINX).is_file() if name == "nginx" else shutil.which(name)
        if not found:
            package = "postgresql-client" if name.startswith(("pg_", "psql")) else name
            pytest.skip(f"{name} is not installed (apt-get install {package})")


def scratch_url(base: str, name: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"
