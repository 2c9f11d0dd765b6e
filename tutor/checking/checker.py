"""Is this attempt right? The answer checker for numeric, expression, choice and text steps.

Plain Python with sympy: no Django. ``check_answer`` is a pure function called from worker threads
(Channels consumers, Django views), so it must never raise on student input and never hang.
``signal.alarm`` only works in the main thread, so the time bound is structural instead:

* input is capped (``MAX_INPUT_CHARS``) and control / bidi-override characters are refused before
  anything else looks at it;
* expressions are tokenised by hand against a whitelist (digits, single letters, a few function
  names, ``+ - * / ^ ( ) =``), with caps on tokens, digits per number and bracket depth, and only
  then handed to sympy's ``parse_expr`` with ``evaluate=False``, no ``auto_symbol`` and a global
  namespace holding nothing but the constructors it needs;
* the parsed tree is walked once to bound the magnitude of every power (``9^9^9^9`` and
  ``10^10^10`` are refused there: sympy would hang merely *printing* them);
* equivalence is decided numerically, as WeBWorK does: both sides are evaluated in floating point
  (``cmath``) at a dozen fixed pseudo-random points. No ``simplify``, whose running time is unbounded.

Measured on the hostile inputs in ``tests/tutor/test_checking.py``: every call returns in well under
50 ms once sympy is imported; the tests assert < 2 s (``TIME_BOUND_SECONDS``).

A malformed *answer key* (the teacher's ``AnswerSpec``) is a configuration error, not student
input: it raises ``AnswerSpecError`` so it is logged rather than shown to the student as their fault.
"""

from __future__ import annotations

import cmath
import functools
import math
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import sympy
from sympy.parsing.sympy_parser import auto_number, parse_expr

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import numbers

Status = Literal["correct", "incorrect", "unreadable"]

TIME_BOUND_SECONDS = 2.0
MAX_RAW_CHARS = 4_000  # refused before Unicode normalisation (NFKC can expand text up to 18x)
MAX_INPUT_CHARS = 1_000  # after normalisation
MAX_TOKENS = 200
MAX_DEPTH = 20
MAX_DIGITS = 30
MAX_DECIMAL_EXPONENT = numbers.MAX_EXPONENT
MAX_TREE_NODES = 400
MAX_LITERAL_EXPONENT = 1_000
MAX_LOG10_MAGNITUDE = 300.0
MAX_REGEX_PATTERN = 300
MAX_REGEX_INPUT = 300
MAX_REGEX_QUANTIFIERS = 3


class AnswerSpecError(ValueError):
    """The authored answer itself cannot be read (a teacher's mistake, not the student's)."""


@dataclass(frozen=True)
class MisconceptionPattern:
    """A known wrong answer: ``pattern_kind`` "answer" is checked like the step's answer, "regex"
    is searched in the student's text."""

    id: int
    pattern_kind: Literal["answer", "regex"]
    pattern: str


@dataclass(frozen=True)
class CheckResult:
    status: Status
    parsed: str = ""
    misconception_id: int | None = None
    message: str = ""
    partial: bool = False

    @property
    def correct(self) -> bool:
        return self.status == "correct"


# --- student-facing messages -----------------------------------------------------------------

MSG_EMPTY = "Type your answer first."
MSG_TOO_LONG = "That is too long for an answer — please type just your answer."
MSG_CONTROL = "Your answer contains hidden or control characters — please retype it."
MSG_NUMBER = "I could not read that as a number — try something like 3.5 or 7/2."
MSG_AMBIGUOUS = "I found more than one number — which one is your answer? Type just that one."
MSG_NOT_A_NUMBER = "This step needs a single number, not an expression — try something like 3.5 or 7/2."
MSG_TOO_BIG = "That number is too large for me to work with — check it and try again."
MSG_EXPRESSION = "I could not read that as an expression — try something like 2x + 1, x^2 or x = 3."
MSG_DEPTH = "That has too many nested brackets for me to read — try a simpler form."
MSG_BRACES = "The { } braces don't match — check your LaTeX, or type it as plain text like (1/2)."
MSG_POWERS = "Those powers are too large for me to check — try a simpler form of your answer."
MSG_EQUALS = "Please write a single equation with one = sign, like x = 3."
MSG_UNDEFINED = "That expression cannot be evaluated (is something divided by zero?)."
MSG_CHOICE = "Pick one of the choices — type its letter (a, b, …), its number, or its text."
MSG_MISSING_UNITS = "The number is right — don't forget the units."
MSG_WRONG_UNITS = "The number is right, but check the units."
MSG_PERCENT = "That value is right — now write it as a percentage."
MSG_FALSE_EQUATION = "Your last number is right, but “{equation}” is not true: each side of = must have the same value."


def _unreadable(message: str, parsed: str = "") -> CheckResult:
    return CheckResult(status="unreadable", parsed=parsed, message=message)


# --- sanitising ------------------------------------------------------------------------------

