"""A real LTI 1.3 platform for the tests: the ``lti1p3platform`` package (login initiation, signed
launches, deep-linking responses, the OAuth2 token endpoint, Names and Role Provisioning and
Assignment and Grade Services), served over HTTP on 127.0.0.1 by werkzeug in a thread of the test
process. It keeps its roster, line items and received scores in memory so tests can read what it got.

A test asks it for a launch (``launch_url``), and a ``Browser`` follows the redirects and forms as a
browser would: the tutor's login initiation, the platform's authorisation endpoint, the auto-posted
launch form. ``Tamper`` changes what the platform signs, for the refusal tests.
"""

from __future__ import annotations

import html
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.exceptions import LineItemNotFoundException, LtiServiceException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, NamesRoleProvisioningService, TPage
from werkzeug.serving import make_server
from werkzeug.wrappers import Request as WzRequest
from werkzeug.wrappers import Response as WzResponse

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
INSTRUCTOR = [LIS + "membership#Instructor", LIS + "institution/person#Instructor"]
LEARNER = [LIS + "membership#Learner", LIS + "institution/person#Student"]
MENTOR = [LIS + "membership#Mentor"]
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"


def rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@dataclass
class User:
    sub: str
    name: str
    roles: list[str]
    email: str = ""

    @property
    def given(self) -> str:
        return self.name.split()[0]

    @property
    def family(self) -> str:
        return self.name.split()[-1]


@dataclass
class Tamper:
    """What the platform does wrong when signing one launch."""

    claims: Callable[[dict[str, Any]], None] | None = None  # edit the claims before signing
    expires_in: int = 300
    sign_with: str | None = None  # another private key (PEM), kid of the real one
    nonce: str | None = None  # this nonce instead of the one the tool sent


@dataclass
class LaunchSpec:
    user: User
    context_id: str = "course-101"
    context_title: str = "Algebra 1, period 3"
    resource_link_id: str | None = "link-1"
    deep_link: bool = False
    custom: dict[str, str] | None = None
    tamper: Tamper = field(default_factory=Tamper)
    ags: bool = True
    nrps: bool = True


@dataclass
class ResourceLink:
    id: str
    title: str
    custom: dict[str, str]
    lineitem_id: str | None


class _WzRequest(Request):
    def build_metadata(self, request: WzRequest) -> TRequest:
        return {"method": request.method, "form_data": request.form.to_dict(), "get_data": request.args.to_dict(),
                "headers": request.headers, "content_type": request.content_type, "path": request.path,
                "json": request.get_json(force=True, silent=True)}


