"""Checking an LTI 1.3 login initiation and launch with pylti1p3, and naming what was wrong.

pylti1p3 does the protocol: the OIDC state and nonce, finding the registration, fetching the
platform's key set, the id_token's signature and expiry, the deployment and the message's claims.
This module runs those steps one by one so that a failure becomes a ``LaunchRefused`` with a code
and a sentence a teacher or student can act on, instead of a bare library message or a 500.

Two rules pylti1p3 leaves to the tool are added here: an unknown deployment is refused rather than
created, and ``exp`` and ``iat`` must be present. Replays (a nonce seen before) are refused in
``tutor.lti.services`` against the database, so the check holds across worker processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.http import HttpRequest
from lti_tool.models import Key, LtiDeployment, LtiRegistration
from lti_tool.utils import DjangoToolConfig
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.roles import DesignerRole, StudentRole, TeacherRole, TeachingAssistantRole

from tutor.lti import http

log = logging.getLogger("tutor.lti")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
ROLES_CLAIM = CLAIM + "roles"
CONTEXT_CLAIM = CLAIM + "context"
CUSTOM_CLAIM = CLAIM + "custom"
DEPLOYMENT_CLAIM = CLAIM + "deployment_id"
RESOURCE_LINK_CLAIM = CLAIM + "resource_link"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

# What the person in front of the LMS is told, per refusal code.
MESSAGES = {
    "unknown_platform": "This LMS is not registered with the tutor. Ask your school's administrator to register "
                        "it (issuer and client ID) in the tutor's admin.",
    "unknown_deployment": "This LMS installation of the tutor (its deployment ID) is not registered. Ask your "
                          "school's administrator to add the deployment ID in the tutor's admin.",
    "inactive_deployment": "This LMS installation of the tutor has been switched off in the tutor's admin.",
    "state": "This launch did not start in this browser, or took too long. Open the tutor again from your LMS. "
             "If it keeps failing, your browser may block cookies in the LMS frame: open it in a new window.",
    "nonce": "This launch was not started by the tutor (its login step is missing). Open the tutor again from "
             "your LMS.",
    "replayed": "This launch has already been used. Open the tutor again from your LMS.",
    "expired": "This launch has expired. Open the tutor again from your LMS.",
    "bad_signature": "This launch is not signed by your LMS's registered key. Open the tutor again from your LMS; "
                     "if it keeps failing, ask your administrator to check the LMS's key set URL.",
    "jwks_unreachable": "The tutor could not fetch your LMS's public keys to check this launch. Try again in a "
                        "few minutes; if it keeps failing, ask your administrator to check the key set URL.",
    "malformed": "Your LMS sent a launch the tutor cannot read.",
    "missing_role": "Your LMS did not say whether you are a teacher or a student in this course, so the tutor "
                    "cannot open. Ask your teacher to check your role in the LMS course.",
    "no_context": "The tutor must be opened from inside an LMS course.",
    "unknown_target": "This link points to a course, goal or problem that is no longer in the tutor. Ask your "
                      "teacher to choose it again.",
    "not_set_up": "Your teacher has not yet chosen what this link opens. Try again later.",
    "unsupported_message": "The tutor does not handle this kind of LMS request.",
    "login": "The login request from your LMS was incomplete. Open the tutor again from your LMS.",
    "not_a_teacher": "Only teachers can choose what an LMS link opens.",
}

# HTTP status per code: 403 for "who you are is not accepted here", 400 for a broken request.
FORBIDDEN = {"unknown_platform", "unknown_deployment", "inactive_deployment", "bad_signature", "missing_role",
             "not_a_teacher", "replayed"}


class LaunchRefused(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        return MESSAGES.get(self.code, MESSAGES["malformed"])

    @property
    def status(self) -> int:
        if self.code == "jwks_unreachable":
            return 502
        return 403 if self.code in FORBIDDEN else 400


def tool_key_ensure() -> Key:
    """The tool's newest active signing key, made on first need (django-lti's registrations sign with it)."""
    key = Key.objects.active().order_by("-datetime_created", "-id").first()
    return key if key is not None else Key.objects.generate()


class ToolConfig(DjangoToolConfig):
    """django-lti's registration lookup, except that a deployment must have been registered (and be
    active): django-lti would create an unknown one."""

    def find_registration_by_params(self, iss: str, client_id: str | None, *args: Any, **kwargs: Any) -> Any:
        tool_key_ensure()
        if client_id is None and self.registration_uuid is None:
            # Without a client ID only a single registration for the issuer is unambiguous.
            found = list(LtiRegistration.objects.active().filter(issuer=iss)[:2])
            if len(found) != 1:
                return None
            self.registration = found[0]
            return found[0].to_registration()
        if client_id is None:
            return self.find_registration_by_issuer(iss)
        return super().find_registration_by_params(iss, client_id, *args, **kwargs)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str, *args: Any,
                                  **kwargs: Any) -> Any:
        lookups: dict[str, Any] = {"registration__issuer": iss, "registration__client_id": client_id,
                                   "registration__is_active": True, "deployment_id": deployment_id}
        if self.registration_uuid is not None:
            lookups["registration__uuid"] = self.registration_uuid
        deployment = LtiDeployment.objects.filter(**lookups).select_related("registration").first()
        if deployment is None:
            raise LaunchRefused("unknown_deployment", f"deployment {deployment_id!r} of {iss} ({client_id})")
        if not deployment.is_active:
            raise LaunchRefused("inactive_deployment", f"deployment {deployment_id!r} of {iss} ({client_id})")
        self.deployment = deployment
        from pylti1p3.deployment import Deployment

        return Deployment().set_deployment_id(deployment.deployment_id)

    def find_deployment(self, iss: str, deployment_id: str) -> Any:
        assert self.registration is not None
        return self.find_deployment_by_params(iss, deployment_id, self.registration.client_id)


def _step(code: str, run: Any) -> Any:
    try:
        return run()
    except LaunchRefused:
        raise
    except LtiException as exc:
        raise LaunchRefused(code, str(exc)) from exc


class ToolMessageLaunch(DjangoMessageLaunch):  # type: ignore[misc]
    """pylti1p3's launch, each step answering with its own refusal code."""

    def __init__(self, request: HttpRequest, tool_config: ToolConfig) -> None:
        super().__init__(request, tool_config, launch_data_storage=DjangoCacheDataStorage(),
                         requests_session=http.session())
        # pylti1p3 checks the signature and exp when present; the spec requires exp and iat.
        self.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat"]})  # type: ignore[dict-item]

    def validate_state(self) -> Any:
        return _step("state", super().validate_state)

    def validate_jwt_format(self) -> Any:
        return _step("malformed", super().validate_jwt_format)

    def validate_nonce(self) -> Any:
        return _step("nonce", super().validate_nonce)

    def validate_registration(self) -> Any:
        return _step("unknown_platform", super().validate_registration)

    def validate_jwt_signature(self) -> Any:
        try:
            return super().validate_jwt_signature()
        except LtiException as exc:
            cause = exc.__cause__
            if isinstance(cause, jwt.ExpiredSignatureError):
                raise LaunchRefused("expired", str(exc)) from exc
            if isinstance(cause, jwt.MissingRequiredClaimError | jwt.ImmatureSignatureError | jwt.DecodeError) \
                    and not isinstance(cause, jwt.InvalidSignatureError):
                raise LaunchRefused("malformed", str(exc)) from exc
            if isinstance(cause, requests.RequestException | ValueError) or str(exc).startswith("Invalid URL"):
                raise LaunchRefused("jwks_unreachable", str(exc)) from exc
            raise LaunchRefused("bad_signature", str(exc)) from exc
        except (KeyError, TypeError, AttributeError) as exc:  # a key set without "keys", or not a JSON object
            raise LaunchRefused("jwks_unreachable", f"the key set is not a JWKS: {exc!r}") from exc

    def validate_deployment(self) -> Any:
        return _step("unknown_deployment", super().validate_deployment)

    def validate_message(self) -> Any:
        if ROLES_CLAIM not in self._get_jwt_body():
            raise LaunchRefused("missing_role", "no roles claim")
        return _step("malformed", super().validate_message)


