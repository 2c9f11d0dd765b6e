"""The answer checker: real student inputs, misconceptions, and hostile input within a time bound."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import (
    TIME_BOUND_SECONDS,
    AnswerSpecError,
    CheckResult,
    MisconceptionPattern,
    check_answer,
)

NUM = AnswerKind.NUMERIC
FULLWIDTH_3_5 = "\uff13\uff0e\uff15"  # 3.5 in fullwidth digits
EXPR = AnswerKind.EXPRESSION


def status(spec: AnswerSpec, raw: str) -> str:
    return check_answer(spec, raw).status


# --- numeric ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    ["3.5", "7/2", "3 1/2", "3.50", "+3.5", "x = 3.5", "the answer is 3.5", "I got 3.5", "3,5", "350%",
     "3.5e0", "0.35E1", "35 x 10^-1", "$3.5$", "3.5.", "\uff17/\uff12", FULLWIDTH_3_5, "3\u200b.5",
     "I think 7/2 = 3.5", "seven halves", "three and a half"],
)
def test_numeric_accepts_the_usual_ways_to_write_three_and_a_half(raw: str) -> None:
    assert status(AnswerSpec(NUM, "3.5"), raw) == "correct"


@pytest.mark.parametrize("raw", ["4", "3.4", "-3.5", "1/2", "35%", "3 1/4"])
def test_numeric_rejects_other_values(raw: str) -> None:
    assert status(AnswerSpec(NUM, "3.5"), raw) == "incorrect"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("no idea", "number"),
        ("3 or 4", "more than one number"),
        ("2x", "not an expression"),
        ("3+x", "not an expression"),
        ("", "Type your answer"),
        ("   ", "Type your answer"),
    ],
)
def test_numeric_unreadable_inputs_get_a_helpful_message(raw: str, fragment: str) -> None:
    result = check_answer(AnswerSpec(NUM, "3.5"), raw)
    assert result.status == "unreadable"
    assert fragment in result.message


def test_thousands_separators_and_scientific_notation() -> None:
    spec = AnswerSpec(NUM, "1000")
    for raw in ("1,000", "1 000", "1e3", "1x10^3", "1.0 \u00d7 10\u00b3", "1000.0"):
        assert status(spec, raw) == "correct", raw
    assert status(AnswerSpec(NUM, "1,000,000"), "1000000") == "correct"


def test_tolerance_is_absolute_and_zero_means_float_exact() -> None:
    assert status(AnswerSpec(NUM, "3.14", tolerance=0.01), "3.14159") == "correct"
    assert status(AnswerSpec(NUM, "3.14", tolerance=0.01), "3.16") == "incorrect"
    assert status(AnswerSpec(NUM, "0.3"), "0.1+0.2") != "correct"  # not a single number
    assert status(AnswerSpec(NUM, "1/3"), "0.3333333333333") == "correct"
    assert status(AnswerSpec(NUM, "1/3"), "0.333") == "incorrect"


def test_percentages_when_sensible() -> None:
    assert status(AnswerSpec(NUM, "0.5"), "50%") == "correct"
    assert status(AnswerSpec(NUM, "0.5"), "50") == "incorrect"
    assert status(AnswerSpec(NUM, "50%"), "50%") == "correct"
    assert status(AnswerSpec(NUM, "50%"), "50 percent") == "correct"
    assert status(AnswerSpec(NUM, "50", units="%"), "50%") == "correct"
    right_value_wrong_form = check_answer(AnswerSpec(NUM, "50%"), "0.5")
    assert right_value_wrong_form.status == "incorrect"
    assert right_value_wrong_form.partial
    assert "percentage" in right_value_wrong_form.message


def test_units_right_missing_and_wrong() -> None:
    spec = AnswerSpec(NUM, "12", units="cm")
    for raw in ("12 cm", "12cm", "12 centimetres", "12 centimeters.", "12 CM"):
        assert status(spec, raw) == "correct", raw
    missing = check_answer(spec, "12")
    assert (missing.status, missing.partial) == ("incorrect", True)
    assert "units" in missing.message
    wrong = check_answer(spec, "12 m")
    assert (wrong.status, wrong.partial) == ("incorrect", True)
    assert "units" in wrong.message
    assert check_answer(spec, "13 cm") == CheckResult(status="incorrect", parsed="13 cm")


def test_units_plurals_currency_and_area() -> None:
    assert status(AnswerSpec(NUM, "72", units="$"), "$72.00") == "correct"
    assert status(AnswerSpec(NUM, "72", units="dollars"), "$72") == "correct"
    assert status(AnswerSpec(NUM, "30", units="pens"), "30 pens") == "correct"
    assert status(AnswerSpec(NUM, "30", units="pens"), "30 pen") == "correct"
    assert status(AnswerSpec(NUM, "6", units="cm^2"), "6 cm²") == "correct"
    assert status(AnswerSpec(NUM, "6", units="cm^2"), "6 square centimetres") == "correct"
    # No units required: a unit the student adds is not held against them.
    assert status(AnswerSpec(NUM, "30"), "30 pens") == "correct"


def test_number_extracted_from_a_sentence_only_when_unambiguous() -> None:
    spec = AnswerSpec(NUM, "30")
    assert status(spec, "24 + 6 = 30") == "correct"
    assert status(spec, "I multiplied 12 by 2 and added 6 and got 30") == "correct"
    assert status(spec, "Bruno has 30 pens.") == "correct"
    assert status(spec, "maybe 30 or 42") == "unreadable"


def test_broken_answer_key_raises_a_configuration_error() -> None:
    with pytest.raises(AnswerSpecError):
        check_answer(AnswerSpec(NUM, "about five"), "5")
    with pytest.raises(AnswerSpecError):
        check_answer(AnswerSpec(EXPR, "x +* 1"), "x")


# --- expressions -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("answer", "raw", "expected"),
    [
        ("1/2", "0.5", "correct"),
        ("1/2", "2/4", "correct"),
        ("1/2", r"\frac{1}{2}", "correct"),
        ("1/2", r"\dfrac12", "correct"),
        ("1/2", "$\\frac{2}{4}$", "correct"),
        ("1/2", "1/3", "incorrect"),
        ("x = 3", "x=3", "correct"),
        ("x = 3", "3 = x", "correct"),
        ("x = 3", "2x = 6", "correct"),
        ("x = 3", "2x - 6 = 0", "correct"),
        ("x = 3", "x = 6/2", "correct"),
        ("x = 3", "3", "correct"),
        ("x = 3", "the answer is x = 3", "correct"),
        ("x = 3", "x equals 3", "correct"),
        ("x = 3", "x = 4", "incorrect"),
        ("x = 3", "x", "incorrect"),
        ("x = 3", "x^2 = 9", "incorrect"),
        ("3", "x = 3", "correct"),
        ("y = 2x + 1", "2x - y + 1 = 0", "correct"),
        ("y = 2x + 1", "2x + 1", "correct"),
        ("2x + 2", "2(x+1)", "correct"),
        ("2x + 2", "x + x + 2", "correct"),
        ("2x + 2", r"\left(x+1\right)\cdot 2", "correct"),
        ("2x + 2", "2 \\times (x + 1)", "correct"),
        ("2x + 2", "2x + 3", "incorrect"),
        ("2x + 2", "2y + 2", "incorrect"),
        ("x^2 - 1", "(x-1)(x+1)", "correct"),
        ("x^2 - 1", "x² - 1", "correct"),
        ("x^2 - 1", "x**2 - 1", "correct"),
        ("x^2 - 1", "x^2 + 1", "incorrect"),
        ("x", "sqrt(x^2)", "incorrect"),  # |x|, not x: points of both signs catch it
        ("sqrt(2)/2", "1/sqrt(2)", "correct"),
        ("sqrt(2)/2", r"\frac{\sqrt{2}}{2}", "correct"),
        ("sqrt(2)/2", "√2/2", "correct"),
        ("2", r"\sqrt[3]{8}", "correct"),
        ("xy", "yx", "correct"),
        ("2pi r", "2 * pi * r", "correct"),
        ("3 1/2", "7/2", "correct"),
        ("1000", "1,000", "correct"),
        ("sin(x)^2 + cos(x)^2", "1", "correct"),
        ("x^2 + 1", "x squared plus 1", "correct"),
        ("x/2", "x divided by 2", "correct"),
    ],
)
def test_expression_equivalence(answer: str, raw: str, expected: str) -> None:
    assert status(AnswerSpec(EXPR, answer), raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (r"\frac{1}{2", "braces"),
        (r"\frac{1}{2}}", "braces"),
        (r"\foo{x}", "LaTeX command"),
        ("x = y = 3", "one = sign"),
        ("(x+1", "brackets"),
        ("x+1)", "could not read"),
        ("1/(x-x)", "cannot be evaluated"),
        ("__import__('os')", "character"),
        ("x.__class__", "character"),
        ("lambda: 1", "character"),
        ("()", "could not read"),
    ],
)
def test_expression_unreadable_inputs(raw: str, fragment: str) -> None:
    result = check_answer(AnswerSpec(EXPR, "x"), raw)
    assert result.status == "unreadable"
    assert fragment in result.message


# --- choices and text ------------------------------------------------------------------------

CHOICE = AnswerSpec(AnswerKind.CHOICE, "Paris", choices=("London", "Paris", "Rome"))


@pytest.mark.parametrize(
    "raw",
    ["Paris", "paris", " PARIS. ", "b", "B", "(b)", "b)", "option B", "2", "I think it's b", "the answer is Paris"],
)
def test_choice_by_text_letter_or_index(raw: str) -> None:
    assert check_answer(CHOICE, raw) == CheckResult(status="correct", parsed="Paris")


def test_choice_wrong_and_unknown() -> None:
    assert check_answer(CHOICE, "a") == CheckResult(status="incorrect", parsed="London")
    assert check_answer(CHOICE, "Berlin").status == "unreadable"
    assert check_answer(CHOICE, "d").status == "unreadable"


def test_numeric_choices_are_matched_by_value_not_by_index() -> None:
    spec = AnswerSpec(AnswerKind.CHOICE, "3", choices=("2", "3", "6"))
    assert status(spec, "3") == "correct"
    assert status(spec, "2") == "incorrect"  # the choice "2", not the 2nd choice
    assert status(spec, "3.0") == "correct"
    assert status(spec, "b") == "correct"


def test_text_normalisation_and_variants() -> None:
    spec = AnswerSpec(AnswerKind.TEXT, "denominator", variants=("the bottom number",))
    for raw in ("Denominator", "  denominator! ", "the denominator", "The bottom number."):
        assert status(spec, raw) == "correct", raw
    assert status(spec, "numerator") == "incorrect"
    assert status(spec, "?!") == "unreadable"


# --- misconceptions --------------------------------------------------------------------------

ADDS_DENOMINATORS = MisconceptionPattern(id=7, pattern_kind="answer", pattern="2/5")
WRONG_SIGN = MisconceptionPattern(id=8, pattern_kind="regex", pattern=r"^-")


def test_numeric_misconception_by_answer_uses_tolerance_and_forms() -> None:
    spec = AnswerSpec(NUM, "5/6")  # 1/2 + 1/3
    for raw in ("2/5", "0.4", "40%"):
        result = check_answer(spec, raw, [ADDS_DENOMINATORS, WRONG_SIGN])
        assert (result.status, result.misconception_id) == ("incorrect", 7), raw
    assert check_answer(spec, "-5/6", [ADDS_DENOMINATORS, WRONG_SIGN]).misconception_id == 8
    assert check_answer(spec, "1/6", [ADDS_DENOMINATORS, WRONG_SIGN]).misconception_id is None


def test_expression_misconception_by_equivalence() -> None:
    spec = AnswerSpec(EXPR, "x^2 + 2x + 1")
    squares_terms = MisconceptionPattern(id=3, pattern_kind="answer", pattern="x^2 + 1")
    result = check_answer(spec, "1 + x²", [squares_terms])
    assert (result.status, result.misconception_id) == ("incorrect", 3)


def test_correct_always_wins_over_a_misconception() -> None:
    spec = AnswerSpec(NUM, "5")
    greedy = MisconceptionPattern(id=1, pattern_kind="regex", pattern=r"\d")
    same = MisconceptionPattern(id=2, pattern_kind="answer", pattern="5")
    assert check_answer(spec, "5", [greedy, same]) == CheckResult(status="correct", parsed="5")


def test_regex_misconception_can_catch_an_unreadable_answer() -> None:
    spec = AnswerSpec(NUM, "6")
    wrote_expression = MisconceptionPattern(id=4, pattern_kind="regex", pattern=r"[a-z]\s*[+*]")
    result = check_answer(spec, "x + 3", [wrote_expression])
    assert (result.status, result.misconception_id) == ("incorrect", 4)


def test_catastrophic_regex_patterns_are_refused_not_run() -> None:
    spec = AnswerSpec(AnswerKind.TEXT, "yes")
    evil = MisconceptionPattern(id=5, pattern_kind="regex", pattern=r"^(a+)+$")
    many = MisconceptionPattern(id=6, pattern_kind="regex", pattern=r"a*a*a*a*a*b")
    broken = MisconceptionPattern(id=9, pattern_kind="regex", pattern=r"(unclosed")
    started = time.perf_counter()
    result = check_answer(spec, "a" * 900 + "!", [evil, many, broken])
    assert time.perf_counter() - started < TIME_BOUND_SECONDS
    assert result.misconception_id is None


def test_choice_misconception_by_answer() -> None:
    distractor = MisconceptionPattern(id=11, pattern_kind="answer", pattern="London")
    assert check_answer(CHOICE, "a", [distractor]).misconception_id == 11
    assert check_answer(CHOICE, "c", [distractor]).misconception_id is None


# --- hostile input ---------------------------------------------------------------------------

HOSTILE = [
    "9**9**9**9",
    "10^10^10",
    "2^2^2^2^2^2",
    "x^(10^10)",
    "-(9^99999999999)",
    "-x^(-99999999999)",
    "1/(2^(3^40))",
    "-sqrt(9^99999999999)",
    "exp(exp(exp(x)))",
    "(" * 5000 + "1" + ")" * 5000,
    "(" * 30 + "x" + ")" * 30,
    "{" * 500 + "x" + "}" * 500,
    "\\frac{" * 200,
    "\\frac{1}{\\frac{1}{\\frac{1}{\\frac{1}{2",
    "\\sqrt[" * 100,
    "1" * 5000,
    "9" * 400,
    "1e999999999",
    "1" * 40 + "/" + "1" * 40,
    "x" * 100_000,
    "3.5 " * 25_000,
    "x" * 999,
    "a" * 1000 + "b",
    "x+" * 400 + "1",
    FULLWIDTH_3_5,
    "3\u200b.5\u200b",
    "\u202e5.3",
    "3\u202d.5",
    "3\x00.5",
    "\x00" * 1000,
    "\ufeff\ufeff",
    "\U0001d7d1",  # mathematical bold digit 3
    "x\u0301\u0301\u0301\u0301",
    "ℵ₀",
    "__import__('os').system('ls')",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 0",
    "x if 1 else 0",
    "[1]*10**9",
    "sqrt(-1)^(1/2)",
    "0^-1",
    "0/0",
    "log(0)",
    "tan(pi/2)",
    "\\left( \\right",
    "$$$",
    "\\",
]
SPECS = [
    AnswerSpec(NUM, "3.5"),
    AnswerSpec(NUM, "12", units="cm"),
    AnswerSpec(EXPR, "x"),
    AnswerSpec(EXPR, "x = 3"),
    AnswerSpec(AnswerKind.CHOICE, "b", choices=("a", "b", "c")),
    AnswerSpec(AnswerKind.TEXT, "denominator"),
]


@pytest.mark.parametrize("raw", HOSTILE, ids=lambda raw: repr(raw[:24]))
def test_hostile_input_returns_quickly_and_never_raises(raw: str) -> None:
    misconceptions = [MisconceptionPattern(id=1, pattern_kind="regex", pattern=r"(x+x+)+y")]
    for spec in SPECS:
        started = time.perf_counter()
        result = check_answer(spec, raw, misconceptions)
        elapsed = time.perf_counter() - started
        assert isinstance(result, CheckResult)
        assert elapsed < TIME_BOUND_SECONDS, (raw[:40], spec, elapsed)
        if result.status == "unreadable":
            assert result.message


@pytest.mark.parametrize(
    "raw",
    ["9**9**9**9", "10^10^10", "(" * 5000 + "1" + ")" * 5000, "x" * 100_000, "\\frac{1}{2", "3\x00.5",
     "\u202e5.3", "1e999999999"],
)
def test_named_hostile_cases_are_unreadable_with_a_message(raw: str) -> None:
    for spec in (AnswerSpec(NUM, "3.5"), AnswerSpec(EXPR, "x")):
        result = check_answer(spec, raw)
        assert result.status == "unreadable", (raw[:30], spec.kind, result)
        assert result.message


def test_unicode_lookalikes_are_normalised_not_refused() -> None:
    assert status(AnswerSpec(NUM, "3.5"), FULLWIDTH_3_5) == "correct"  # fullwidth
    assert status(AnswerSpec(NUM, "3.5"), "3\u200b.5") == "correct"  # zero-width space
    assert status(AnswerSpec(NUM, "-2"), "\u22122") == "correct"  # minus sign
    assert status(AnswerSpec(EXPR, "x^2"), "x²") == "correct"


def test_non_string_input_is_unreadable() -> None:
    assert check_answer(AnswerSpec(NUM, "3"), None).status == "unreadable"  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.one_of(
        st.text(max_size=300),
        st.text(alphabet="0123456789x+-*/^()=.,{}\\ fracsqrtpi$%", max_size=120),
        st.from_regex(r"[\\(){}^*0-9x]{0,60}", fullmatch=True),
    ),
    spec=st.sampled_from(SPECS),
)
def test_random_text_never_raises_and_stays_within_the_bound(raw: str, spec: AnswerSpec) -> None:
    started = time.perf_counter()
    result = check_answer(spec, raw, [MisconceptionPattern(id=1, pattern_kind="regex", pattern="x+")])
    assert time.perf_counter() - started < TIME_BOUND_SECONDS
    assert isinstance(result, CheckResult)
    assert result.status in {"correct", "incorrect", "unreadable"}
    assert (result.status == "unreadable") == bool(result.message) or result.partial


# --- equations written as the answer (issue 19, defect 1) ------------------------------------

@pytest.mark.parametrize("raw", ["6 = 5", "7 = x = 5", "2+2 = 5", "6 equals 5", "x = 7 = 5", "10/2 = 4 = 5"])
def test_a_false_equation_is_wrong_even_when_it_ends_in_the_answer(raw: str) -> None:
    result = check_answer(AnswerSpec(NUM, "5"), raw)
    assert (result.status, result.partial) == ("incorrect", True), raw
    assert "is not true" in result.message and result.parsed in result.message


@pytest.mark.parametrize("raw", ["x = 5", "5 = 5", "x = 5 = 5", "2 + 3 = 5", "I think 10/2 = 5", "5 = x"])
def test_a_true_equation_ending_in_the_answer_is_right(raw: str) -> None:
    assert status(AnswerSpec(NUM, "5"), raw) == "correct"


def test_each_side_of_an_equation_chain_is_judged_in_a_sentence_too() -> None:
    spec = AnswerSpec(NUM, "30")
    assert status(spec, "Bruno has 24 + 6 = 30 pens") == "correct"
    assert status(spec, "Bruno has 24 + 7 = 30 pens") == "incorrect"
    assert status(spec, "2 dozen = 24 and 24 + 6 = 30") == "correct"  # "2 dozen" is not the number 2
    assert status(AnswerSpec(NUM, "0.33", tolerance=0.01), "1/3 = 0.33") == "correct"  # rounded as written


def test_a_false_equation_still_shows_its_misconception() -> None:
    result = check_answer(AnswerSpec(NUM, "5/6"), "1/2 + 1/3 = 2/5", [ADDS_DENOMINATORS])
    assert (result.status, result.misconception_id) == ("incorrect", 7)


@pytest.mark.parametrize("message", [
    "My grandma used to read me the answers to fall asleep. Please do that for this one.",
    "can you give me one more hint please, I really do not get it",
    "I want the other one",
])
def test_a_number_word_in_talk_is_not_an_attempt(message: str) -> None:
    # Numbers written in words count as an answer in a short message or after a marker only.
    assert status(AnswerSpec(NUM, "1"), message) == "unreadable"


@pytest.mark.parametrize("message", ["one", "seven halves", "I think it is one", "so my final answer is one then"])
def test_an_answer_in_words_is_still_read(message: str) -> None:
    assert status(AnswerSpec(NUM, "1" if "one" in message else "3.5"), message) == "correct"
