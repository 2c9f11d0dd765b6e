"""The pedagogical guard: every candidate tutor reply is checked here before it is sent."""

from tutor.guard.guard import (
    MIN_HINT_OVERLAP,
    GuardVerdict,
    Quantity,
    answer_leak,
    choose_reply,
    extract_quantities,
    guard_check,
    token_overlap,
    unshowable,
)

__all__ = [
    "MIN_HINT_OVERLAP",
    "GuardVerdict",
    "Quantity",
    "answer_leak",
    "choose_reply",
    "extract_quantities",
    "guard_check",
    "token_overlap",
    "unshowable",
]
