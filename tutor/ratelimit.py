"""Rate limits that hold across worker processes: fixed-window counters in Django's cache (Redis in
production, so every worker counts together).

- sign-in: failed logins per client address and username, and per address alone (password
  spraying), enforced by ``LoginRateLimitBackend`` before any password is checked;
- the tutoring API's messages and the research exports: ``RouteThrottle`` (DRF) per user.
  The websocket chat has its own per-connection limit in ``tutor.consumers``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from rest_framework.throttling import BaseThrottle

LOGIN_LIMIT: tuple[int, float] = settings.TUTOR_LOGIN_RATE_LIMIT  # failures per seconds
LOGIN_IP_LIMIT: tuple[int, float] = settings.TUTOR_LOGIN_IP_RATE_LIMIT
# DRF route name (or prefix ending in "-") → (requests, seconds) per user.
ROUTE_LIMITS: dict[str, tuple[int, float]] = settings.TUTOR_API_RATE_LIMITS


def _key(*parts: str) -> str:
    return "rl:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _window(key: str, seconds: float, at: float | None = None) -> str:
    return f"{key}:{int((time.time() if at is None else at) // seconds)}"


def count(key: str, seconds: float) -> int:
    """Events in the current and the previous window: every event of the last ``seconds`` counts, so
    a burst cannot slip through at a window boundary (an event may count for up to twice as long)."""
    now = time.time()
    windows = [_window(key, seconds, now), _window(key, seconds, now - seconds)]
    return sum(int(v) for v in cache.get_many(windows).values())


def hit(key: str, seconds: float) -> int:
    """Count one event in the current window; returns the count including it."""
    window = _window(key, seconds)
    if cache.add(window, 1, timeout=int(2 * seconds) + 1):
        return 1
    try:
        return int(cache.incr(window))
    except ValueError:  # expired between add and incr
        cache.add(window, 1, timeout=int(2 * seconds) + 1)
        return 1


def client_address(request: Any) -> str:
    """The client's address as the ASGI/WSGI server saw it (run daphne with --proxy-headers behind a proxy)."""
    meta = getattr(request, "META", None) or {}
    return str(meta.get("REMOTE_ADDR") or "unknown")


def _login_keys(request: Any, username: str) -> tuple[str, str]:
    address = client_address(request)
    return _key("login", address, username.strip().lower()), _key("login-ip", address)


def login_blocked(request: Any, username: str) -> bool:
    user_key, ip_key = _login_keys(request, username)
    return count(user_key, LOGIN_LIMIT[1]) >= LOGIN_LIMIT[0] or count(ip_key, LOGIN_IP_LIMIT[1]) >= LOGIN_IP_LIMIT[0]


class LoginRateLimitBackend:
    """First in ``AUTHENTICATION_BACKENDS``: checks no password itself; refuses every attempt (even with
    the right password) while the address+username or the address has too many recent failures."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> None:
        if request is not None and username is not None and login_blocked(request, username):
            request.login_rate_limited = True
            raise PermissionDenied("too many failed sign-in attempts")
        return None

    def get_user(self, user_id: Any) -> Any:
        # Sessions started with this backend's path (``force_login`` picks the first backend) still load.
        from django.contrib.auth.backends import ModelBackend

        return ModelBackend().get_user(user_id)


@receiver(user_login_failed, dispatch_uid="tutor-ratelimit-login-failed")
def _count_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    if request is None or getattr(request, "login_rate_limited", False):
        return
    user_key, ip_key = _login_keys(request, str(credentials.get("username", "")))
    hit(user_key, LOGIN_LIMIT[1])
    hit(ip_key, LOGIN_IP_LIMIT[1])


@receiver(user_logged_in, dispatch_uid="tutor-ratelimit-logged-in")
def _forget_failures(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if request is not None and user is not None:
        user_key, _ = _login_keys(request, user.get_username())
        now, seconds = time.time(), LOGIN_LIMIT[1]
        cache.delete_many([_window(user_key, seconds, now), _window(user_key, seconds, now - seconds)])


class RouteThrottle(BaseThrottle):
    """DRF throttle for the routes named in ``TUTOR_API_RATE_LIMITS``; other routes are not limited."""

    def allow_request(self, request: Any, view: Any) -> bool:
        match = getattr(request, "resolver_match", None)
        name = (getattr(match, "url_name", None) or "") if match is not None else ""
        rule = next(((prefix, limit) for prefix, limit in ROUTE_LIMITS.items()
                     if name == prefix or (prefix.endswith("-") and name.startswith(prefix))), None)
        if rule is None:
            return True
        prefix, (limit, seconds) = rule
        user = request.user
        if getattr(user, "is_authenticated", False):
            # The account's creation time keeps a re-used id (a recreated database, tests) apart.
            joined = getattr(user, "date_joined", None)
            who = f"{user.pk}:{joined.timestamp() if joined else ''}"
        else:
            who = client_address(request)
        self._seconds = seconds
        key = _key("api", prefix, who)
        hit(key, seconds)
        return count(key, seconds) <= limit

    def wait(self) -> float | None:
        seconds = getattr(self, "_seconds", None)
        return None if seconds is None else seconds - (time.time() % seconds)
