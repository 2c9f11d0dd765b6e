"""The checker and the guard read numbers alike (issue 19, defect 2): every way of writing a number
that the checker accepts as the answer, the guard sees as stating that answer."""

from __future__ import annotations

from fractions import Fraction

import pytest

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import check_answer
from tutor.guard import extract_quantities, guard_check

# (answer key, the same value as a student or a model might write it)
SURFACE_FORMS = [
    ("1000", "1 000"),
    ("1000", "1\u00a0000"),  # no-break space
    ("1000", "1\u2009000"),  # thin space
    ("1000", "1\u202f000"),  # narrow no-break space
    ("1000", "1,000"),
    ("1000", "1e3"),
    ("1000", "1 x 10^3"),
    ("1000", "1.0 \u00d7 10\u00b3"),
    ("1000", "one thousand"),
    ("1250.5", "1,250.50"),
    ("3.5", "3,5"),
    ("3.5", "35 x 10^-1"),
    ("3.5", "3.5e0"),
    ("3.5", "7/2"),
    ("3.5", "3 1/2"),
    ("3.5", "3\u00bd"),
    ("3.5", r"\frac{7}{2}"),
    ("3.5", "seven halves"),
    ("3.5", "three and a half"),
    ("3.5", "350%"),
    ("0.75", ".75"),
    ("24", "twenty-four"),
    ("-3", "\u22123"),
]


@pytest.mark.parametrize(("answer", "surface"), SURFACE_FORMS)
def test_the_checker_accepts_the_form_as_the_answer(answer: str, surface: str) -> None:
    spec = AnswerSpec(AnswerKind.NUMERIC, answer)
    assert check_answer(spec, surface).correct, surface
    assert check_answer(spec, f"The total is {surface} pens.").correct, surface


@pytest.mark.parametrize(("answer", "surface"), SURFACE_FORMS)
def test_the_guard_sees_the_form_state_the_answer(answer: str, surface: str) -> None:
    verdict = guard_check(
        f"The total is {surface} pens.", answer=answer, released=False, authored_text="", allowed_numbers=[], move=""
    )
    assert verdict.reveals_answer and not verdict.passed, (surface, verdict)


@pytest.mark.parametrize(("answer", "surface"), SURFACE_FORMS)
def test_both_read_the_same_value(answer: str, surface: str) -> None:
    stated = [q.value for q in extract_quantities(surface) if not q.part]
    assert Fraction(answer) in stated, (surface, stated)


def test_a_student_message_with_thousands_of_digits_does_not_break_the_guard() -> None:
    # int() refuses strings of more than 4300 digits: the old reader raised ValueError here.
    verdict = guard_check(
        "What is half a dozen?", answer="30", released=False, authored_text="", allowed_numbers=["9" * 5000], move=""
    )
    assert verdict.passed
