"""Which LMS pages may frame the tutor for this browser session (``config.csp`` asks, through the
``CSP_FRAME_POLICY`` setting).

A launch from an LMS stores its registration's allowed origins in the session; from then on the
session's pages may be shown in those origins' frames (and its cookies must cross sites). Every
other session keeps ``frame-ancestors 'none'``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

SESSION_KEY = "tutor_lti"


def frame_policy(request: HttpRequest) -> list[str]:
    session = getattr(request, "session", None)
    if session is None:
        return []
    data: Any = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return []
    return [str(o) for o in data.get("frame_origins", []) if isinstance(o, str) and o]


def session_mark(request: HttpRequest, *, registration_id: int, origins: list[str], **extra: Any) -> None:
    request.session[SESSION_KEY] = {"registration": registration_id, "frame_origins": origins, **extra}