_SUPERSCRIPTS = str.maketrans(
    {"⁰": "^0", "¹": "^1", "²": "^2", "³": "^3", "⁴": "^4", "⁵": "^5", "⁶": "^6",
     "⁷": "^7", "⁸": "^8", "⁹": "^9", "⁻": "^-"}
)
_SYMBOLS = str.maketrans(
    {
        "\u2212": "-",  # minus sign
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u00d7": "*",  # multiplication sign
        "\u00b7": "*",  # middle dot
        "\u22c5": "*",  # dot operator
        "\u00f7": "/",  # division sign
        "\u2044": "/",  # fraction slash (NFKC turns ½ into 1, U+2044, 2)
        "\u2215": "/",  # division slash
        "\u03c0": "pi",
        "\u221a": "sqrt",
        "\u00a0": " ",
        "\u202f": " ",
    }
)
# Invisible characters that only ever hide text: dropped.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Characters that make the text display differently from what it says: refused.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _sanitise(raw: object) -> str | CheckResult:
    """Normalise what the student typed, or explain why it cannot be read."""
    if not isinstance(raw, str):
        return _unreadable(MSG_NUMBER)
    if len(raw) > MAX_RAW_CHARS:
        return _unreadable(MSG_TOO_LONG)
    text = raw.translate(_ZERO_WIDTH)
    if any(ch in _BIDI for ch in text):
        return _unreadable(MSG_CONTROL)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        return _unreadable(MSG_CONTROL)
    # Superscripts and vulgar fractions first: NFKC would turn x² into x2 and 3½ into 31 over 2.
    text = unicodedata.normalize("NFKC", numbers.spell_fractions(text.translate(_SUPERSCRIPTS))).translate(_SYMBOLS)
    text = " ".join(text.split())
    if len(text) > MAX_INPUT_CHARS:
        return _unreadable(MSG_TOO_LONG)
    if not text:
        return _unreadable(MSG_EMPTY)
    return text


def _strip_math_delimiters(text: str) -> str:
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
    return text.rstrip(".!").strip()


_FILLER = re.compile(
    r"^(?:(?:so|thus|therefore|then|ok|okay|well|hmm+|i\s+think|i\s+believe|maybe|my\s+answer\s+is)"
    r"[\s,:]+)*"
    r"(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)|i\s+got|i\s+get|it'?s|it\s+is|is\s+it|result\s*:)?\s*",
    re.IGNORECASE,
)


# --- numbers ---------------------------------------------------------------------------------

_CURRENCY_BEFORE = re.compile(r"([$€£¥])\s*$")
_UNIT_AFTER = re.compile(r"\s*(?P<unit>[a-zµ°$€£][a-zµ°]*(?:\^-?\d)?(?:\s*/\s*[a-zµ°]+(?:\^-?\d)?)?)", re.I)
_MARKERS = re.compile(r"(?:=|\bequals?\b|\bis\b|\bgot\b|\bget\b|\bgives\b|\banswer\s*:|\bmakes\b)", re.I)
_EQUALS_WORDS = re.compile(r"\bequals?\b|\bis\s+equal\s+to\b", re.I)
_VARIABLE_LETTERS = frozenset("xyzn")
_OPERATOR_CHARS = frozenset("+-*/^(")


@dataclass(frozen=True)
class _Number:
    value: float
    percent: bool
    unit: str
    text: str


class _Unreadable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read_number_at(text: str, number: numbers.Number) -> _Number:
    if sum(ch.isdigit() for ch in number.text) > MAX_DIGITS:
        raise _Unreadable(MSG_TOO_BIG)
    if number.value is None:
        raise _Unreadable(MSG_UNDEFINED if number.problem == "zero denominator" else MSG_TOO_BIG)
    try:
        value = float(number.value)
    except OverflowError:
        raise _Unreadable(MSG_TOO_BIG) from None
    before = text[: number.start]
    after = text[number.end :]
    if before[-1:].isalpha() or before.rstrip()[-1:] in {"*", "/", "^"}:
        raise _Unreadable(MSG_NOT_A_NUMBER)
    unit = ""
    currency = _CURRENCY_BEFORE.search(before)
    if currency:
        unit = currency.group(1)
    um = _UNIT_AFTER.match(after)
    rest = after
    if um and not number.percent:
        word = um.group("unit")
        if len(word) == 1 and word.lower() in _VARIABLE_LETTERS and not after.startswith(" "):
            raise _Unreadable(MSG_NOT_A_NUMBER)  # 2x is an expression, not 2 of unit x
        unit = unit or word
        rest = after[um.end() :]
    if rest.lstrip()[:1] in _OPERATOR_CHARS:
        raise _Unreadable(MSG_NOT_A_NUMBER)
    return _Number(value=value, percent=number.percent, unit=unit, text=number.text.strip())


# "this one", "the other one": a pronoun, not a number.
_PRONOUN_ONE = re.compile(
    r"\b(?:this|that|the|which|each|every|another|any|some|no|other|next|last|first|right|wrong)\s+$", re.I
)
# A sentence of this many words or more is an answer in words only after a marker ("it is twelve").
_WORD_ANSWER_MAX_WORDS = 8


