"""Every HTTP call the tutor makes to an LMS (its key set, token, roster and gradebook endpoints) goes
through ``session()``: one place for the time-outs and the user agent, and one seam for tests."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

USER_AGENT = "tutor-lti/1.0"


class LmsSession(requests.Session):
    """A requests session whose calls time out (the libraries calling it pass no timeout)."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


def session() -> LmsSession:
    connect, read = settings.TUTOR_LTI_HTTP_TIMEOUT
    return LmsSession((float(connect), float(read)))