class _Conf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self.platform: Platform = kwargs["platform"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        p = self.platform
        assert p.tool is not None, "register the tool with the platform first"
        return (Registration().set_iss(p.issuer).set_client_id(p.client_id).set_deployment_id(p.deployment_id)
                .set_oidc_login_url(p.tool["login"]).set_launch_url(p.tool["launch"])
                .set_deeplink_launch_url(p.tool["launch"]).set_tool_key_set_url(p.tool["jwks"])
                .set_platform_public_key(p.public_key).set_platform_private_key(p.private_key))


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    spec: LaunchSpec
    platform: Platform

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        spec, p = self.spec, self.platform
        user = spec.user
        self.set_user_data(user.sub, user.roles, full_name=user.name, email_address=user.email or None)
        self.lti_claim_user_data.update({"given_name": user.given, "family_name": user.family})  # type: ignore[union-attr]
        self.set_launch_context_claim(spec.context_id, context_title=spec.context_title, context_label="ALG1",
                                      context_types=["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"])
        if spec.nrps:
            self.set_nrps(f"{p.url}/nrps/{spec.context_id}")
        if spec.deep_link:
            self.set_dl(f"{p.url}/deep_link_return/{spec.context_id}", title="Add an activity",
                        accept_types={"ltiResourceLink"}, extra_data={"opaque": "kept"})
            return
        link = p.links.get(spec.resource_link_id or "")
        if spec.resource_link_id:
            self.set_resource_link_claim(spec.resource_link_id, title=link.title if link else "Tutor")
        custom = dict(link.custom) if link else {}
        custom.update(spec.custom or {})
        if custom:
            self.set_custom_parameters_claim(custom)
        if spec.ags:
            lineitem = f"{p.url}/ags/{spec.context_id}/lineitems/{link.lineitem_id}" \
                if link and link.lineitem_id else None
            self.set_ags(f"{p.url}/ags/{spec.context_id}/lineitems", lineitem)
        self.set_launch_presentation_claim(document_target="iframe", return_url=f"{p.url}/return")

    def get_launch_data(self) -> tuple[dict[str, Any], str]:
        message, state = super().get_launch_data()
        tamper = self.spec.tamper
        if tamper.nonce is not None:
            message["nonce"] = tamper.nonce
        self.platform.nonces.append(message["nonce"])
        if tamper.claims is not None:
            tamper.claims(message)
        return message, state

    def generate_launch_request(self) -> Any:
        tamper = self.spec.tamper
        self.set_id_token_expiration(tamper.expires_in)
        if tamper.sign_with is None:
            return super().generate_launch_request()
        assert self._registration is not None
        if self._dl:  # as the parent does for a deep-linking request
            self.set_launch_url(self._registration.get_deeplink_launch_url() or "")
        message, state = self.get_launch_data()
        if self._dl and self._deep_linking_launch_data:
            message["https://purl.imsglobal.org/spec/lti/claim/message_type"] = "LtiDeepLinkingRequest"
            message.update(self._deep_linking_launch_data)
        now = int(time.time())
        message.update(iat=now, exp=now + tamper.expires_in)
        token = jwt.encode(message, tamper.sign_with, algorithm="RS256", headers={"kid": self._registration.get_kid()})
        return {"state": state, "id_token": token}

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> WzResponse:
        fields = "".join(f'<input type="hidden" name="{k}" value="{html.escape(str(launch_data[k]))}">'
                         for k in ("id_token", "state"))
        page = (f'<!doctype html><title>LMS</title><form id="launch" method="post" '
                f'action="{html.escape(str(launch_data["launch_url"]))}">{fields}</form>'
                '<script>document.getElementById("launch").submit();</script>')
        return WzResponse(page, content_type="text/html")


class _Ags(AssignmentsGradesService):
    platform: Platform
    context_id: str

    def _items(self) -> list[dict[str, Any]]:
        return [li for li in self.platform.lineitems.values() if li["context"] == self.context_id]

    def _public(self, li: dict[str, Any]) -> TLineItem:
        return {k: v for k, v in li.items() if k != "context"}  # type: ignore[return-value]

    def find_lineitems(self, page: int = 1, limit: int | None = None, line_item_id: str | None = None,
                       resource_link_id: str | None = None, resource_id: str | None = None,
                       tag: str | None = None) -> TPage:
        items = [self._public(li) for li in self._items()
                 if (resource_link_id is None or li.get("resourceLinkId") == resource_link_id)
                 and (tag is None or li.get("tag") == tag)]
        return {"content": items, "has_next": False, "next": None}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        li = self.platform.lineitems.get(line_item_id)
        if li is None:
            raise LineItemNotFoundException(line_item_id)
        return self._public(li)

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        return self._public(self.platform.lineitem_add(self.context_id, dict(creation_data)))

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        raise LtiServiceException("not supported", 405)

    def delete_lineitem(self, line_item_id: str) -> None:
        raise LtiServiceException("not supported", 405)

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        p = self.platform
        if line_item_id not in p.lineitems:
            raise LineItemNotFoundException(line_item_id)
        if p.score_failures > 0:
            p.score_failures -= 1
            raise LtiServiceException("gradebook temporarily unavailable", 503)
        p.scores.setdefault(line_item_id, []).append(dict(score))
        return UpdateScoreStatus.SUCCESS

    def get_results(self, line_item_id: str, page: int = 1, limit: int | None = None,
                    user_id: str | None = None) -> TPage:
        return {"content": [], "has_next": False, "next": None}


class _Nrps(NamesRoleProvisioningService):
    platform: Platform
    context_id: str

    def get_member_data_page(self, page: int = 1, limit: int | None = None, role: str | None = None,
                             since: str | None = None) -> TPage:
        return {"content": [dict(m) for m in self.platform.members.get(self.context_id, [])], "has_next": False,
                "next": None}

    def get_context_by_id(self) -> Context:
        return Context(id=self.context_id, label="ALG1", title="Algebra 1, period 3")


class Platform:
    """An LMS in a thread: ``start()``, register the tool (``tool_set``), then launch."""

    def __init__(self, *, client_id: str = "tutor-tool", deployment_id: str = "deployment-1",
                 issuer: str | None = None, host: str = "127.0.0.1", ssl_context: Any = None) -> None:
        self.private_key, self.public_key = rsa_pem()
        self.client_id = client_id
        self.deployment_id = deployment_id
        self._issuer = issuer
        self.tool: dict[str, str] | None = None
        self.pending: dict[str, LaunchSpec] = {}
        self.links: dict[str, ResourceLink] = {}
        self.lineitems: dict[str, dict[str, Any]] = {}
        self.scores: dict[str, list[dict[str, Any]]] = {}
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.nonces: list[str] = []
        self.tokens_issued = 0
        self.score_failures = 0  # the next N score posts get a 503
        self.deep_link_errors: list[str] = []
        self._ids = itertools.count(1)
        # Served on 127.0.0.1 whatever ``host`` names: "localhost" is another site than 127.0.0.1 for a browser.
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=ssl_context)
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return self._issuer or self.url

    def start(self) -> Platform:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def tool_set(self, *, login: str, launch: str, jwks: str) -> None:
        self.tool = {"login": login, "launch": launch, "jwks": jwks}

    def conf(self) -> _Conf:
        return _Conf(platform=self)

    # --- what tests call ------------------------------------------------------------------

    def launch_url(self, spec: LaunchSpec) -> str:
        """The tool's login initiation URL for this launch (what the LMS's link points the browser to)."""
        hint = uuid.uuid4().hex
        self.pending[hint] = spec
        login = _Login(None, self.conf())
        login.set_lti_message_hint(hint=hint)
        return str(login.initiate_login(spec.user.sub))

    def link_add(self, link_id: str, *, title: str = "Tutor", custom: dict[str, str] | None = None,
                 context_id: str = "course-101", gradebook: bool = False) -> ResourceLink:
        lineitem = None
        if gradebook:
            lineitem = self.lineitem_add(context_id, {"label": title, "scoreMaximum": 100,
                                                      "resourceLinkId": link_id})["id"].rsplit("/", 1)[1]
        link = ResourceLink(link_id, title, dict(custom or {}), lineitem)
        self.links[link_id] = link
        return link

    def lineitem_add(self, context_id: str, data: dict[str, Any]) -> dict[str, Any]:
        n = str(next(self._ids))
        li = {**data, "id": f"{self.url}/ags/{context_id}/lineitems/{n}", "context": context_id}
        self.lineitems[n] = li
        return li

    def scores_for(self, link_id: str) -> list[dict[str, Any]]:
        link = self.links[link_id]
        if link.lineitem_id is None:
            found = [n for n, li in self.lineitems.items() if li.get("resourceLinkId") == link_id]
            return self.scores.get(found[0], []) if found else []
        return self.scores.get(link.lineitem_id, [])

    # --- HTTP -----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = WzRequest(environ)
        try:
            response = self._route(request)
        except Exception as exc:  # the test platform reports its own bugs to the test, not as a hang
            response = WzResponse(f"platform error: {exc!r}", status=500)
        return response(environ, start_response)

    def _route(self, request: WzRequest) -> WzResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts == ["jwks"]:
            return self._json({"keys": [Registration.get_jwk(self.public_key)]})
        if parts == ["auth"]:
            return self._auth(request)
        if parts == ["token"]:
            return self._token(request)
        if parts[:1] == ["deep_link_return"] and len(parts) == 2:
            return self._deep_link_return(request, parts[1])
        if parts[:1] == ["nrps"] and len(parts) == 2:
            service = _Nrps(_WzRequest(request), self.conf(), f"{self.url}/nrps/{parts[1]}")
            service.platform, service.context_id = self, parts[1]
            service.platform_config.get_registration()
            return self._service(service.handle_resp(service.handle_get_members))
        if parts[:1] == ["ags"] and len(parts) >= 3 and parts[2] == "lineitems":
            return self._ags(request, parts[1], parts[3:])
        if parts == ["frame"]:
            src = html.escape(request.args["src"])
            return WzResponse(f'<!doctype html><title>LMS course</title><h1>LMS course</h1>'
                              f'<iframe id="tool" src="{src}" width="1000" height="800" '
                              f'allow="clipboard-write"></iframe>', content_type="text/html")
        return WzResponse("not found", status=404)

    def _json(self, data: Any, status: int = 200) -> WzResponse:
        return WzResponse(json.dumps(data), status=status, content_type="application/json")

    def _service(self, resp: Any) -> WzResponse:
        if 200 <= resp.code < 300:
            body = resp.result.get("content", resp.result) if isinstance(resp.result, dict) else resp.result
            return WzResponse(json.dumps(body) if body is not None else "", status=resp.code,
                              content_type=resp.media_type)
        return self._json({"error": resp.message}, resp.code)

    def _auth(self, request: WzRequest) -> WzResponse:
        spec = self.pending.get(request.args.get("lti_message_hint", ""))
        if spec is None or request.args.get("login_hint") != spec.user.sub:
            return WzResponse("unknown launch", status=400)
        launch = _Launch(_WzRequest(request), self.conf())
        launch.spec, launch.platform = spec, self
        return launch.lti_launch()  # type: ignore[no-any-return]

    def _token(self, request: WzRequest) -> WzResponse:
        conf = self.conf()
        conf.get_registration()
        try:
            token = conf.get_access_token(request.form.to_dict())
        except Exception as exc:
            return self._json({"error": "invalid_client", "error_description": str(exc)}, 401)
        self.tokens_issued += 1
        return self._json(token)

    def _ags(self, request: WzRequest, context_id: str, rest: list[str]) -> WzResponse:
        conf = self.conf()
        conf.get_registration()
        base = f"{self.url}/ags/{context_id}/lineitems"
        service = _Ags(_WzRequest(request), conf, base, f"{base}/{rest[0]}" if rest else None)
        service.platform, service.context_id = self, context_id
        if not rest:
            handler = service.handle_get_lineitems if request.method == "GET" else service.handle_create_lineitem
            return self._service(service.handle_resp(handler))
        if len(rest) == 2 and rest[1] == "scores":
            return self._service(service.handle_resp(service.handle_update_score, line_item_id=rest[0]))
        return self._service(service.handle_resp(service.handle_get_lineitem, line_item_id=rest[0]))

    def _deep_link_return(self, request: WzRequest, context_id: str) -> WzResponse:
        conf = self.conf()
        conf.get_registration()
        try:
            items = conf.validate_deeplinking_resp(request.form.to_dict())
        except Exception as exc:
            self.deep_link_errors.append(repr(exc))
            return WzResponse(f"deep link refused: {exc!r}", status=400)
        made = []
        for item in items:
            link_id = f"dl-{next(self._ids)}"
            link = self.link_add(link_id, title=str(item.get("title") or ""), custom=dict(item.get("custom") or {}),
                                 context_id=context_id, gradebook="lineItem" in item)
            if "lineItem" in item and link.lineitem_id:
                self.lineitems[link.lineitem_id].update(item["lineItem"])
            made.append(link_id)
        return self._json({"created": made})


