"""The Content-Security-Policy header (Django 5.2 has none built in).

Pages load scripts, styles, fonts and images only from this site and open websockets only to it; no
inline script, event handler or style runs (the templates have none, a test checks), no plugin, no
framing and no form posting elsewhere. A view that needs another policy (the API docs page loads
Swagger UI from its CDN) sets the header itself, and the middleware leaves it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

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
    """The API docs page's policy: Swagger UI's scripts, styles and icon from its CDN, and the inline
    style of drf-spectacular's page template. Its start-up script is served by the view itself."""
    from drf_spectacular.settings import spectacular_settings

    parts = urlsplit(str(spectacular_settings.SWAGGER_UI_DIST))
    cdn = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    overrides = {"script-src": f"'self' {cdn}".strip(), "style-src": f"'self' 'unsafe-inline' {cdn}".strip(),
                 "img-src": f"'self' data: {cdn}".strip()}

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = view(request, *args, **kwargs)
        response[HEADER] = policy_header(request, overrides)
        return response

    return wrapped


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if HEADER not in response:
            response[HEADER] = policy_header(request)
        return response
