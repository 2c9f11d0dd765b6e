"""The whole stack as a school's IT person runs it: ``bash deploy/run up`` (nginx, two uvicorn workers,
the job worker, PostgreSQL, Redis), checks through the proxy, a short load run through it with a
worker killed half-way, a job on the job worker, ``bash deploy/run down``. Skipped, with the reason,
where nginx, openssl, PostgreSQL or Redis is missing."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.deploy import services
from tests.load import driver

pytestmark = [pytest.mark.slow, pytest.mark.services]
ROOT = driver.ROOT


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _ports(n: int) -> tuple[int, int]:
    """A proxy port and the first of ``n`` worker ports, all free."""
    for _ in range(200):
        base = random.randrange(20000, 30000)
        if all(_free(p) for p in range(base, base + n + 1)):
            return base + n, base
    raise RuntimeError("no free ports")


@pytest.fixture
def stack() -> Iterator[dict[str, Any]]:
    base_db, redis_url = services.postgres_and_redis()
    services.tools("nginx", "openssl")
    tag = uuid.uuid4().hex[:8]
    name = f"tutor_stack_test_{os.getpid()}_{tag}"
    https_port, web_port = _ports(2)
    # Under the repository, not /tmp: nginx's own workers (www-data) must be able to read the static files.
    state = ROOT / "var" / f"deploy-test-{tag}"
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    env.update({"PYTHON": sys.executable, "TUTOR_DEPLOY_DIR": str(state), "TUTOR_DEPLOY_WORKERS": "2",
                "TUTOR_DEPLOY_HTTPS_PORT": str(https_port), "TUTOR_DEPLOY_WEB_PORT": str(web_port),
                "DATABASE_URL": services.scratch_url(base_db, name), "REDIS_URL": redis_url,
                "TUTOR_LLM": "scripted", "CACHE_KEY_PREFIX": f"stack-{tag}", "CHANNEL_LAYER_PREFIX": f"stack-{tag}",
                "CELERY_QUEUE": f"stack-{tag}"})
    info = {"env": env, "state": state, "url": f"https://127.0.0.1:{https_port}", "https_port": https_port,
            "web_ports": [web_port, web_port + 1], "db_url": env["DATABASE_URL"]}
    try:
        up = subprocess.run(["bash", "deploy/run", "up"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=420)
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-6000:]
        yield info
    finally:
        down = subprocess.run(["bash", "deploy/run", "down"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=180)
        with psycopg.connect(**driver._pg_admin(base_db)) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(state, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert not any(_listening(p) for p in [https_port, *info["web_ports"]]), "something still listens after down"


def _request(info: dict[str, Any], path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
             source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context(cafile=str(info["state"] / "tls" / "cert.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", info["https_port"], context=context, timeout=20,
                                       source_address=(source, 0))
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _worker_lines(info: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for path in sorted((info["state"] / "logs").glob("web-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
    return lines


def _run(info: dict[str, Any], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, env=info["env"], capture_output=True, text=True, timeout=timeout)


def test_the_stack_serves_through_the_proxy_and_loses_nothing_when_a_worker_dies(stack):
    info = stack
    # Ready through the proxy (TLS with the self-signed certificate made on first run).
    status, headers, body = _request(info, "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"] == {"database": "ok", "channel_layer": "ok"}
    assert len(headers["x-request-id"]) == 32

    # Static files come from nginx, as collected.
    status, headers, body = _request(info, "/static/css/app.css")
    assert status == 200 and headers["server"] == "nginx"
    assert body == (info["state"] / "static" / "css" / "app.css").read_bytes()

    # The app sees the client's own address; a forwarded address the client made up is not believed.
    status, headers, _ = _request(info, "/healthz", source="127.0.0.2", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    rid = headers["x-request-id"]
    deadline = time.monotonic() + 5
    while not (lines := [x for x in _worker_lines(info) if x.get("request_id") == rid and x.get("path")]):
        assert time.monotonic() < deadline, "no access line for the request"
        time.sleep(0.2)
    assert lines[0]["client"] == "127.0.0.2" and lines[0]["status"] == 200
    assert not [x for x in _worker_lines(info) if str(x.get("path", "")).startswith("/static/")]

    # Bad input is a clear 4xx, never a 500 (a POST without the CSRF token is refused before the view).
    assert _request(info, "/healthz", method="POST")[0] == 403
    assert _request(info, "/readyz", headers={"Host": "evil.example"})[0] == 400

    # A second `up` is refused while this one runs.
    again = _run(info, "bash", "deploy/run", "up", timeout=60)
    assert again.returncode == 1 and "already up" in again.stderr

    # Students chat through the proxy; worker 1 is killed part-way; they reconnect and nothing is lost.
    out = info["state"] / "load.json"
    load = _run(info, sys.executable, "-m", "tests.load", "--url", info["url"],
                "--cafile", str(info["state"] / "tls" / "cert.pem"),
                "--secret-key-file", str(info["state"] / "secret_key"), "--database-url", info["db_url"],
                "--workers", "2", "--students", "8", "--turns", "6", "--think", "0.8", "--ramp", "1",
                "--deadline", "240", "--p95-ms", "60000", "--reconnect",
                "--kill-after", "4", "--kill-cmd", "bash deploy/run kill-worker 1", "--json", str(out), timeout=400)
    assert out.exists(), load.stdout[-3000:] + load.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["kill"]["returncode"] == 0, report["kill"]
    assert report["errors"] == 0, report["error_examples"]
    assert report["db"]["sent"] == report["turns_answered"] == 48
    assert report["db"]["lost"] == report["db"]["duplicated"] == report["db"]["unanswered"] == 0, report["db"]
    assert report["reconnects"]["count"] >= 1, report["reconnects"]
    assert report["reconnects"]["max_s"] <= 5.0, report["reconnects"]
    assert load.returncode == 0

    # Supervisor brought the killed worker back (its restart imports Django and the app anew: on a
    # busy CI machine that has taken over a minute).
    deadline = time.monotonic() + 150
    while (probe := _run(info, "bash", "deploy/run", "status", timeout=60)).returncode != 0:
        assert time.monotonic() < deadline, f"worker 1 did not come back:\n{probe.stdout}\n{probe.stderr}"
        time.sleep(1)

    # The job worker takes a learner-model fit of the run's course from the queue and does it.
    job = _run(info, sys.executable, "-c", (
        "import json, sys\n"
        "from tutor.jobs import tracing_fit\n"
        f"r = tracing_fit.apply_async(args=['load-{report['run_id']}'], kwargs={{'steps': 5, 'max_seconds': 60}})\n"
        "print(json.dumps(r.get(timeout=240)))\n"
        "bad = tracing_fit.apply_async(args=['no-such-course'])\n"
        "bad.get(timeout=60, propagate=False)\n"
        "print(json.dumps([bad.state, str(bad.result)]))\n"), timeout=300)
    assert job.returncode == 0, job.stderr[-3000:]
    fitted, failed = (json.loads(line) for line in job.stdout.strip().splitlines()[-2:])
    assert fitted["fitted"] is True and fitted["observations"] > 0, fitted
    assert failed == ["FAILURE", "no course with slug 'no-such-course'"]
    assert Path(info["state"] / "logs" / "jobs.log").read_text().count("tracing.fit") >= 2
