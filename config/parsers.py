"""The API's JSON parser: DRF's, refusing documents nested too deeply with a 400.

Python's JSON decoder raises ``RecursionError`` (not a ``ValueError``) on a deeply nested document,
which DRF's parser lets through as a 500 (Django's debug page with ``DEBUG=1``). No request of this
API nests more than a few levels, so anything deeper than ``MAX_DEPTH`` is refused as a parse error.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32


def nesting_depth(data: Any, limit: int) -> int:
    """How deeply ``data`` nests lists and objects, counted up to ``limit + 1`` (iteratively, so any
    depth is safe to measure)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep") from exc
        if nesting_depth(data, MAX_DEPTH) > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep")
        return data