@dataclass(frozen=True)
class ValidLaunch:
    """A launch pylti1p3 accepted: its claims and the registration and deployment rows it matched."""

    message: ToolMessageLaunch
    claims: dict[str, Any]
    registration: LtiRegistration
    deployment: LtiDeployment

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def message_type(self) -> str:
        return str(self.claims.get(CLAIM + "message_type", ""))

    @property
    def role(self) -> str:
        return role_of(self.claims.get(ROLES_CLAIM) or [])


def role_of(lis_roles: list[str]) -> str:
    """"instructor" (instructors, teaching assistants, content developers and administrators of the
    LMS course), "learner", or "" when the roles name neither (a mentor, a guest). pylti1p3 reads the
    role URIs; an instructor who is also a learner counts as an instructor."""
    body = {ROLES_CLAIM: list(lis_roles)}
    if TeacherRole(body).check() or TeachingAssistantRole(body).check() or DesignerRole(body).check():
        return "instructor"
    if StudentRole(body).check():
        return "learner"
    return ""


def _dict_claim(claims: dict[str, Any], name: str) -> dict[str, Any]:
    value = claims.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LaunchRefused("malformed", f"{name} is not an object")
    return value


def claims_check(claims: dict[str, Any]) -> None:
    """Shapes pylti1p3 does not check but the tool relies on."""
    roles = claims.get(ROLES_CLAIM)
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise LaunchRefused("missing_role", "the roles claim is not a list of strings")
    for name in (CONTEXT_CLAIM, CUSTOM_CLAIM, RESOURCE_LINK_CLAIM, AGS_CLAIM, NRPS_CLAIM, DEEP_LINKING_CLAIM,
                 CLAIM + "launch_presentation", CLAIM + "tool_platform"):
        _dict_claim(claims, name)
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise LaunchRefused("malformed", "sub is not a string of 1 to 255 characters")
    if not isinstance(claims.get("nonce"), str) or len(claims["nonce"]) > 255:
        raise LaunchRefused("malformed", "nonce is not a string of at most 255 characters")
    context = _dict_claim(claims, CONTEXT_CLAIM)
    link = _dict_claim(claims, RESOURCE_LINK_CLAIM)
    platform = _dict_claim(claims, CLAIM + "tool_platform")
    # Lengths of the columns django-lti keeps these in (a longer value would fail the database write).
    for where, name, limit in ((claims, "given_name", 500), (claims, "family_name", 500), (claims, "name", 500),
                               (claims, "email", 254), (claims, "picture", 200), (context, "id", 255),
                               (context, "label", 255), (context, "title", 500), (link, "id", 255),
                               (link, "title", 500), (platform, "guid", 255), (platform, "name", 500)):
        value = where.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise LaunchRefused("malformed", f"{name} is not a string of at most {limit} characters")
    if platform and not platform.get("guid"):
        raise LaunchRefused("malformed", "the platform instance claim has no guid")
    nrps = _dict_claim(claims, NRPS_CLAIM)
    if nrps and not isinstance(nrps.get("context_memberships_url"), str):
        raise LaunchRefused("malformed", "the names and roles claim has no memberships URL")
    ags = _dict_claim(claims, AGS_CLAIM)
    if ags and not isinstance(ags.get("scope", []), list):
        raise LaunchRefused("malformed", "the grade service scopes are not a list")


