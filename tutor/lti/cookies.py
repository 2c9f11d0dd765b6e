"""Cookies that must travel inside an LMS's frame (a third-party context)."""

from __future__ import annotations

from http.cookies import Morsel
from typing import Any

from django.http import HttpResponse


class PartitionedMorsel(Morsel[str]):
    """A cookie with the ``Partitioned`` attribute (Python's cookies know it only from 3.14)."""

    def OutputString(self, attrs: Any = None) -> str:
        return super().OutputString(attrs) + "; Partitioned"


def cookie_cross_site(response: HttpResponse, name: str) -> None:
    """Make one cookie set by this response ``SameSite=None; Secure; Partitioned``, so a browser keeps
    and sends it inside another site's frame (call it over HTTPS only)."""
    morsel = response.cookies.get(name)
    if morsel is None:
        return
    partitioned = PartitionedMorsel()
    partitioned.set(morsel.key, morsel.value, morsel.coded_value)
    partitioned.update(morsel)
    partitioned["samesite"] = "None"
    partitioned["secure"] = True
    response.cookies[name] = partitioned