def _word_answer(text: str) -> list[numbers.Number]:
    """Numbers written in words, where the message reads as an answer: a short message ("seven
    halves", "it's twelve") or a number after a marker ("so my answer is twelve"). In a longer
    sentence a number word is talk ("please do this one for me", "one more hint"), not an attempt."""
    found = [n for n in numbers.read_numbers(text)
             if not (text[n.start:n.start + 3].lower() == "one" and _PRONOUN_ONE.search(text[: n.start]))]
    if len(text.split()) < _WORD_ANSWER_MAX_WORDS:
        return found
    markers = list(_MARKERS.finditer(text))
    return [n for n in found if markers and n.start >= markers[-1].end()]


def _read_number(text: str, *, words: bool = True) -> _Number:
    """The single number a student meant, with its units; raises ``_Unreadable`` otherwise.

    Numbers are read by ``tutor.checking.numbers``, as the guard reads them; numbers in words
    ("seven halves") count only where no digits are written (``words``: at all)."""
    text = numbers.normalise(_strip_math_delimiters(text))
    found = numbers.read_numbers(text, words=False) or (_word_answer(text) if words else [])
    # cm^2, 2^3: an exponent is not the answer
    found = [n for n in found if not text[: n.start].rstrip().endswith("^")]
    if not found:
        raise _Unreadable(MSG_NUMBER)
    if len(found) > 1:
        # "x = 3.5", "24 + 6 = 30", "I got 72": the number after the last marker, if it is alone.
        markers = list(_MARKERS.finditer(text))
        if not markers:
            raise _Unreadable(MSG_AMBIGUOUS)
        cut = markers[-1].end()
        tail = [n for n in found if n.start >= cut]
        if len(tail) != 1:
            raise _Unreadable(MSG_AMBIGUOUS)
        found = tail
    return _read_number_at(text, found[0])


_UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "mm": ("millimeter", "millimetre", "millimeters", "millimetres"),
    "cm": ("centimeter", "centimetre", "centimeters", "centimetres", "cms"),
    "m": ("meter", "metre", "meters", "metres"),
    "km": ("kilometer", "kilometre", "kilometers", "kilometres", "kms"),
    "cm^2": ("cm2", "sq cm", "square centimeters", "square centimetres", "square cm"),
    "m^2": ("m2", "sq m", "square meters", "square metres"),
    "cm^3": ("cm3", "cubic centimeters", "cubic centimetres", "cc"),
    "m^3": ("m3", "cubic meters", "cubic metres"),
    "g": ("gram", "grams", "gramme", "grammes"),
    "kg": ("kilogram", "kilograms", "kilo", "kilos", "kgs"),
    "mg": ("milligram", "milligrams"),
    "l": ("liter", "litre", "liters", "litres"),
    "ml": ("milliliter", "millilitre", "milliliters", "millilitres"),
    "s": ("sec", "secs", "second", "seconds"),
    "min": ("mins", "minute", "minutes"),
    "h": ("hr", "hrs", "hour", "hours"),
    "km/h": ("kmh", "kph", "kilometers per hour", "kilometres per hour"),
    "m/s": ("meters per second", "metres per second"),
    "$": ("dollar", "dollars", "usd", "us$"),
    "€": ("euro", "euros", "eur"),
    "£": ("gbp",),
    "°": ("deg", "degree", "degrees"),
    "%": ("percent", "per cent", "pct"),
}
_UNIT_CANON = {alias: canon for canon, aliases in _UNIT_ALIASES.items() for alias in (*aliases, canon)}


def _canonical_unit(unit: str) -> str:
    u = " ".join(unit.lower().replace("**", "^").replace(".", " ").split())
    u = re.sub(r"\s*/\s*", "/", u)
    if u in _UNIT_CANON:
        return _UNIT_CANON[u]
    if len(u) > 2 and u.endswith("s") and u[:-1] in _UNIT_CANON:
        return _UNIT_CANON[u[:-1]]
    if len(u) > 2 and u.endswith("s"):
        return u[:-1]  # pens / pen
    return u


def _close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=max(tolerance, 1e-12))


@functools.lru_cache(maxsize=512)
def _expected_number(answer: str) -> _Number:
    text = _sanitise(answer)
    if isinstance(text, CheckResult):
        raise AnswerSpecError(f"Numeric answer {answer!r} cannot be read: {text.message}")
    try:
        return _read_number(text, words=False)  # an answer key is written in digits
    except _Unreadable as exc:
        raise AnswerSpecError(f"Numeric answer {answer!r} cannot be read: {exc.message}") from exc


