"""A request id on every log line, so one chat turn can be followed from socket to reply.

An HTTP request takes the proxy's ``X-Request-ID`` (nginx's ``$request_id``) when it is well formed,
else a new one, and sends it back in the response. A websocket consumer calls ``request_id_bind``
for each message it handles. The id lives in a context variable: asgiref copies the context into
the threads of ``sync_to_async``, so the service layer's log lines carry it too.

This module imports no Django at import time: uvicorn's log configuration (``deploy/``) loads
``RequestIdFilter`` before the settings exist.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

# Ids from outside are taken only in this shape (nginx's are 32 hex digits); anything else is replaced.
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

access_log = logging.getLogger("tutor.access")


def request_id_new(incoming: str | None = None) -> str:
    """``incoming`` if it is a well-formed id, else a fresh one."""
    if incoming and _VALID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def request_id_get() -> str:
    return _request_id.get()


def request_id_bind(incoming: str | None = None) -> str:
    """Make ``incoming`` (or a fresh id) the current request id of this task or thread; returns it."""
    rid = request_id_new(incoming)
    _request_id.set(rid)
    return rid


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    """Bind the request id, log one access line per request (JSON fields), echo ``X-Request-ID``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        token, started = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        return self._end(request, response, started)

    async def _acall(self, request: Any) -> Any:
        token, started = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            _request_id.reset(token)
        return self._end(request, response, started)

    @staticmethod
    def _begin(request: Any) -> tuple[contextvars.Token[str], float]:
        rid = request_id_new(request.headers.get("X-Request-ID"))
        request.request_id = rid
        return _request_id.set(rid), time.perf_counter()

    @staticmethod
    def _end(request: Any, response: Any, started: float) -> Any:
        from tutor.ratelimit import client_address  # the address the app believes (trusted proxies)

        rid = request.request_id
        response["X-Request-ID"] = rid
        access_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"request_id": rid, "method": request.method, "path": request.path,
                   "status": response.status_code, "ms": round((time.perf_counter() - started) * 1000, 1),
                   "client": client_address(request) or request.META.get("REMOTE_ADDR", "")},
        )
        return response

