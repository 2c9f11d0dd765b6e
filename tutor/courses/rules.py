"""The rules of how a course is taught, each defined once: the valid range of every teacher setting
and what an experiment condition may override. The model fields' validators, the admin and
teacher forms, the condition check and the planner all read these, so a value one of them accepts
is a value every other one runs with unchanged (an arm set outside a range is refused, never
clamped behind the teacher's back).

Plain Python: no Django.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Inclusive ranges of the teacher's settings.
MAX_ATTEMPTS_RANGE: tuple[int, int] = (1, 20)
# "Mastered": predicted p(correct) on a typical item at least this. Above 0.5, or "mastered" would
# include a concept the student is more likely to get wrong than right.
MASTERY_THRESHOLD_RANGE: tuple[float, float] = (0.55, 0.99)
# "Due for review": predicted recall will fall below this (and never above the mastery threshold).
REVIEW_THRESHOLD_RANGE: tuple[float, float] = (0.3, 0.99)
# New items are picked so that the student should succeed with about this probability.
TARGET_SUCCESS_RANGE: tuple[float, float] = (0.7, 0.85)

RANGES: dict[str, tuple[float, float]] = {
    "max_attempts_before_bottom_out": MAX_ATTEMPTS_RANGE,
    "mastery_threshold": MASTERY_THRESHOLD_RANGE,
    "review_threshold": REVIEW_THRESHOLD_RANGE,
    "target_success": TARGET_SUCCESS_RANGE,
}

# What an experiment condition may change, with the type each value must have.
CONDITION_OVERRIDES: dict[str, type] = {
    "max_attempts_before_bottom_out": int,
    "allow_telling": bool,
    "llm_enabled": bool,
    "llm_backend": str,
    "mastery_threshold": float,
    "review_threshold": float,
    "target_success": float,
}


# "Mastered" and "due for review": the planner, the student's progress page and the teacher's pages
# all decide with these two rules and the student's effective thresholds. They work on floats and
# elementwise on numpy arrays alike.


def is_mastered(p_correct: Any, *, mastery_threshold: float) -> Any:
    """Mastered: the predicted chance of answering a typical item of the KC right is at least the
    mastery threshold."""
    return p_correct >= mastery_threshold


def is_due_for_review(
    *, practised: Any, p_correct_now: Any, p_correct_later: Any, mastery_threshold: float, review_threshold: float
) -> Any:
    """Due for review: a practised KC that is mastered now and is predicted to fall below the review
    threshold by the later time (a KC practised but never mastered needs practice, not review)."""
    return practised & is_mastered(p_correct_now, mastery_threshold=mastery_threshold) & (
        p_correct_later < review_threshold
    )


def allowed_backends(*, deployment: str, extra: Iterable[str] = ()) -> list[str]:
    """LLM backend specs a condition may name: the deployment's own, the scripted one, and those the
    deployment lists in ``TUTOR_LLM_BACKENDS``. A teacher cannot point the tutor at an arbitrary server."""
    return list(dict.fromkeys([deployment, "scripted", *map(str, extra)]))


def range_problem(name: str, value: float) -> str | None:
    """Why ``value`` is out of the setting's range (None when it is within)."""
    low, high = RANGES[name]
    if low <= value <= high:
        return None
    return f"{name} must be between {low:g} and {high:g}, got {value:g}."


def review_above_mastery(*, review_threshold: float, mastery_threshold: float) -> bool:
    return review_threshold > mastery_threshold


def _has_type(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def overrides_problems(overrides: Any, *, allowed_backends: Iterable[str]) -> list[str]:
    """Why a condition's overrides are invalid (empty when they are fine)."""
    if not isinstance(overrides, dict):
        return ["Overrides must be a JSON object, e.g. {\"allow_telling\": false}."]
    backends = list(allowed_backends)
    problems: list[str] = []
    for key, value in overrides.items():
        kind = CONDITION_OVERRIDES.get(key)
        if kind is None:
            problems.append(f"Unknown setting {key!r}; allowed: {', '.join(CONDITION_OVERRIDES)}.")
            continue
        if not _has_type(value, kind):
            problems.append(f"{key} must be {kind.__name__}, got {value!r}.")
            continue
        if key in RANGES:
            problem = range_problem(key, value)
            if problem:
                problems.append(problem)
        if key == "llm_backend" and value not in backends:
            problems.append(f"llm_backend {value!r} is not enabled here; choose one of {backends}.")
    return problems