def _compare_numeric(spec: AnswerSpec, answer: str, text: str) -> CheckResult:
    """``answer`` stands in for ``spec.answer`` so misconception answers reuse this path."""
    expected = _expected_number(answer)
    got = _read_number(text)
    units = spec.units.strip()
    want_percent = expected.percent or _canonical_unit(units) == "%"
    shown = re.sub(r"\s*/\s*", "/", re.sub(r"(?:\s*(?:%|percent|per\s+cent))$", "", got.text, flags=re.I))
    parsed = shown + ("%" if got.percent else "") + (f" {got.unit}" if got.unit else "")
    value = got.value
    if got.percent and not want_percent:
        value = got.value / 100.0
    if not _close(value, expected.value, spec.tolerance):
        if want_percent and not got.percent and _close(got.value * 100.0, expected.value, spec.tolerance):
            return CheckResult(status="incorrect", parsed=parsed, partial=True, message=MSG_PERCENT)
        return CheckResult(status="incorrect", parsed=parsed)
    false = numbers.false_equalities(_EQUALS_WORDS.sub("=", text))
    if false:
        # "6 = 5", "7 = x = 5": the last number is right, but the student wrote something untrue.
        return CheckResult(status="incorrect", parsed=false[0], partial=True,
                           message=MSG_FALSE_EQUATION.format(equation=false[0]))
    if units and _canonical_unit(units) != "%":
        if not got.unit:
            return CheckResult(status="incorrect", parsed=parsed, partial=True, message=MSG_MISSING_UNITS)
        after_number = text[text.find(got.text) + len(got.text) :] if got.text in text else ""
        candidates = {_canonical_unit(got.unit), _canonical_unit(after_number.strip(" .!"))}
        if _canonical_unit(units) not in candidates:
            return CheckResult(status="incorrect", parsed=parsed, partial=True, message=MSG_WRONG_UNITS)
    return CheckResult(status="correct", parsed=parsed)


# --- expressions -----------------------------------------------------------------------------

_FUNCTIONS = ("sqrt", "sin", "cos", "tan", "log", "ln", "exp", "abs")
_LATEX_WORDS = {
    "cdot": "*", "times": "*", "ast": "*", "div": "/", "pi": " pi ",
    "sin": " sin", "cos": " cos", "tan": " tan", "ln": " ln", "log": " log", "exp": " exp",
    "quad": " ", "qquad": " ",
}
_LATEX_COMMAND = re.compile(r"\\([a-zA-Z]+|.)")