def launch_validate(request: HttpRequest) -> ValidLaunch:
    """Check the launch POSTed to the tool; raises ``LaunchRefused``."""
    if not request.POST.get("id_token"):
        raise LaunchRefused("malformed", "no id_token in the POST")
    config = ToolConfig()
    try:
        # Over HTTPS pylti1p3 first looks for the session cookie its login step set.
        message = ToolMessageLaunch(request, config)
    except LtiException as exc:
        raise LaunchRefused("state", str(exc)) from exc
    try:
        message.validate()
    except OIDCException as exc:
        raise LaunchRefused("malformed", str(exc)) from exc
    claims: dict[str, Any] = dict(message.get_launch_data())
    claims_check(claims)
    assert config.registration is not None and config.deployment is not None
    return ValidLaunch(message=message, claims=claims, registration=config.registration,
                       deployment=config.deployment)


def login_redirect(request: HttpRequest, *, registration_uuid: Any, launch_url: str) -> Any:
    """Answer the platform's OIDC login initiation with a redirect to its authorisation endpoint.
    The tool always returns to its own launch URL, whatever ``target_link_uri`` says."""
    params = request.POST if request.method == "POST" else request.GET
    if not params.get("target_link_uri"):
        raise LaunchRefused("login", "no target_link_uri")
    config = ToolConfig(registration_uuid)
    oidc = DjangoOIDCLogin(request, config, launch_data_storage=DjangoCacheDataStorage())
    try:
        return oidc.redirect(launch_url)
    except OIDCException as exc:
        code = "unknown_platform" if "registration" in str(exc) else "login"
        raise LaunchRefused(code, str(exc)) from exc
    except LtiException as exc:
        raise LaunchRefused("login", str(exc)) from exc


def refusal_context(request: HttpRequest) -> dict[str, str]:
    """What the request says about who was refused, read without trusting or verifying it (for the log)."""
    params = request.POST if request.method == "POST" else request.GET
    out = {"issuer": params.get("iss", ""), "client_id": params.get("client_id", ""),
           "deployment_id": params.get("lti_deployment_id", ""), "sub": ""}
    token = request.POST.get("id_token", "")
    if token:
        try:
            body = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return out
        aud = body.get("aud")
        out.update(issuer=str(body.get("iss", ""))[:255], sub=str(body.get("sub", ""))[:255],
                   client_id=str(aud[0] if isinstance(aud, list) and aud else aud or "")[:255],
                   deployment_id=str(body.get(DEPLOYMENT_CLAIM, ""))[:255])
    return out
