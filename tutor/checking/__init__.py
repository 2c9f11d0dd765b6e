"""Is the student's attempt right? Deterministic answer checking (sympy, numeric tolerance, choice,
text) against the authored answer specification, with misconception patterns; and the one number
reader (``tutor.checking.numbers``) that the checker and the guard share.

The checker is imported on first use: the guard reads numbers with ``tutor.checking.numbers`` on
every streamed reply and must not wait for sympy to load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tutor.checking.checker import (
        TIME_BOUND_SECONDS,
        AnswerSpecError,
        CheckResult,
        MisconceptionPattern,
        check_answer,
    )

__all__ = ["TIME_BOUND_SECONDS", "AnswerSpecError", "CheckResult", "MisconceptionPattern", "check_answer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("tutor.checking.checker"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
