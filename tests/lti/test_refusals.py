"""Every bad launch the issue lists is refused with a page that says why, logged, and kept for the
administrator: never a 500, and never a partial account (nothing of a refused launch is stored)."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from lti_tool.models import LtiContext, LtiDeployment, LtiRegistration, LtiUser

from content.models import Course
from tests.lti.conftest import register
from tests.lti.platform import (
    LEARNER,
    MENTOR,
    ROLES_CLAIM,
    Browser,
    LaunchSpec,
    Platform,
    Tamper,
    User,
    form_of,
    rsa_pem,
)
from tutor.lti.models import LaunchRefusal, UsedNonce
from tutor.teaching.models import Classroom, Enrolment

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"

pytestmark = pytest.mark.django_db(transaction=True)

ADA = User("lms-user-ada", "Ada Lovelace", LEARNER)


@pytest.fixture
def linked(tool: Any, platform: Platform, course: Course) -> Platform:
    platform.link_add("link-1", custom={"tutor_target": "course:mini"}, gradebook=True)
    return platform


def _nothing_kept() -> None:
    assert not get_user_model().objects.exists()
    assert not LtiUser.objects.exists() and not LtiContext.objects.exists()
    assert not Classroom.objects.exists() and not Enrolment.objects.exists()


def _refused(page: requests.Response, code: str, status: int | None = None) -> None:
    assert page.status_code != 500
    assert page.status_code == (status or page.status_code) and page.status_code in (400, 403, 502), page.text[:800]
    assert f'data-refusal="{code}"' in page.text, page.text[:2000]
    row = LaunchRefusal.objects.order_by("-id").first()
    assert row is not None and row.code == code
    # The refusal page may be framed by any LMS, so the person in the frame reads it.
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers


@pytest.mark.parametrize(("tamper", "code", "status"), [
    (Tamper(expires_in=-120), "expired", 400),
    (Tamper(sign_with=rsa_pem()[0]), "bad_signature", 403),
    (Tamper(claims=lambda c: c.pop(ROLES_CLAIM)), "missing_role", 403),
    (Tamper(claims=lambda c: c.update({ROLES_CLAIM: MENTOR})), "missing_role", 403),
    (Tamper(claims=lambda c: c.update({ROLES_CLAIM: []})), "missing_role", 403),
    (Tamper(claims=lambda c: c.update({CLAIM + "deployment_id": "nope"})),
     "unknown_deployment", 403),
    (Tamper(claims=lambda c: c.update(iss="https://unregistered.example")), "unknown_platform", 403),
    (Tamper(expires_in=0), "malformed", 400),  # lti1p3platform then signs no exp and no iat
    (Tamper(claims=lambda c: c.pop(CLAIM + "context")), "no_context", 400),
    (Tamper(claims=lambda c: c.update({ROLES_CLAIM: LEARNER[0]})), "missing_role", 403),
    (Tamper(claims=lambda c: c.update({CLAIM + "context": "course-101"})),
     "malformed", 400),
    (Tamper(claims=lambda c: c.update({CLAIM + "custom": ["x"]})),
     "malformed", 400),
    (Tamper(claims=lambda c: c.update(sub="x" * 300)), "malformed", 400),
    (Tamper(claims=lambda c: c.update({CLAIM + "tool_platform": {"name": "LMS"}})),
     "malformed", 400),
    (Tamper(claims=lambda c: c.update({CLAIM + "message_type": "LtiStartProctoring"})),
     "malformed", 400),
], ids=["expired", "wrongly-signed", "no-roles-claim", "mentor-only", "empty-roles", "unknown-deployment",
        "unknown-issuer", "no-exp", "no-context", "roles-not-a-list", "context-not-an-object", "custom-not-an-object",
        "sub-too-long", "platform-without-guid", "unknown-message-type"])
def test_a_bad_id_token_is_refused_logged_and_leaves_nothing(
        linked: Platform, browser: Browser, caplog: pytest.LogCaptureFixture, tamper: Tamper, code: str,
        status: int) -> None:
    with caplog.at_level(logging.WARNING, logger="tutor.lti"):
        page = browser.launch(linked, LaunchSpec(ADA, tamper=tamper))
    _refused(page, code, status)
    _nothing_kept()
    assert any(f"LTI launch refused ({code})" in r.getMessage() for r in caplog.records)


def test_a_replayed_id_token_is_refused(linked: Platform, browser: Browser) -> None:
    start = browser.http.get(linked.launch_url(LaunchSpec(ADA)), timeout=30)
    action, fields = form_of(start)
    first = browser.http.post(action, data=fields, timeout=30)
    assert first.status_code == 200 and "/sessions/" in first.url
    users = get_user_model().objects.count()

    again = browser.http.post(action, data=fields, timeout=30)  # the same browser posts the same token again
    _refused(again, "replayed", 403)
    elsewhere = Browser().http.post(action, data=fields, timeout=30)  # someone who copied it, without the cookie
    _refused(elsewhere, "replayed", 403)
    assert get_user_model().objects.count() == users and UsedNonce.objects.count() == 1


def test_a_platform_reusing_a_nonce_is_refused(linked: Platform, browser: Browser) -> None:
    assert browser.launch(linked, LaunchSpec(ADA)).status_code == 200
    reused = linked.nonces[0]
    page = browser.launch(linked, LaunchSpec(ADA, tamper=Tamper(nonce=reused)))
    _refused(page, "replayed", 403)
    assert Enrolment.objects.count() == 1


def test_a_nonce_the_tool_never_issued_is_refused(linked: Platform, browser: Browser) -> None:
    page = browser.launch(linked, LaunchSpec(ADA, tamper=Tamper(nonce="made-up-by-the-platform")))
    _refused(page, "nonce", 400)
    _nothing_kept()


def test_a_launch_without_the_login_step_is_refused(tool: Any, course: Course) -> None:
    page = requests.post(f"{tool.url}/lti/launch/", data={"id_token": "a.b.c", "state": "state-x"}, timeout=30)
    _refused(page, "state", 400)
    page = requests.post(f"{tool.url}/lti/launch/", data={}, timeout=30)
    _refused(page, "malformed", 400)
    assert requests.get(f"{tool.url}/lti/launch/", timeout=30).status_code == 405
    _nothing_kept()


def test_an_unknown_issuer_is_refused_at_login(tool: Any, course: Course, browser: Browser) -> None:
    stranger = Platform(issuer="https://stranger.example").start()
    try:
        registered = LtiRegistration.objects.get()
        # The stranger uses the registered platform's login address but its own issuer.
        stranger.tool_set(login=f"{tool.url}/lti/login/{registered.uuid}/", launch=f"{tool.url}/lti/launch/",
                          jwks=f"{tool.url}/lti/jwks/")
        page = browser.launch(stranger, LaunchSpec(ADA))
    finally:
        stranger.stop()
    _refused(page, "unknown_platform", 403)
    assert LaunchRefusal.objects.get().step == "login"
    _nothing_kept()


def test_an_inactive_deployment_is_refused(linked: Platform, browser: Browser) -> None:
    LtiDeployment.objects.update(is_active=False)
    _refused(browser.launch(linked, LaunchSpec(ADA)), "inactive_deployment", 403)
    _nothing_kept()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("keyset", ["closed-port", "not-json", "not-a-key-set"])
def test_an_unreachable_or_broken_platform_key_set_is_refused(live_server: Any, platform: Platform, course: Course,
                                                              browser: Browser, keyset: str) -> None:
    url = {"closed-port": f"http://127.0.0.1:{_closed_port()}/jwks", "not-json": f"{platform.url}/frame?src=x",
           "not-a-key-set": f"{platform.url}/token"}[keyset]
    register(platform, live_server.url, keyset_url=url)
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    _refused(browser.launch(platform, LaunchSpec(ADA)), "jwks_unreachable", 502)
    _nothing_kept()


def test_a_target_that_no_longer_exists_is_refused(linked: Platform, browser: Browser) -> None:
    linked.link_add("gone", custom={"tutor_target": "item:999999"})
    _refused(browser.launch(linked, LaunchSpec(ADA, resource_link_id="gone")), "unknown_target", 400)
    _nothing_kept()
