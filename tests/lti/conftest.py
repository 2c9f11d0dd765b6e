"""The tutor under pytest-django's live server (real HTTP on 127.0.0.1) and an LTI 1.3 platform
(``tests.lti.platform``) beside it in the test process, registered with each other as an
administrator would: the platform in the tutor's admin tables, the tutor's URLs in the platform."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from lti_tool.models import LtiDeployment, LtiRegistration

from content import packs
from content.models import Course
from tests.conftest import SMALL_PACK
from tests.lti.platform import Browser, Platform


def register(platform: Platform, live_url: str, *, keyset_url: str | None = None,
             deployment_active: bool = True) -> LtiRegistration:
    """What an administrator types into the tutor's admin, and the tutor's URLs into the LMS."""
    registration = LtiRegistration.objects.create(
        name="Test LMS", issuer=platform.issuer, client_id=platform.client_id, auth_url=f"{platform.url}/auth",
        token_url=f"{platform.url}/token", keyset_url=keyset_url or f"{platform.url}/jwks")
    LtiDeployment.objects.create(registration=registration, deployment_id=platform.deployment_id,
                                 is_active=deployment_active)
    platform.tool_set(login=live_url + reverse("lti-login", args=[registration.uuid]),
                      launch=live_url + reverse("lti-launch"), jwks=live_url + reverse("lti-jwks"))
    return registration


@pytest.fixture
def platform() -> Iterator[Platform]:
    p = Platform().start()
    yield p
    p.stop()


@pytest.fixture
def tool(live_server: Any, platform: Platform, transactional_db: Any) -> Any:
    """The tutor's address (the live server), with the platform registered."""
    register(platform, live_server.url)
    return live_server


@pytest.fixture
def course(transactional_db: Any) -> Course:
    return packs.import_pack(copy.deepcopy(SMALL_PACK))


@pytest.fixture
def browser() -> Browser:
    return Browser()
