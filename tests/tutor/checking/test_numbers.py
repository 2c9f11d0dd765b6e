"""The one number reader shared by the answer checker and the guard (tutor/checking/numbers.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from tutor.checking import TIME_BOUND_SECONDS
from tutor.checking.numbers import false_equalities, normalise, read_numbers

REPO = Path(__file__).resolve().parents[3]


def values(text: str) -> list[Fraction | None]:
    return [n.value for n in read_numbers(normalise(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 000", ["1000"]),
        ("1\u00a0000", ["1000"]),
        ("1\u2009000", ["1000"]),  # thin space
        ("1\u202f000", ["1000"]),  # narrow no-break space
        ("1,000,000", ["1000000"]),
        ("1,250.50", ["2501/2"]),
        ("1 000,5", ["2001/2"]),
        ("3,5", ["7/2"]),
        ("12,50", ["25/2"]),
        (".75", ["3/4"]),
        ("3.5e0", ["7/2"]),
        ("0.35E1", ["7/2"]),
        ("35 x 10^-1", ["7/2"]),
        ("35 \u00d7 10\u207b\u00b9", ["7/2"]),
        ("1.0 x 10^(3)", ["1000"]),
        ("7/2", ["7/2"]),
        ("3 1/2", ["7/2"]),
        ("3½", ["7/2"]),
        (r"\frac{7}{2}", ["7/2"]),
        (r"\dfrac72", ["7/2"]),
        ("seven halves", ["7/2"]),
        ("three and a half", ["7/2"]),
        ("3 and a half", ["7/2"]),
        ("twenty-four", ["24"]),
        ("one hundred and five", ["105"]),
        ("350%", ["350"]),
        ("x = -3", ["-3"]),
        ("the answer is -3", ["-3"]),
        ("\u22123", ["-3"]),
        ("5 - 3", ["5", "3"]),
        ("x - 3", ["3"]),
    ],
)
def test_surface_forms(text: str, expected: list[str]) -> None:
    assert values(text) == [Fraction(v) for v in expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,3", ["1", "2", "3"]),  # a list, not decimal commas
        ("(3,5)", ["3", "5"]),  # a pair
        ("the 2nd step", []),
        ("6 cm^2", ["6"]),  # the exponent of a unit is not a quantity
        ("25x4", ["25", "4"]),
        ("1800 + 720 = 25_0", ["1800", "720"]),  # a blank to fill in
    ],
)
def test_lists_pairs_ordinals_and_exponents_are_not_misread(text: str, expected: list[str]) -> None:
    assert values(text) == [Fraction(v) for v in expected]


def test_fractions_divisions_and_percentages_say_how_they_were_written() -> None:
    fraction, division, decimal_division, percent = (
        read_numbers(t)[0] for t in ("3/4", "12 / 2", "2.5/5", "50 per cent")
    )
    assert (fraction.kind, [p.value for p in fraction.parts]) == ("fraction", [3, 4])
    assert (division.kind, division.value, [p.value for p in division.parts]) == ("division", 6, [12, 2])
    assert decimal_division.kind == "division" and decimal_division.value == Fraction(1, 2)
    assert (percent.value, percent.percent) == (50, True)


def test_numbers_too_large_to_compute_are_listed_without_a_value() -> None:
    huge_exponent, huge_digits = read_numbers("1e999999999"), read_numbers("9" * 5000)
    assert huge_exponent[0].value is None and huge_exponent[0].problem == "too big"
    assert huge_digits[0].value is None  # int() refuses more than 4300 digits: never asked
    assert read_numbers("1/0")[0].problem == "zero denominator"


def test_positions_refer_to_the_normalised_text() -> None:
    text = normalise(r"So $\frac{1}{2}$ of 1 000 is 500.")
    for number in read_numbers(text):
        assert text[number.start : number.end] == number.text


def test_the_reader_loads_neither_sympy_nor_django() -> None:
    code = (
        "import sys, tutor.checking.numbers, tutor.checking;"
        "bad = [m for m in ('sympy', 'django') if m in sys.modules]; print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "text",
    ["6 = 5", "7 = x = 5", "2+2 = 5", "$25*4=$110", "Madeline spends $220*12=$2540 a year", "2/3 = 0.66",
     "(2 + 3 = 6)", "2\u00b3 = 9", r"$12 \times 2 = 25$", "50% = 0.6", "24 / 2 = 10", "1 000 + 1 = 1 000",
     "Two dozens is 24, and 24 + 6 = 31"],
)
def test_false_equalities_are_found(text: str) -> None:
    assert false_equalities(text), text


@pytest.mark.parametrize(
    "text",
    ["x = 5", "24 + 6 = 30", "Madeline spends $25*4=$100 on food", "$220*12=$2640", "1/3 = 0.33", "10/3 \u2248 3",
     "2x + 5 = 11", "x - 5 = 3", "half of 40 = 20", "3 groups of 4 = 12", "24 and 6 = 30", "2 = 2 dozen",
     "12 cm = 120 mm", "A = 1/2 x b x h", "If x equals three, 2(3) + 5 = 11.", "2^3 = 8", "1/4 + 1/4 = 2/4",
     "3 x 8 = 24 and 24 - 4 = 20", "2.5 x 12 = 30.0", "1,000 + 500 = 1,500", "-7 + 12 = 5"],
)
def test_true_or_unreadable_equalities_are_not(text: str) -> None:
    assert false_equalities(text) == [], text


def test_plain_numbers_count_only_when_asked() -> None:
    assert false_equalities("Day 2 = 48") == ["2 = 48"]
    assert false_equalities("Day 2 = 48", bare=False) == []
    assert false_equalities("25 x 4 = 110", bare=False) == ["25 x 4 = 110"]


@pytest.mark.parametrize(
    "text",
    ["2^" * 2000 + "2 = 4", "1=" * 2000, "-" * 2000 + "2 = 4", "(" * 2000 + "1" + ")" * 2000 + " = 1", "9 " * 2000,
     "1 + " * 1000 + "1 = 2", "3,5," * 1000],
    ids=lambda text: repr(text[:12]),
)
def test_hostile_text_is_read_quickly_and_never_raises(text: str) -> None:
    started = time.perf_counter()
    read_numbers(normalise(text))
    false_equalities(text)
    assert time.perf_counter() - started < TIME_BOUND_SECONDS
