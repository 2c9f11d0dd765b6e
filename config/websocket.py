"""The websocket origin check: a chat socket is opened only by a page of this very site.

Channels' ``AllowedHostsOriginValidator`` compares the Origin's host name with ``ALLOWED_HOSTS``
and ignores its scheme and port, so a page served by any other program on an allowed host (say
``http://127.0.0.1:8080`` beside a tutor on port 8000) could open a student's socket with their
cookie. ``SameOriginValidator`` requires what a browser's same-origin rule means: the Origin equals
the scheme, host and port the socket itself was opened on (the Host header, which must be an
allowed host; the scheme from the ASGI server or, behind a TLS proxy, ``SECURE_PROXY_SSL_HEADER``),
or one of ``CSRF_TRUSTED_ORIGINS``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _origin(scheme: str, netloc: str) -> str:
    scheme, netloc = scheme.lower(), netloc.lower()
    if netloc.endswith(_DEFAULT_PORTS.get(scheme, "\x00")):
        netloc = netloc[: -len(_DEFAULT_PORTS[scheme])]
    return f"{scheme}://{netloc}"


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # as Django's own HttpRequest.get_host()
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _secure(scope: dict[str, Any], headers: dict[str, str]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, value = proxy_header
        meta_name = name.removeprefix("HTTP_").replace("_", "-").lower()
        return headers.get(meta_name, "").split(",")[0].strip() == value
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the handshake in ``scope`` comes from a page of this site (see the module docstring)."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.decode("latin1").lower(), value.decode("latin1"))
    origin, host = headers.get("origin", "").strip(), headers.get("host", "").strip()
    if not origin or not host:
        return False
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    given = _origin(parts.scheme, parts.netloc)
    if given == _origin("https" if _secure(scope, headers) else "http", host):
        return True
    trusted = {_origin(urlsplit(o).scheme, urlsplit(o).netloc) for o in settings.CSRF_TRUSTED_ORIGINS if "*" not in o}
    return given in trusted


class SameOriginValidator:
    """ASGI middleware for websocket routes: refuses the handshake unless ``origin_allowed``."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
