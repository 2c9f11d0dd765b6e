"""The Content-Security-Policy header (Django 5.2 has none built in).

Pages load scripts, styles, fonts and images only from this site and open websockets only to it; no
inline script, event handler or style runs (the templates have none, a test checks), no plugin, no
framing and no form posting elsewhere. A view that needs another policy (the API docs page shows
images from data: URLs) sets the header itself, and the middleware leaves it alone; a view that
needs one directive changed sets ``response.csp_overrides``.

Framing is the one exception that follows the browser session rather than the page: after a launch
from a school's LMS, the ``CSP_FRAME_POLICY`` function (``tutor.lti.frames.frame_policy``) names the
LMS origins that may frame this session's pages. Those pages then get ``frame-ancestors`` with those
origins and no ``X-Frame-Options``, and over HTTPS the session and CSRF cookies become
``SameSite=None; Secure; Partitioned``: inside the LMS's frame every request is a cross-site one, and
browsers that block third-party cookies still keep a partitioned one (CHIPS) for that LMS's pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from tutor.lti.cookies import cookie_cross_site

HEADER = "Content-Security-Policy"

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy_header(request: HttpRequest, overrides: dict[str, str] | None = None) -> str:
    """The policy for ``request``: websockets may connect back to the host the page came from
    (older browsers do not count ws:/wss: as 'self')."""
    try:
        connect = f"'self' {'wss' if request.is_secure() else 'ws'}://{request.get_host()}"
    except DisallowedHost:  # the error page for a host outside ALLOWED_HOSTS
        connect = "'self'"
    directives = {**POLICY, "connect-src": connect, **(overrides or {})}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def swagger_ui_policy(view: Callable[..., Any]) -> Callable[..., Any]:
    """The API docs page's policy: the site's own, and images from ``data:`` URLs (Swagger UI's
    stylesheet draws its icons with them). Swagger UI's files come from drf-spectacular-sidecar
    under STATIC_URL and its start-up script from the view itself, so no script, style or CDN is
    allowed beyond 'self'."""
    overrides = {"img-src": "'self' data:"}

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = view(request, *args, **kwargs)
        response[HEADER] = policy_header(request, overrides)
        return response

    return wrapped


@functools.cache
def _frame_policy(dotted: str) -> Callable[[HttpRequest], list[str]]:
    return import_string(dotted)  # type: ignore[no-any-return]


def frame_ancestors(request: HttpRequest) -> list[str]:
    """Origins that may frame this request's page (none unless ``CSP_FRAME_POLICY`` names some)."""
    dotted = settings.CSP_FRAME_POLICY
    return list(_frame_policy(dotted)(request)) if dotted else []



def cookies_cross_site(request: HttpRequest, response: HttpResponse) -> None:
    """Let the session and CSRF cookies set by this response travel in a third-party frame.
    Browsers accept ``SameSite=None`` only with ``Secure``, so over plain HTTP nothing changes."""
    if not request.is_secure():
        return
    for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        cookie_cross_site(response, name)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        overrides = dict(getattr(response, "csp_overrides", None) or {})
        ancestors = frame_ancestors(request)
        if ancestors:
            overrides.setdefault("frame-ancestors", " ".join(ancestors))
            cookies_cross_site(request, response)
        if overrides.get("frame-ancestors", "'none'") != "'none'" and HEADER not in response:
            # Modern browsers let frame-ancestors win anyway; without the header older ones agree.
            del response["X-Frame-Options"]
        if HEADER not in response:
            response[HEADER] = policy_header(request, overrides)
        return response
