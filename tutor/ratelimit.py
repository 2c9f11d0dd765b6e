"""Rate limits, kept in shared storage so every worker process counts together, and the client
address they count by.

- Sign-in: django-axes (``AXES_*`` settings, database handler) refuses every attempt, the right
  password included, while an address+username has ``TUTOR_LOGIN_FAILURE_LIMITS[0]`` recent failures
  or an address ``[1]`` (password spraying); ``LoginLockoutHandler`` gives each lockout parameter set
  its own limit, which axes alone cannot.
- The API: DRF's ``ScopedRateThrottle`` on the views that name a ``throttle_scope``, per user (per
  client address before sign-in), rates in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``; a refused
  request is not counted. The cache is Redis when ``REDIS_URL`` is set.
- The chat socket: the same throttle and scope as the API's messages (``tutor_message_allowed``), per
  user, so ten sockets or two workers share one limit.

The client address is the connection's peer (``REMOTE_ADDR``); ``X-Forwarded-For`` is believed only
when that peer is one of ``TUTOR_TRUSTED_PROXIES``, and then only the entries those proxies added: a
client cannot name its own address. Serve without the ASGI server's own proxy-header handling
(uvicorn ``--no-proxy-headers``), which by default believes any header that arrives from 127.0.0.1.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import time
from types import SimpleNamespace
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import throttling

# The scope shared by the API's message endpoint and the chat socket.
TUTOR_MESSAGE_SCOPE = "tutor-message"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _proxy_networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    networks = _proxy_networks(tuple(getattr(settings, "TUTOR_TRUSTED_PROXIES", ())))
    return any(address in network for network in networks)


def client_address(request: Any) -> str | None:
    """The client's IP address: the peer, or behind trusted proxies the last address they were
    given that is not one of theirs (see the module docstring). None when the peer is unknown."""
    meta = getattr(request, "META", None) or {}
    peer = _address(str(meta.get("REMOTE_ADDR") or ""))
    if peer is None:
        return None
    if not _trusted(peer):
        return str(peer)
    forwarded = [_address(part) for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed(forwarded):
        if hop is None:  # a proxy we trust passed on something that is not an address: stop there
            break
        if not _trusted(hop):
            return str(hop)
    return str(peer)


# ---------------------------------------------------------------------------------------------
# Sign-in lockout (django-axes)


class LoginLockoutHandler(AxesDatabaseHandler):
    """axes' database handler with one failure limit per entry of ``AXES_LOCKOUT_PARAMETERS``
    (``TUTOR_LOGIN_FAILURE_LIMITS``, in the same order).

    axes compares the largest failure count of all parameter sets with one ``AXES_FAILURE_LIMIT``;
    here each set's count is scaled to that limit first, so an address+username locks after 5
    failures and an address after 50 while both share axes' records, lockout and cool-off.
    """

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        base = int(settings.AXES_FAILURE_LIMIT)
        counts = [sum(qs.values_list("failures_since_start", flat=True))
                  for qs in self.get_user_attempts(request, credentials)]
        limits = list(settings.TUTOR_LOGIN_FAILURE_LIMITS)
        return max((n * base // limit for n, limit in zip(counts, limits, strict=True)), default=0)

    def reset_user_attempts(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        # A sign-in forgets that user's failures from this address only: one valid account must not
        # wipe the address's count of failures with other names (password spraying).
        own = self.filter_user_attempts(request, credentials)[0]
        return int(own.delete()[0])


LOCKED_OUT = "Too many failed sign-in attempts. Please wait a few minutes before trying again."


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """axes' answer to a locked-out sign-in: JSON for the API, the sign-in page otherwise (429)."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": LOCKED_OUT}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": LOCKED_OUT}, status=429)
    response["Retry-After"] = retry_after
    return response


# ---------------------------------------------------------------------------------------------
# Throttles (DRF)


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle with three changes: rates over several units (``8/10s``), anonymous
    clients counted by ``client_address`` (DRF's own ``get_ident`` believes any X-Forwarded-For),
    and users by id and join time (a re-used id, in a recreated database, is another user)."""

    _RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*")

    def timer(self) -> float:  # type: ignore[override]
        # DRF binds time.time once, at import; read the clock at each call instead.
        return time.time()

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        if rate is None:
            return (None, None)
        match = self._RATE.fullmatch(rate)
        if match is None:
            raise ValueError(f"not a throttle rate: {rate!r} (use e.g. 30/m or 8/10s)")
        count, units, unit = match.groups()
        return int(count), int(units or 1) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]

    def get_ident(self, request: Any) -> str:
        return client_address(request) or "unknown"

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            joined = getattr(user, "date_joined", None)
            ident = f"user-{user.pk}-{joined.timestamp() if joined else ''}"
        else:
            ident = f"addr-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def tutor_message_allowed(*, user: Any) -> bool:
    """Count one chat message of ``user`` against the same per-user limit as the API's messages;
    False (and not counted) when the user is over it."""
    # The throttle reads only ``request.user`` and ``view.throttle_scope`` of a request and its view.
    request: Any = SimpleNamespace(user=user, META={})
    view: Any = SimpleNamespace(throttle_scope=TUTOR_MESSAGE_SCOPE)
    return ScopedRateThrottle().allow_request(request, view)
