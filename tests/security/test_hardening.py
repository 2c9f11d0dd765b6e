"""Rate limits (sign-in, API messages, research exports) and production security settings."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tutor import roles
from tutor.research.models import ResearchGrant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # Each failed sign-in runs the password hasher; the limits, not the hashing, are under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _fresh_address() -> str:
    # Counters live in the shared cache (Redis in the PostgreSQL pass): every test uses its own
    # client address and usernames so runs never see each other's counts.
    n = uuid.uuid4().int
    return f"198.51.{n % 250 + 1}.{(n >> 8) % 250 + 1}"


def test_login_is_refused_after_repeated_failures_even_with_the_right_password():
    name = f"victim-{uuid.uuid4().hex[:8]}"
    UserFactory(username=name, password="right-password-1", role=roles.STUDENT)
    address = _fresh_address()
    client = Client(REMOTE_ADDR=address)
    codes = [client.post("/accounts/login/", {"username": name, "password": "wrong"}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429], "the fifth failure locks the address+username out"
    resp = client.post("/accounts/login/", {"username": name, "password": "right-password-1"})
    assert resp.status_code == 429, "the sixth attempt must not sign in"
    assert "Too many failed sign-in attempts" in resp.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not blocked for this user, and this address may still sign in other users.
    assert Client(REMOTE_ADDR=_fresh_address()).post(
        "/accounts/login/", {"username": name, "password": "right-password-1"}).status_code == 302
    other = f"other-{uuid.uuid4().hex[:8]}"
    UserFactory(username=other, password="right-password-2", role=roles.STUDENT)
    assert client.post("/accounts/login/", {"username": other, "password": "right-password-2"}).status_code == 302


def test_admin_login_is_rate_limited_too():
    name = f"teach-{uuid.uuid4().hex[:8]}"
    UserFactory(username=name, password="right-password-1", role=roles.TEACHER)
    client = Client(REMOTE_ADDR=_fresh_address())
    for _ in range(5):
        client.post("/admin/login/", {"username": name, "password": "wrong", "next": "/admin/"})
    resp = client.post("/admin/login/", {"username": name, "password": "right-password-1", "next": "/admin/"})
    assert resp.status_code == 429 and "_auth_user_id" not in client.session


def test_password_spraying_from_one_address_is_stopped():
    address = _fresh_address()
    client = Client(REMOTE_ADDR=address)
    for i in range(50):
        client.post("/accounts/login/", {"username": f"guess-{uuid.uuid4().hex[:6]}-{i}", "password": "123456"})
    name = f"real-{uuid.uuid4().hex[:8]}"
    UserFactory(username=name, password="right-password-1", role=roles.STUDENT)
    resp = client.post("/accounts/login/", {"username": name, "password": "right-password-1"})
    assert "Too many failed sign-in attempts" in resp.content.decode()


def test_successful_login_forgets_earlier_failures():
    name = f"forgetful-{uuid.uuid4().hex[:8]}"
    UserFactory(username=name, password="right-password-1", role=roles.STUDENT)
    client = Client(REMOTE_ADDR=_fresh_address())
    for _ in range(4):
        client.post("/accounts/login/", {"username": name, "password": "wrong"})
    assert client.post("/accounts/login/", {"username": name, "password": "right-password-1"}).status_code == 302
    client.logout()
    for _ in range(4):
        client.post("/accounts/login/", {"username": name, "password": "wrong"})
    assert client.post("/accounts/login/", {"username": name, "password": "right-password-1"}).status_code == 302


def test_research_exports_are_rate_limited(course):
    researcher = UserFactory(username=f"res-{uuid.uuid4().hex[:8]}", role=roles.RESEARCHER)
    ResearchGrant.objects.create(researcher=researcher, course=course)
    client = APIClient()
    client.force_authenticate(researcher)
    codes = [client.get(f"/api/research/courses/{course.slug}/attempts/").status_code for _ in range(31)]
    assert codes[:30] == [200] * 30 and codes[30] == 429
    resp = client.get(f"/api/research/courses/{course.slug}/export.tsv")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) <= 60


def test_api_messages_are_rate_limited_like_the_chat(course, scripted):
    student = UserFactory(username=f"fast-{uuid.uuid4().hex[:8]}", role=roles.STUDENT)
    client = APIClient()
    client.force_authenticate(student)
    sid = client.post("/api/tutor/sessions/", {"course": course.slug, "item": "add-halves-quarters"},
                      format="json").json()["session"]["id"]
    codes = []
    for i in range(9):
        resp = client.post(f"/api/tutor/sessions/{sid}/messages/", {"text": f"hmm {i}", "client_id": f"m{i}"},
                           format="json")
        codes.append(resp.status_code)
    # (the item may finish on the way: a 400 "finished" is still an answered, unthrottled request)
    assert 429 not in codes[:8] and codes[0] == 200 and codes[8] == 429
    # Reading the transcript is not limited.
    assert client.get(f"/api/tutor/sessions/{sid}/").status_code == 200


PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.test import Client
resp = Client().get("/accounts/login/", secure=True)
print(json.dumps({
    "status": resp.status_code,
    "headers": {k.lower(): v for k, v in resp.headers.items()},
    "csrf_cookie": str(resp.cookies.get("csrftoken", "")),
    "insecure": Client().get("/accounts/login/").status_code,
    "settings": {k: getattr(settings, k) for k in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                 "SESSION_COOKIE_HTTPONLY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "DEBUG")},
    "salt": settings.RESEARCH_PSEUDONYM_SALT,
}))
"""


def test_production_settings_send_security_headers_and_secure_cookies(tmp_path):
    salt = tmp_path / "salt"
    salt.write_text("salt-from-a-file\n")
    env = {"DEBUG": "0", "SECRET_KEY": "p" * 60, "ALLOWED_HOSTS": "testserver", "TUTOR_VAR_DIR": str(tmp_path),
           "RESEARCH_PSEUDONYM_SALT_FILE": str(salt), "DJANGO_SETTINGS_MODULE": "config.settings",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == 200
    assert out["insecure"] == 301, "plain HTTP must be redirected to HTTPS"
    h = out["headers"]
    assert h["strict-transport-security"].startswith("max-age=31536000")
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "same-origin"
    assert h["cross-origin-opener-policy"] == "same-origin"
    assert "secure" in out["csrf_cookie"].lower() and "samesite=lax" in out["csrf_cookie"].lower()
    assert out["settings"] == {"SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
                               "SESSION_COOKIE_HTTPONLY": True, "SECURE_SSL_REDIRECT": True,
                               "SECURE_HSTS_SECONDS": 31536000, "DEBUG": False}
    assert out["salt"] == "salt-from-a-file"


def test_csrf_is_enforced_on_forms():
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=_fresh_address())
    resp = client.post("/accounts/signup/", {"username": "csrf-less", "password1": "x", "password2": "x"})
    assert resp.status_code == 403