class FormParser(HTMLParser):
    """A page's forms: each one's action and the inputs a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._fields = {}
            self.forms.append((a.get("action", ""), self._fields))
        elif self._fields is None:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self._fields[a["name"]] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and (self._select not in self._fields or "selected" in a):
            self._fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "form":
            self._fields = None


def form_of(page: requests.Response, action: str = "") -> tuple[str, dict[str, str]]:
    """The page's first form whose action contains ``action`` (the log-out form in the menu aside)."""
    parser = FormParser()
    parser.feed(page.text)
    for found, fields in parser.forms:
        if action in found and "/accounts/logout/" not in found:
            return urljoin(page.url, found), dict(fields)
    raise AssertionError(f"no form with action {action!r} in {page.url}: {page.text[:1000]}")


class Browser:
    """What a browser does between an LMS and the tutor: follow redirects, submit the auto-posting
    forms, keep each site's cookies."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def launch(self, platform: Platform, spec: LaunchSpec) -> requests.Response:
        page = self.http.get(platform.launch_url(spec), timeout=30)
        if page.status_code != 200 or "<form" not in page.text or 'id="launch"' not in page.text:
            return page  # the tool refused the login initiation (or the platform its request)
        action, fields = form_of(page)
        return self.http.post(action, data=fields, timeout=30)

    def submit(self, page: requests.Response, action: str = "", **changes: str) -> requests.Response:
        action, fields = form_of(page, action)
        fields.update(changes)
        return self.http.post(action, data=fields, headers={"Referer": page.url}, timeout=30)
