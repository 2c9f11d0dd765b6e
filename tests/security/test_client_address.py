"""The client address that sign-in lockout and throttles count cannot be named by the client
(issue 19, defect 9): X-Forwarded-For is believed only from the configured proxies, and the
production server (uvicorn, as the README and the load driver run it) passes the real peer on."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.load.driver import server_command
from tutor import roles
from tutor.ratelimit import client_address

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings):
    settings.TUTOR_TRUSTED_PROXIES = []
    assert _address("127.0.0.1", "203.0.113.9") == "127.0.0.1"
    settings.TUTOR_TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    assert _address("198.51.100.4", "203.0.113.9") == "198.51.100.4"  # not a proxy of ours
    # nginx appends the peer it saw; whatever the client wrote before that is not believed.
    assert _address("127.0.0.1", "203.0.113.9, 198.51.100.7") == "198.51.100.7"
    assert _address("127.0.0.1", "203.0.113.9, 198.51.100.7, 10.1.2.3") == "198.51.100.7"
    assert _address("127.0.0.1", "garbage, 198.51.100.7") == "198.51.100.7"
    assert _address("127.0.0.1", "198.51.100.7, garbage") == "127.0.0.1"
    assert _address("127.0.0.1") == "127.0.0.1"
    assert _address("not an address") is None


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_escape_the_lockout(settings):
    settings.TUTOR_TRUSTED_PROXIES = ["127.0.0.1"]
    name = f"victim-{uuid.uuid4().hex[:8]}"
    UserFactory(username=name, password="right-password-1", role=roles.STUDENT)
    codes = []
    for i in range(6):
        # The attacker behind our proxy varies the part of the header it controls.
        client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}, 198.51.100.77")
        codes.append(client.post("/accounts/login/", {"username": name, "password": "wrong"}).status_code)
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.200, 198.51.100.77")
    status = client.post("/accounts/login/", {"username": name, "password": "right-password-1"}).status_code
    assert status != 302, "signed in: each forged X-Forwarded-For counted as a fresh address"
    assert codes[4:] == [429, 429] and status == 429


@pytest.mark.django_db
def test_the_anonymous_token_endpoint_counts_the_real_address():
    codes = []
    for i in range(31):
        client = APIClient(REMOTE_ADDR="198.51.100.31", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        codes.append(client.post("/api/research/token/", {"username": f"nobody-{i}", "password": "x"},
                                 format="json").status_code)
    assert 429 not in codes[:30] and codes[30] == 429


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(port: int, username: str, password: str, forwarded: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/")
    page = conn.getresponse()
    body = page.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie") or "").group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = f"csrfmiddlewaretoken={token}&username={username}&password={password}"
    conn.request("POST", "/accounts/login/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}",
        "X-Forwarded-For": forwarded})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


@pytest.mark.slow
def test_uvicorn_as_deployed_does_not_let_a_local_client_pick_its_address():
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told not to; the deployed command must."""
    with tempfile.TemporaryDirectory(prefix="tutor-xff-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TRUSTED_PROXIES"}}
        env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "TUTOR_LLM": "scripted",
                    "TUTOR_VAR_DIR": tmp, "DATABASE_URL": f"sqlite:///{tmp}/xff.sqlite3",
                    "PYTHONUNBUFFERED": "1"})
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        subprocess.run([sys.executable, "manage.py", "shell", "-c",
                        "from django.contrib.auth.models import User; "
                        "User.objects.create_user('victim', password='right-password-1')"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        port = _free_port()
        log = Path(tmp) / "uvicorn.log"
        with log.open("wb") as out:
            server = subprocess.Popen(server_command("uvicorn", port), cwd=ROOT, env=env, stdout=out,
                                      stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            for i in range(6):
                _login(port, "victim", "wrong", f"203.0.113.{i}")
            status = _login(port, "victim", "right-password-1", "203.0.113.99")
            assert status != 302, "signed in: each forged X-Forwarded-For counted as a fresh address"
            assert status == 429
        finally:
            server.terminate()
            server.wait(timeout=20)