def _latex_group(text: str, i: int) -> tuple[str, int]:
    """The argument starting at ``text[i]``: a balanced ``{...}`` or one character."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        raise _Unreadable(MSG_BRACES)
    if text[i] != "{":
        return text[i], i + 1
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j], j + 1
    raise _Unreadable(MSG_BRACES)


def _latex_to_plain(text: str) -> str:
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            raise _Unreadable(MSG_BRACES)
        if depth > MAX_DEPTH:
            raise _Unreadable(MSG_DEPTH)
    if depth:
        raise _Unreadable(MSG_BRACES)
    text = re.sub(r"\\left\s*\.|\\right\s*\.", "", text)
    text = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\s*", "", text)
    text = re.sub(r"\\[,;:! ]", " ", text)
    # Innermost-last: an inner \frac always starts after its outer one, so rewriting from the
    # end leaves the arguments of each rewritten command free of other commands.
    for command in ("frac", "sqrt"):
        pattern = re.compile(r"\\[dt]?frac(?![a-zA-Z])" if command == "frac" else r"\\sqrt(?![a-zA-Z])")
        while True:
            hits = list(pattern.finditer(text))
            if not hits:
                break
            hit = hits[-1]
            if command == "frac":
                num, i = _latex_group(text, hit.end())
                den, i = _latex_group(text, i)
                replacement = f"(({num})/({den}))"
            else:
                j = hit.end()
                while j < len(text) and text[j] == " ":
                    j += 1
                index = ""
                if j < len(text) and text[j] == "[":
                    close = text.find("]", j)
                    if close < 0:
                        raise _Unreadable(MSG_BRACES)
                    index, j = text[j + 1 : close], close + 1
                arg, i = _latex_group(text, j)
                replacement = f"(({arg})^(1/({index})))" if index else f"sqrt({arg})"
            text = text[: hit.start()] + replacement + text[i:]

    def word(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _LATEX_WORDS:
            return _LATEX_WORDS[name]
        raise _Unreadable(
            f"I don't know the LaTeX command \\{name} — try plain text, like sqrt(x) or 1/2."
        )

    text = _LATEX_COMMAND.sub(word, text)
    return text.replace("{", "(").replace("}", ")")


# "2e5" is read as scientific notation (2·e·5 is far less likely in a student's answer).
_WORD_OPERATORS = (
    (r"\bequals?\b|\bis\s+equal\s+to\b", "="),
    (r"\btimes\b|\bmultiplied\s+by\b", "*"),
    (r"\bdivided\s+by\b|\bover\b", "/"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bsquared\b", "^2"),
    (r"\bcubed\b", "^3"),
)
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>(?:\d+(?:\.\d+)?|\.\d+)(?:e(?P<exp>[-+]?\d+)(?![a-z]))?)|(?P<name>[a-z]+)|(?P<op>[-+*/^()=]))"
)


@dataclass(frozen=True)
class _Token:
    kind: Literal["num", "sym", "func", "const", "op"]
    text: str


def _tokenise(text: str) -> list[_Token]:
    text = text.lower().replace("**", "^").replace("[", "(").replace("]", ")")
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 1,000
    for words, symbol in _WORD_OPERATORS:
        text = re.sub(words, symbol, text)
    text = re.sub(r"sqrt\s*(\d+(?:\.\d+)?|[a-z](?![a-z]))", r"sqrt(\1)", text)  # √2, sqrt x
    tokens: list[_Token] = []
    pos = 0
    depth = 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        m = _TOKEN_RE.match(text, pos)
        if not m:
            bad = text[pos:].lstrip()[:1]
            raise _Unreadable(f"I could not read the character “{bad}” — try something like 2x + 1, x^2 or x = 3.")
        pos = m.end()
        if m.group("num") is not None:
            if sum(ch.isdigit() for ch in m.group("num")) > MAX_DIGITS:
                raise _Unreadable(MSG_TOO_BIG)
            if m.group("exp") is not None and abs(int(m.group("exp"))) > MAX_DECIMAL_EXPONENT:
                raise _Unreadable(MSG_TOO_BIG)
            # A huge literal exponent is refused before sympy ever builds the power.
            exponent_of = [t.text for t in tokens[-3:] if t.text in "^(-+"]
            if "^" in exponent_of and float(m.group("num")) > MAX_LITERAL_EXPONENT:
                raise _Unreadable(MSG_POWERS)
            tokens.append(_Token("num", m.group("num")))
        elif m.group("name") is not None:
            tokens.extend(_split_name(m.group("name"), text[pos:].lstrip()[:1] == "("))
        else:
            op = m.group("op")
            if op == ")" and tokens and tokens[-1].text == "(":
                raise _Unreadable(MSG_EXPRESSION)  # () is a Python tuple, not maths
            depth += (op == "(") - (op == ")")
            if depth < 0:
                raise _Unreadable(MSG_EXPRESSION)
            if depth > MAX_DEPTH:
                raise _Unreadable(MSG_DEPTH)
            tokens.append(_Token("op", op))
        if len(tokens) > MAX_TOKENS:
            raise _Unreadable(MSG_TOO_LONG)
    if depth:
        raise _Unreadable("The brackets don't match — check your ( and ).")
    if not tokens:
        raise _Unreadable(MSG_EXPRESSION)
    return tokens


def _split_name(name: str, before_paren: bool) -> list[_Token]:
    """``xy`` is x·y, ``sqrt(`` a function, ``2pi`` a constant: split a run of letters."""
    out: list[_Token] = []
    i = 0
    while i < len(name):
        for func in _FUNCTIONS:
            if name.startswith(func, i) and i + len(func) == len(name) and before_paren:
                out.append(_Token("func", "log" if func == "ln" else "Abs" if func == "abs" else func))
                i += len(func)
                break
        else:
            if name.startswith("pi", i):
                out.append(_Token("const", "pi"))
                i += 2
            else:
                if any(name.startswith(func, i) for func in _FUNCTIONS):
                    raise _Unreadable("Write functions with brackets, like sqrt(x) or sin(x).")
                out.append(_Token("sym", name[i]))
                i += 1
    return out


def _canonical(tokens: Sequence[_Token]) -> str:
    """Python source for ``parse_expr``: implicit products made explicit, ^ as **."""
    out: list[str] = []
    prev: _Token | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        # 3 1/2 is a mixed number, not 3·1/2.
        if (
            tok.kind == "num" and prev is not None and prev.kind == "num" and i + 2 < len(tokens)
            and tokens[i + 1].text == "/" and tokens[i + 2].kind == "num"
        ):
            whole = out.pop()
            out.append(f"({whole}+{tok.text}/{tokens[i + 2].text})")
            prev = tokens[i + 2]
            i += 3
            continue
        if prev is not None and (prev.kind in {"num", "sym", "const"} or prev.text == ")") and (
            tok.kind in {"num", "sym", "const", "func"} or tok.text == "("
        ):
            if prev.kind == "num" and tok.kind == "num":
                raise _Unreadable(MSG_EXPRESSION)
            out.append("*")
        out.append("**" if tok.text == "^" else tok.text)
        prev = tok
        i += 1
    return "".join(out)


_SYMBOLS_BY_NAME = {ch: sympy.Symbol(ch) for ch in "abcdefghijklmnopqrstuvwxyz"}
_PARSE_GLOBALS: dict[str, object] = {
    "__builtins__": {},
    "Integer": sympy.Integer,
    "Float": sympy.Float,
    "Rational": sympy.Rational,
    "Add": sympy.Add,
    "Mul": sympy.Mul,
    "Pow": sympy.Pow,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "log": sympy.log,
    "exp": sympy.exp,
    "Abs": sympy.Abs,
    "pi": sympy.pi,
}


def _parse_side(tokens: Sequence[_Token]) -> tuple[sympy.Expr, str]:
    if not tokens:
        raise _Unreadable(MSG_EQUALS)
    source = _canonical(tokens)
    local = {t.text: _SYMBOLS_BY_NAME[t.text] for t in tokens if t.kind == "sym"}
    try:
        expr = parse_expr(
            source,
            local_dict=local,
            global_dict=dict(_PARSE_GLOBALS),
            transformations=(auto_number,),
            evaluate=False,
        )
    except (SyntaxError, TypeError, ValueError, AttributeError, ZeroDivisionError, RecursionError) as exc:
        raise _Unreadable(MSG_EXPRESSION) from exc
    if not isinstance(expr, sympy.Expr):
        raise _Unreadable(MSG_EXPRESSION)
    _guard_magnitude(expr)
    return expr, source.replace("**", "^")


def _guard_magnitude(expr: sympy.Expr) -> None:
    """Refuse trees whose value could exceed ~10^300 at the evaluation points, or with an exponent
    beyond ~1000, before anything evaluates or even prints them. (Float evaluation would only
    overflow, but a clear message beats "incorrect", and sympy must never see such a tree.)"""
    nodes = 0

    def bound(e: sympy.Basic) -> float:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_TREE_NODES:
            raise _Unreadable(MSG_TOO_LONG)
        if isinstance(e, sympy.Rational):  # Integer too; |p/q| <= |p|
            return math.log10(abs(int(e.p)) + 1)
        if isinstance(e, sympy.Float):
            return math.log10(abs(float(e)) + 1)
        if isinstance(e, sympy.Symbol) or e in (sympy.pi, sympy.E):
            return 0.5  # the evaluation points lie within ±2.9
        if isinstance(e, sympy.Add):
            return max(bound(a) for a in e.args) + math.log10(len(e.args))
        if isinstance(e, sympy.Mul):
            return sum(bound(a) for a in e.args)
        if isinstance(e, sympy.Pow):
            base = bound(e.args[0])
            exponent = e.args[1]
            if isinstance(exponent, sympy.Rational):
                size = abs(float(exponent))
            else:
                exponent_bound = bound(exponent)
                if exponent_bound > 3:
                    raise _Unreadable(MSG_POWERS)
                size = 10.0**exponent_bound
            if size > MAX_LITERAL_EXPONENT:
                raise _Unreadable(MSG_POWERS)
            result = size * max(base, 0.5)
            if result > MAX_LOG10_MAGNITUDE:
                raise _Unreadable(MSG_POWERS)
            return result
        if isinstance(e, sympy.exp):
            arg = bound(e.args[0])
            if arg > 2.4:  # e^250 is the most we allow
                raise _Unreadable(MSG_POWERS)
            return 10.0**arg * math.log10(math.e)
        if isinstance(e, (sympy.sin, sympy.cos)):
            bound(e.args[0])
            return 0.0
        if isinstance(e, (sympy.tan, sympy.log, sympy.Abs)):
            return bound(e.args[0]) + 2.0
        raise _Unreadable(MSG_EXPRESSION)

    if bound(expr) > MAX_LOG10_MAGNITUDE:
        raise _Unreadable(MSG_POWERS)


_CMATH: dict[type, Callable[[complex], complex]] = {
    sympy.sin: cmath.sin,
    sympy.cos: cmath.cos,
    sympy.tan: cmath.tan,
    sympy.log: cmath.log,
    sympy.exp: cmath.exp,
    sympy.Abs: lambda z: complex(abs(z)),
}


def _evaluate(e: sympy.Basic, env: dict[sympy.Symbol, float]) -> complex:
    """Floating-point value of a guarded tree. Raises ArithmeticError/ValueError where undefined."""
    if isinstance(e, sympy.Rational):
        return complex(int(e.p) / int(e.q))
    if isinstance(e, sympy.Float):
        return complex(float(e))
    if isinstance(e, sympy.Symbol):
        return complex(env[e])
    if e == sympy.pi:
        return complex(math.pi)
    if e == sympy.E:
        return complex(math.e)
    if isinstance(e, sympy.Add):
        return sum((_evaluate(a, env) for a in e.args), complex(0))
    if isinstance(e, sympy.Mul):
        product = complex(1)
        for a in e.args:
            product *= _evaluate(a, env)
        return product
    if isinstance(e, sympy.Pow):
        base = _evaluate(e.args[0], env)
        exponent = _evaluate(e.args[1], env)
        if base.imag == 0 and exponent.imag == 0 and float(exponent.real).is_integer():
            return complex(base.real ** int(exponent.real))
        if base == 0:
            if exponent.real > 0:
                return complex(0)
            raise ZeroDivisionError
        return complex(base**exponent)
    func = _CMATH.get(type(e))
    if func is not None:
        return func(_evaluate(e.args[0], env))
    raise ValueError(f"cannot evaluate {type(e).__name__}")


# Fixed points so a verdict never changes between runs. Both signs, away from 0 and integers.
_POINT_RNG = random.Random(20240611)
_POINTS: tuple[tuple[float, ...], ...] = tuple(
    tuple(_POINT_RNG.choice((-1.0, 1.0)) * _POINT_RNG.uniform(0.3, 2.9) for _ in range(26))
    for _ in range(12)
)
_MIN_GOOD_POINTS = 4


def _values(exprs: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]) -> list[tuple[complex, ...]]:
    rows: list[tuple[complex, ...]] = []
    for point in _POINTS if symbols else _POINTS[:1]:
        env = dict(zip(symbols, point, strict=False))
        try:
            row = tuple(_evaluate(e, env) for e in exprs)
        except (ArithmeticError, ValueError):
            continue
        if all(cmath.isfinite(v) for v in row):
            rows.append(row)
    needed = _MIN_GOOD_POINTS if symbols else 1
    if len(rows) < needed:
        raise _Unreadable(MSG_UNDEFINED)
    return rows


def _near(a: complex, b: complex) -> bool:
    return abs(a - b) <= 1e-8 * max(1.0, abs(a), abs(b))


def _symbols_of(*exprs: sympy.Expr) -> list[sympy.Symbol]:
    found: set[sympy.Symbol] = set()
    for e in exprs:
        found |= {s for s in e.free_symbols if isinstance(s, sympy.Symbol)}
    return sorted(found, key=lambda s: s.name)


def _same_value(a: sympy.Expr, b: sympy.Expr) -> bool:
    return all(_near(x, y) for x, y in _values((a, b), _symbols_of(a, b)))


def _same_equation(a: sympy.Expr, b: sympy.Expr) -> bool:
    """a = 0 and b = 0 are the same equation when a = k·b for a constant k ≠ 0
    (x = 3, 3 = x and 2x = 6 all agree)."""
    ratio: complex | None = None
    for va, vb in _values((a, b), _symbols_of(a, b)):
        if _near(vb, 0):
            if not _near(va, 0):
                return False
            continue
        r = va / vb
        if _near(r, 0):
            return False
        if ratio is None:
            ratio = r
        elif not _near(r, ratio):
            return False
    return ratio is not None


@dataclass(frozen=True)
class _Parsed:
    lhs: sympy.Expr
    rhs: sympy.Expr | None  # None: an expression, not an equation
    text: str

    def lone_symbol_value(self) -> sympy.Expr | None:
        """``x = 3`` → 3: the other side of a definition (the symbol does not appear in it)."""
        if self.rhs is None:
            return None
        for side, other in ((self.lhs, self.rhs), (self.rhs, self.lhs)):
            if isinstance(side, sympy.Symbol) and side not in other.free_symbols:
                return other
        return None


def _read_expression(text: str) -> _Parsed:
    text = _strip_math_delimiters(_FILLER.sub("", _strip_math_delimiters(text), count=1))
    if "\\" in text or "{" in text or "}" in text:
        text = _latex_to_plain(text)
    tokens = _tokenise(text)
    equals = [i for i, t in enumerate(tokens) if t.text == "="]
    if not equals:
        expr, shown = _parse_side(tokens)
        return _Parsed(expr, None, shown)
    if len(equals) > 1:
        raise _Unreadable(MSG_EQUALS)
    lhs, left = _parse_side(tokens[: equals[0]])
    rhs, right = _parse_side(tokens[equals[0] + 1 :])
    return _Parsed(lhs, rhs, f"{left} = {right}")


@functools.lru_cache(maxsize=512)
def _expected_expression(answer: str) -> _Parsed:
    text = _sanitise(answer)
    if isinstance(text, CheckResult):
        raise AnswerSpecError(f"Expression answer {answer!r} cannot be read: {text.message}")
    try:
        return _read_expression(text)
    except _Unreadable as exc:
        raise AnswerSpecError(f"Expression answer {answer!r} cannot be read: {exc.message}") from exc


def _equivalent(expected: _Parsed, got: _Parsed) -> bool:
    if expected.rhs is not None and got.rhs is not None:
        return _same_equation(expected.lhs - expected.rhs, got.lhs - got.rhs)
    if expected.rhs is None and got.rhs is None:
        return _same_value(expected.lhs, got.lhs)
    # One side wrote "x = 3", the other "3".
    if expected.rhs is not None:
        value = expected.lone_symbol_value()
        return value is not None and _same_value(value, got.lhs)
    value = got.lone_symbol_value()
    return value is not None and _same_value(expected.lhs, value)


def _compare_expression(answer: str, text: str) -> CheckResult:
    expected = _expected_expression(answer)
    got = _read_expression(text)
    status: Status = "correct" if _equivalent(expected, got) else "incorrect"
    return CheckResult(status=status, parsed=got.text)


# --- choices and text ------------------------------------------------------------------------

def _normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text)
    words = text.split()
    while len(words) > 1 and words[0] in {"a", "an", "the"}:
        words = words[1:]
    return " ".join(words)


_CHOICE_LABEL = re.compile(
    r"^(?:(?:option|choice|answer|letter|number)\s+)?\(?(?P<label>[a-z]|\d{1,2})\s*[).:]?$", re.I
)


def _compare_choice(spec: AnswerSpec, answer: str, text: str) -> CheckResult:
    choices = list(spec.choices)
    wanted = _normalise_text(answer)
    chosen: str | None = None
    said = {_normalise_text(text), _normalise_text(_FILLER.sub("", text.strip(), count=1))} - {""}
    for choice in choices:
        if _normalise_text(choice) in said:
            chosen = choice
            break
    numeric_choices = any(re.fullmatch(r"\s*[-+]?[\d.,/ ]+\s*", c) for c in choices)
    if chosen is None and numeric_choices:
        try:
            got = _read_number(text).value
            for choice in choices:
                try:
                    if _close(_read_number(choice).value, got, 0.0):
                        chosen = choice
                        break
                except _Unreadable:
                    continue
        except _Unreadable:
            pass
    if chosen is None:
        m = _CHOICE_LABEL.match(_FILLER.sub("", text.strip(), count=1).strip())
        if m:
            label = m.group("label").lower()
            if label.isalpha():
                index = ord(label) - ord("a")
            elif not numeric_choices:
                index = int(label) - 1
            else:
                index = -1
            if 0 <= index < len(choices):
                chosen = choices[index]
    if chosen is None:
        return _unreadable(MSG_CHOICE)
    status: Status = "correct" if _normalise_text(chosen) == wanted else "incorrect"
    return CheckResult(status=status, parsed=chosen)


def _compare_text(spec: AnswerSpec, answer: str, text: str, *, with_variants: bool) -> CheckResult:
    got = _normalise_text(text)
    if not got:
        return _unreadable(MSG_EMPTY)
    accepted = {_normalise_text(answer)}
    if with_variants:
        accepted |= {_normalise_text(v) for v in spec.variants}
    status: Status = "correct" if got in accepted else "incorrect"
    return CheckResult(status=status, parsed=got)


# --- misconceptions --------------------------------------------------------------------------

_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)\s*[*+{]")
_QUANTIFIER = re.compile(r"(?<!\\)(?:[*+]|\{\d*,\})")


@functools.lru_cache(maxsize=256)
def _safe_regex(pattern: str) -> re.Pattern[str] | None:
    """Compile a teacher's pattern, or refuse one that could backtrack for long.

    Python's ``re`` has no timeout, so the bound comes from shape: no nested quantifiers like
    ``(a+)+``, at most three unbounded quantifiers, searched over at most 300 characters."""
    if len(pattern) > MAX_REGEX_PATTERN or _NESTED_QUANTIFIER.search(pattern):
        return None
    if len(_QUANTIFIER.findall(pattern)) > MAX_REGEX_QUANTIFIERS:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _matches_misconception(spec: AnswerSpec, pattern: MisconceptionPattern, text: str) -> bool:
    if pattern.pattern_kind == "regex":
        compiled = _safe_regex(pattern.pattern)
        return compiled is not None and compiled.search(text[:MAX_REGEX_INPUT]) is not None
    try:
        result = _compare(spec, pattern.pattern, text, with_variants=False)
    except (_Unreadable, AnswerSpecError):
        return False
    # A misconception answer matches on value; missing units do not make it a different mistake.
    return result.status == "correct" or (result.partial and result.message != MSG_PERCENT)


# --- entry point -----------------------------------------------------------------------------

def _compare(spec: AnswerSpec, answer: str, text: str, *, with_variants: bool) -> CheckResult:
    if spec.kind == AnswerKind.NUMERIC:
        return _compare_numeric(spec, answer, text)
    if spec.kind == AnswerKind.EXPRESSION:
        return _compare_expression(answer, text)
    if spec.kind == AnswerKind.CHOICE:
        return _compare_choice(spec, answer, text)
    return _compare_text(spec, answer, text, with_variants=with_variants)


def check_answer(
    spec: AnswerSpec, raw: str, misconceptions: Sequence[MisconceptionPattern] = ()
) -> CheckResult:
    """Check what a student typed against ``spec``.

    Never raises on student input and returns within ``TIME_BOUND_SECONDS`` (see the module
    docstring). Raises ``AnswerSpecError`` only when the authored answer itself is unreadable.
    A correct answer always wins over a misconception; a wrong one that matches a misconception
    carries its id (the first that matches, in the order given).
    """
    text = _sanitise(raw)
    if isinstance(text, CheckResult):
        return text
    try:
        result = _compare(spec, spec.answer, text, with_variants=True)
    except _Unreadable as exc:
        result = _unreadable(exc.message)
    except RecursionError:
        result = _unreadable(MSG_DEPTH)
    if result.status == "correct":
        return result
    for pattern in misconceptions:
        if pattern.pattern_kind == "answer" and result.status == "unreadable":
            continue
        if _matches_misconception(spec, pattern, text):
            return CheckResult(
                status="incorrect", parsed=result.parsed, misconception_id=pattern.id, partial=result.partial
            )
    return result
