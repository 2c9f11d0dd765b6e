"""Registering a platform in the admin, the tool's key set and its rotation, and the framing and
cookie rules for pages shown inside an LMS."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client, RequestFactory
from lti_tool.models import Key, LtiRegistration

from config.csp import ContentSecurityPolicyMiddleware
from content.models import Course
from tests.lti.platform import INSTRUCTOR, LEARNER, Browser, LaunchSpec, Platform, User
from tutor.lti import frames, selectors, services
from tutor.lti.models import ContextClass, PlatformSettings

pytestmark = pytest.mark.django_db(transaction=True)

ADA = User("lms-user-ada", "Ada Lovelace", LEARNER)
GRACE = User("lms-user-grace", "Grace Hopper", INSTRUCTOR)


def test_an_administrator_registers_the_platform_in_the_admin_and_it_launches(
        live_server: Any, platform: Platform, course: Course, admin_client: Client) -> None:
    form = admin_client.get("/admin/lti_tool/ltiregistration/add/")
    assert form.status_code == 200 and "Save the registration to see the login" in form.text
    data = {
        "name": "District Moodle", "uuid": "2f1c5d0e-7f52-4c1b-9d3e-0a6e1b2c3d4e", "issuer": platform.issuer,
        "client_id": platform.client_id, "audience": "", "auth_url": f"{platform.url}/auth",
        "token_url": f"{platform.url}/token", "keyset_url": f"{platform.url}/jwks", "is_active": "on",
        "public_key": "", "private_key": "",
        "deployments-TOTAL_FORMS": "1", "deployments-INITIAL_FORMS": "0", "deployments-MIN_NUM_FORMS": "0",
        "deployments-MAX_NUM_FORMS": "1000", "deployments-0-deployment_id": platform.deployment_id,
        "deployments-0-is_active": "on",
        "tutor_settings-TOTAL_FORMS": "1", "tutor_settings-INITIAL_FORMS": "0", "tutor_settings-MIN_NUM_FORMS": "0",
        "tutor_settings-MAX_NUM_FORMS": "1", "tutor_settings-0-frame_origins": "https://school.example.org",
    }
    saved = admin_client.post("/admin/lti_tool/ltiregistration/add/", data)
    assert saved.status_code == 302, saved.text[:3000]
    registration = LtiRegistration.objects.get()
    assert registration.deployments.get().is_active
    change = admin_client.get(f"/admin/lti_tool/ltiregistration/{registration.pk}/change/")
    login_url = f"/lti/login/{registration.uuid}/"
    assert login_url in change.text and "/lti/jwks/" in change.text and "/lti/launch/" in change.text
    assert selectors.frame_origins(registration=registration) == [platform.url, "https://school.example.org"]

    # The LMS side of the registration: the addresses the admin page shows.
    platform.tool_set(login=live_server.url + login_url, launch=live_server.url + "/lti/launch/",
                      jwks=live_server.url + "/lti/jwks/")
    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    page = Browser().launch(platform, LaunchSpec(ADA))
    assert page.status_code == 200 and "/sessions/" in page.url
    csp = page.headers["Content-Security-Policy"]
    assert f"frame-ancestors {platform.url} https://school.example.org" in csp
    assert "X-Frame-Options" not in page.headers


def test_admin_rejects_an_origin_that_is_not_one() -> None:
    settings = PlatformSettings(frame_origins="https://ok.example\nnot a url")
    with pytest.raises(Exception, match="Not an http"):
        settings.clean()


def test_jwks_publishes_every_active_public_key_and_rotation_keeps_services_working(
        tool: Any, platform: Platform, course: Course) -> None:
    keys = requests.get(f"{tool.url}/lti/jwks/", timeout=30).json()["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert not {"d", "p", "q"} & set(keys[0])  # never the private parts
    first = keys[0]["kid"]

    platform.link_add("link-1", custom={"tutor_target": "course:mini"})
    platform.members["course-101"] = [{"user_id": GRACE.sub, "roles": INSTRUCTOR, "status": "Active"}]
    assert Browser().launch(platform, LaunchSpec(GRACE)).status_code == 200
    link = ContextClass.objects.get()
    services.roster_sync(context_class=link)  # a token signed with the first key

    call_command("rotate_keys", verbosity=0)  # django-lti: a new key; old ones stay for 7 days
    keys = requests.get(f"{tool.url}/lti/jwks/", timeout=30).json()["keys"]
    newest = str(Key.objects.latest())
    assert {k["kid"] for k in keys} == {first, newest} and newest != first
    services.roster_sync(context_class=link)  # signed with the new key, checked by the platform's fresh fetch
    assert platform.tokens_issued == 2

    call_command("rotate_keys", deactivate_after=0, verbosity=0)  # retire all but the newest
    keys = requests.get(f"{tool.url}/lti/jwks/", timeout=30).json()["keys"]
    assert len(keys) == 1 and keys[0]["kid"] == str(Key.objects.latest()) not in (first, newest)
    services.roster_sync(context_class=link)
    assert platform.tokens_issued == 3


def _through_middleware(*, secure: bool, origins: list[str]) -> HttpResponse:
    request = RequestFactory().get("/", secure=secure)
    request.session = SessionStore()
    if origins:
        frames.session_mark(request, registration_id=1, origins=origins)
    response = HttpResponse("page")
    response["X-Frame-Options"] = "DENY"
    response.set_cookie("sessionid", "abc", samesite="Lax")
    response.set_cookie("csrftoken", "def", samesite="Lax")
    return ContentSecurityPolicyMiddleware(lambda r: response).process_response(request, response)


def test_pages_of_an_lms_session_may_be_framed_by_its_platforms_and_their_cookies_cross_sites() -> None:
    framed = _through_middleware(secure=True, origins=["https://lms.example", "https://school.example"])
    assert "frame-ancestors https://lms.example https://school.example" in framed["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed
    for name in ("sessionid", "csrftoken"):
        assert framed.cookies[name]["samesite"] == "None" and framed.cookies[name]["secure"] is True
        assert framed.cookies[name].output().endswith("; Partitioned") and "abc" in framed.cookies["sessionid"].output()

    plain_http = _through_middleware(secure=False, origins=["http://lms.example"])
    assert plain_http.cookies["sessionid"]["samesite"] == "Lax"  # browsers refuse None without Secure

    other = _through_middleware(secure=True, origins=[])
    assert "frame-ancestors 'none'" in other["Content-Security-Policy"] and other["X-Frame-Options"] == "DENY"
    assert other.cookies["sessionid"]["samesite"] == "Lax"


def test_a_session_outside_the_lms_is_not_frameable(live_server: Any, course: Course) -> None:
    page = requests.get(f"{live_server.url}/accounts/login/", timeout=30)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
