"""Is the student's attempt right? Deterministic answer checking (sympy, numeric tolerance, choice,
text) against the authored answer specification, with misconception patterns."""

from tutor.checking.checker import (
    TIME_BOUND_SECONDS,
    AnswerSpecError,
    CheckResult,
    MisconceptionPattern,
    check_answer,
)

__all__ = ["TIME_BOUND_SECONDS", "AnswerSpecError", "CheckResult", "MisconceptionPattern", "check_answer"]
