"""Version stamps of data that processes cache, changed on every edit, so that what a process builds
once and keeps (the tutor's view of a step) is rebuilt after a teacher changes it.

A stamp lives in Django's cache: Redis in production, so an edit in one worker reaches them all. It is
a random token rather than a counter, so a cache that lost the key (a Redis restart) can never hand
out an old stamp again. Edits are noticed through model signals (``content.apps``); a course-pack
import writes its rows in bulk, past the signals, but only new rows, and its new course changes the
stamp anyway.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.cache import cache

log = logging.getLogger(__name__)

CONTENT = "content-version"


def stamp(key: str) -> str | None:
    """The current stamp, or None when the cache cannot be reached (then nothing should be cached)."""
    try:
        value = cache.get(key)
        if value is None:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            value = cache.get(key)
    except Exception:  # a cache outage must not stop tutoring; callers read the database instead
        log.warning("version stamp %s unavailable; reading uncached", key, exc_info=True)
        return None
    return str(value) if value is not None else None


def content_version() -> str | None:
    """The authored content's stamp (see ``stamp``)."""
    return stamp(CONTENT)


def bump(key: str) -> None:
    """Everything cached under ``key`` is stale from now on."""
    try:
        cache.set(key, uuid.uuid4().hex, timeout=None)
    except Exception:  # the edit itself is saved; workers may keep the old copy until the next edit
        log.exception("could not mark %s as changed", key)


def content_changed(**kwargs: Any) -> None:
    """Signal receiver: authored content was saved or deleted."""
    bump(CONTENT)
