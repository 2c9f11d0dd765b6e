"""Reading numbers in text: the one reader shared by the answer checker and the guard.

Both must agree on what a text says, or the checker accepts an answer ("1 000") that the guard does
not see when a reply states it. Plain Python, no Django, no sympy: the guard reads every streamed
reply with it.

``normalise`` rewrites LaTeX and Unicode forms (``\\frac{1}{2}``, ``\\times``, U+2212, superscripts,
vulgar fractions, no-break and thin spaces); ``read_numbers`` then finds every number in the
normalised text, with its exact value:

* digits with thousands separators (``1,000``, ``1 000``, U+00A0, U+2009, U+202F), decimals
  (``3.5``, ``.75``) and decimal commas where unambiguous (``3,5``; not ``1,2,3`` nor ``(3,5)``);
* fractions ``3/4`` (parts kept), divisions ``12 / 2`` and ``2.5/5`` (operands kept), mixed numbers
  ``3 1/2``;
* scientific notation (``3.5e0``, ``35 x 10^-1``) and percentages (``50%``, ``50 percent``);
* numbers in words (``twenty-four``, ``one hundred and five``, ``two thirds``, ``two and a half``).

``false_equalities`` finds the chains ``a op b = c = d`` in a text that do not hold, computed exactly
with ``Fraction``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Literal

__all__ = ["DENOMINATORS", "NUMBER_WORDS", "Number", "false_equalities", "normalise", "read_numbers", "spell_fractions"]

# Beyond these a number is not worth an exact value: a reply never states one, and a student's
# 5000-digit "number" must not cost the reader (or raise: int() refuses 4300+ digits).
MAX_DIGITS = 400
MAX_EXPONENT = 300

NumberKind = Literal["decimal", "fraction", "division", "mixed", "scientific", "word"]

# --------------------------------------------------------------------------------------------------
# Normalising LaTeX and Unicode.

_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}")
_LATEX_FRAC_SHORT = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_LATEX_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mathbf|operatorname)\s*\{([^{}]*)\}")
_LATEX_OPS = [
    (re.compile(r"\\(?:times|cdot|ast)(?![a-zA-Z])"), " x "),
    (re.compile(r"\\div(?![a-zA-Z])"), " / "),
    (re.compile(r"\\(?:left|right|displaystyle|quad|qquad)(?![a-zA-Z])"), " "),
    (re.compile(r"\\[,;:! ]"), ""),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\\[()\[\]]"), " "),
]
_SUPERSCRIPT = re.compile(r"[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_VULGAR = {
    "½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5",
    "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8",
}  # fmt: skip
_VULGAR_RE = re.compile(r"(\d?)\s*([" + "".join(_VULGAR) + "])")
_SYMBOLS = str.maketrans({
    "\u2212": "-",  # minus sign
    "\u00d7": " x ",  # multiplication sign
    "\u22c5": " x ",  # dot operator
    "\u00f7": " / ",  # division sign
    "\u2044": "/",  # fraction slash
    "\u2215": "/",  # division slash
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u00b7": " x ",  # middle dot
    "\u2248": "≈",
})  # fmt: skip


def normalise(text: str) -> str:
    """LaTeX and Unicode number forms rewritten as plain text that ``read_numbers`` reads."""
    text = _LATEX_TEXT.sub(r" \1 ", text)
    text = _LATEX_FRAC.sub(r"\1/\2", text)
    text = _LATEX_FRAC_SHORT.sub(r"\1/\2", text)
    for pattern, replacement in _LATEX_OPS:
        text = pattern.sub(replacement, text)
    text = text.translate(_SYMBOLS)
    text = _SUPERSCRIPT.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPT_DIGITS), text)
    return spell_fractions(text)


def spell_fractions(text: str) -> str:
    """½ as 1/2 and 3½ as 3 1/2 (Unicode's NFKC would make 3½ into "31/2", read as 31 over 2)."""
    return _VULGAR_RE.sub(lambda m: (m[1] + " " if m[1] else "") + _VULGAR[m[2]], text)


# --------------------------------------------------------------------------------------------------
# Numbers.


@dataclass(frozen=True)
class Number:
    """A number in a text: its exact value, where it stands and how it was written.

    ``value`` is None when it cannot be computed (``problem`` says why). A percentage keeps the
    written value (50 for 50%) with ``percent`` set. ``parts``: a fraction's numerator and
    denominator, a division's operands, a mixed number's whole and fraction parts, or the digit
    number in "2 and a half".
    """

    value: Fraction | None
    text: str
    start: int
    end: int
    kind: NumberKind = "decimal"
    decimals: int = 0
    percent: bool = False
    parts: tuple[Number, ...] = ()
    problem: str = ""


_SEP = "[ \u00a0\u2009\u202f]"
_UNSIGNED = (
    r"(?:\d{1,3}(?:,\d{3})+(?![\d]|,\d)"  # 1,000  1,000,000
    rf"|\d{{1,3}}(?:{_SEP}\d{{3}})+(?![\d/])"  # 1 000 (not 2 100/3, a mixed number)
    r"|\d+)"
)
_DIGIT_RE = re.compile(
    r"(?:(?<![\w.])|(?<=\d[xX]))"  # not inside a word or after a decimal point; 25x4 is 25 times 4
    r"(?:"
    # 3 1/2: a whole number, a space and a fraction
    r"(?P<whole>\d+)[ \t]+(?P<mnum>\d+)(?P<mslash>\s*/\s*)(?P<mden>\d+)(?![\d.]|,\d)"
    # 3/4, 12 / 2, 2.5/5
    r"|(?P<fnum>\d+(?:\.\d+)?)(?P<slash>\s*/\s*)(?P<fden>\d+(?:\.\d+)?)(?![\d]|\.\d|,\d)"
    # 1,250.50  3,5  .75  3.5e0  35 x 10^-1
    rf"|(?:(?P<int>{_UNSIGNED})(?:\.(?P<dec>\d+)|,(?P<cdec>\d{{1,2}})(?![\d]|,\d))?|\.(?P<bare>\d+))"
    r"(?:[eE](?P<exp>[-+]?\d+)(?![\w])"
    r"|\s*[*xX]\s*10\s*\^\s*(?P<paren>\()?\s*(?P<exp10>[-+]?\d+)\s*(?(paren)\)))?"
    r")"
    r"(?P<pct>\s*(?:%|percent\b|per\s+cent\b))?"
    r"(?![\d_])"  # 25_0 is a blank to fill in, not 25
)
_ORDINAL_SUFFIX = re.compile(r"(?:st|nd|rd|th)\b")
_LOOK_BACK = 40  # characters around a number that decide how it reads


def _digits_value(text: str, decimals: str = "") -> Fraction | None:
    digits = re.sub(r"\D", "", text)
    if len(digits) + len(decimals) > MAX_DIGITS:
        return None
    value = Fraction(int(digits)) if digits else Fraction(0)
    if decimals:
        value += Fraction(int(decimals), 10 ** len(decimals))
    return value


def _simple(text: str, start: int, value: Fraction | None, decimals: int = 0) -> Number:
    return Number(value, text, start, start + len(text), decimals=decimals,
                  problem="" if value is not None else "too big")


def _signed(number: Number, text: str) -> Number:
    """A minus sign right before the number makes it negative unless it follows an operand:
    ``5 - 3`` and ``x - 3`` subtract, ``= -3``, ``(-3)`` and ``is -3`` are negative."""
    offset = max(0, number.start - _LOOK_BACK)  # a window, not the whole text: reading stays linear
    before = text[offset : number.start]
    attached = before.endswith("-")
    before = before.rstrip(" ")
    if not before.endswith("-") or number.value is None:
        return number
    start = offset + len(before) - 1
    operand = before[: len(before) - 1].rstrip()
    if operand:
        last = operand[-1]
        if last.isdigit() or last in ")]}%":
            return number
        if last.isalpha():
            word = re.search(r"[A-Za-z]+$", operand)
            if not attached or (word is not None and len(word.group(0)) == 1):
                return number  # x - 3: a variable; "it - 3" reads as a subtraction too
    return Number(-number.value, text[start : number.end], start, number.end, number.kind, number.decimals,
                  number.percent, number.parts, number.problem)


def _comma_is_decimal(text: str, start: int, end: int) -> bool:
    """3,5 is three and a half; 1,2,3 is a list and (3,5) a pair."""
    before = text[max(0, start - _LOOK_BACK) : start]
    if re.search(r"\d\s*,\s*$", before):
        return False
    return not (before.rstrip().endswith(("(", "[")) and text[end : end + _LOOK_BACK].lstrip().startswith((")", "]")))


def _digit_numbers(text: str) -> Iterator[Number]:
    pos = 0
    while True:
        m = _DIGIT_RE.search(text, pos)
        if m is None:
            return
        if m.end() == m.start() or not any(ch.isdigit() for ch in m.group(0)):
            pos = m.end() + 1
            continue
        if m["cdec"] is not None and not _comma_is_decimal(text, m.start(), m.end("cdec")):
            # Read the integer alone and carry on after it.
            end = m.end("int")
            value = _digits_value(m["int"])
            pos = end
            if not _ORDINAL_SUFFIX.match(text, end):
                yield _signed(_simple(m["int"], m.start(), value), text)
            continue
        pos = m.end()
        number = _number_from(m, text)
        if number is None:
            continue
        if re.search(r"[a-zA-Z]\s*\^\s*$", text[max(0, m.start() - _LOOK_BACK) : m.start()]):
            continue  # cm^2, x^2: the exponent of a unit or a variable is not a quantity
        yield _signed(number, text)


def _number_from(m: re.Match[str], text: str) -> Number | None:
    start, end, raw = m.start(), m.end(), m.group(0)
    percent = m["pct"] is not None
    if m["whole"] is not None:
        whole = _simple(m["whole"], start, _digits_value(m["whole"]))
        num = _simple(m["mnum"], m.start("mnum"), _digits_value(m["mnum"]))
        den = _simple(m["mden"], m.start("mden"), _digits_value(m["mden"]))
        parts = (whole, num, den)
        if whole.value is None or num.value is None or den.value is None:
            return Number(None, raw, start, end, "mixed", parts=parts, problem="too big")
        if den.value == 0:
            return Number(None, raw, start, end, "mixed", parts=parts, problem="zero denominator")
        return Number(whole.value + num.value / den.value, raw, start, end, "mixed", parts=parts, percent=percent)
    if m["fnum"] is not None:
        num_dec = m["fnum"].partition(".")[2]
        den_dec = m["fden"].partition(".")[2]
        num = _simple(m["fnum"], start, _digits_value(m["fnum"].partition(".")[0], num_dec), len(num_dec))
        den = _simple(m["fden"], m.start("fden"), _digits_value(m["fden"].partition(".")[0], den_dec), len(den_dec))
        # "12 / 2" and "2.5/5" are divisions in a worked step; "3/4" is a fraction.
        kind: NumberKind = "division" if (m["slash"].strip() != m["slash"] or num_dec or den_dec) else "fraction"
        if num.value is None or den.value is None:
            return Number(None, raw, start, end, kind, parts=(num, den), problem="too big")
        if den.value == 0:
            return Number(None, raw, start, end, kind, parts=(num, den), problem="zero denominator")
        return Number(num.value / den.value, raw.rstrip(), start, end, kind, parts=(num, den), percent=percent)
    if _ORDINAL_SUFFIX.match(text, end) and not m["dec"]:
        return None  # "2nd", "4th": positions, not quantities
    decimals = m["dec"] or m["cdec"] or m["bare"] or ""
    value = _digits_value(m["int"] or "", decimals)
    exp_text = m["exp"] or m["exp10"]
    kind = "decimal"
    problem = "" if value is not None else "too big"
    if exp_text is not None:
        kind = "scientific"
        exponent = int(exp_text) if len(exp_text.lstrip("+-")) <= 6 else MAX_EXPONENT + 1
        if abs(exponent) > MAX_EXPONENT:
            value, problem = None, "too big"
        elif value is not None:
            value *= Fraction(10) ** exponent
    return Number(value, raw.rstrip(), start, start + len(raw.rstrip()), kind, len(decimals), percent,
                  problem=problem)


# Numbers in words.

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
DENOMINATORS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
    "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7,
    "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10,
}  # fmt: skip
NUMBER_WORDS = frozenset((*_UNITS, *_TENS, *DENOMINATORS))
_WORD = re.compile(r"[a-z]+", re.I)


def _parse_integer_words(words: list[tuple[str, int, int]], i: int) -> tuple[int, int] | None:
    """An integer written in words starting at ``words[i]``: (value, next index)."""
    total, current, j, seen = 0, 0, i, False
    while j < len(words):
        word = words[j][0]
        if word in _UNITS:
            if seen and current % 100 and current % 10 == 0 and current % 100 >= 20 and _UNITS[word] < 10:
                current += _UNITS[word]  # "twenty" + "four"
            elif seen and current % 100:
                break
            else:
                current += _UNITS[word]
        elif word in _TENS:
            if seen and current % 100:
                break
            current += _TENS[word]
        elif word in _SCALES and (seen or word == "hundred"):
            scale = _SCALES[word]
            if not seen:
                break
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        elif word == "and" and seen and j + 1 < len(words) and (words[j + 1][0] in _UNITS or words[j + 1][0] in _TENS):
            # "one hundred and five", but not "two and a half" (handled by the caller)
            if current % 100 == 0 and (current or total):
                j += 1
                continue
            break
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return total + current, j


def _word_numbers(text: str) -> Iterator[Number]:
    words = [(m.group(0).lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
    i = 0
    while i < len(words):
        word, start, _ = words[i]
        parsed = _parse_integer_words(words, i)
        if parsed is None:
            # "a half", "a quarter"
            if word == "a" and i + 1 < len(words) and words[i + 1][0] in ("half", "third", "quarter"):
                end = words[i + 1][2]
                yield Number(Fraction(1, DENOMINATORS[words[i + 1][0]]), text[start:end], start, end, "word")
                i += 2
                continue
            if word in ("half", "halves"):
                yield Number(Fraction(1, 2), text[start : words[i][2]], start, words[i][2], "word")
            i += 1
            continue
        value, j = parsed
        end = words[j - 1][2]
        quantity = Fraction(value)
        # "two thirds", "one half"
        if j < len(words) and words[j][0] in DENOMINATORS and value >= 1:
            denominator = DENOMINATORS[words[j][0]]
            if value == 1 or words[j][0].endswith("s") or words[j][0] == "half":
                quantity = Fraction(value, denominator)
                end = words[j][2]
                j += 1
        # "two and a half", "two and one-half", "two and three quarters"
        elif j + 2 < len(words) and words[j][0] == "and":
            numerator: int | None = 1 if words[j + 1][0] == "a" else _UNITS.get(words[j + 1][0])
            if numerator and words[j + 2][0] in DENOMINATORS:
                quantity = Fraction(value) + Fraction(numerator, DENOMINATORS[words[j + 2][0]])
                end = words[j + 2][2]
                j += 3
        yield Number(quantity, text[start:end], start, end, "word")
        i = j


_DIGIT_AND_FRACTION = re.compile(r"(?<![\w.])(\d+)\s+and\s+(a|one)[\s-]+(half|third|quarter)\b", re.I)


def read_numbers(text: str, *, words: bool = True) -> list[Number]:
    """Every number in ``text`` (already ``normalise``d), in order of position.

    ``words``: also read numbers written in words. A number too large to compute is listed with
    ``value`` None, so a caller can say so rather than misread it.
    """
    found = list(_digit_numbers(text))
    if words:
        found += _word_numbers(text)
        # "2 and a half": the digit becomes a part of the whole
        for match in _DIGIT_AND_FRACTION.finditer(text):
            digit = next((n for n in found if n.start == match.start(1) and n.kind == "decimal"), None)
            if digit is None or digit.value is None:
                continue
            value = digit.value + Fraction(1, DENOMINATORS[match[3].lower()])
            inside = [n for n in found if n is digit or (n.kind == "word" and match.start(2) <= n.start < match.end())]
            found = [n for n in found if n not in inside]
            found.append(Number(value, match.group(0), match.start(), match.end(), "word", parts=(digit,)))
    return sorted(found, key=lambda n: (n.start, -n.end))


# --------------------------------------------------------------------------------------------------
# Arithmetic, exactly.


@dataclass(frozen=True)
class _Token:
    kind: Literal["num", "op", "(", ")", "eq", "var", "word", "stop"]
    text: str
    start: int
    end: int
    value: Fraction | None = None
    computed: bool = False  # a number that is itself a computation (3/4, 12 / 2, 2 x 10^3, 50%)
    decimals: int | None = None  # decimals written, for a plain decimal number
    glued: bool = False  # a word written right after a digit (2x, 12cm)


def _x_is_times(text: str, i: int) -> bool:
    """``x`` between two numbers (``2 x 12``, ``25x4``, ``(3) x (4)``) is a multiplication sign."""
    before = text[max(0, i - _LOOK_BACK) : i].rstrip()
    after = text[i + 1 : i + 1 + _LOOK_BACK].lstrip()
    return bool(before) and before[-1] in "0123456789)%" and bool(after) and after[0] in "0123456789($."


def _tokens(text: str) -> list[_Token]:
    numbers = {n.start: n for n in read_numbers(text, words=False)}
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        number = numbers.get(i)
        ch = text[i]
        if number is not None:
            decimals = number.decimals if number.kind == "decimal" and not number.percent else None
            value = number.value / 100 if number.value is not None and number.percent else number.value
            computed = number.kind in ("fraction", "division", "mixed", "scientific") or number.percent
            tokens.append(_Token("num", number.text, number.start, number.end, value, computed, decimals))
            i = max(number.end, i + 1)
            continue
        kind: Literal["op", "(", ")", "eq", "stop"] | None = None
        if ch.isspace() or ch in "$€£":
            i += 1
            continue
        if ch in "=≈":
            kind = "eq"
        elif ch in "+-*/^" or (ch in "xX" and _x_is_times(text, i)):
            kind, ch = "op", "*" if ch in "xX" else ch
        elif ch in "([":
            kind = "("
        elif ch in ")]":
            kind = ")"
        elif ch.isalpha():
            end = i
            while end < len(text) and text[end].isalpha():
                end += 1
            tokens.append(_Token("word", text[i:end], i, end, glued=i > 0 and text[i - 1].isdigit()))
            i = end
            continue
        tokens.append(_Token(kind or "stop", ch, i, i + 1))
        i += 1
    return tokens


class _NotArithmetic(Exception):
    pass


MAX_SIDE_TOKENS = 60  # longer sides are not arithmetic anyone writes in a sentence: left unread
MAX_NESTING = 8


def _evaluate(tokens: Sequence[_Token]) -> Fraction:
    """Exact value of numbers, + - * / ^ and brackets; ``2(3)`` and ``(2)(3)`` are products."""
    if len(tokens) > MAX_SIDE_TOKENS:
        raise _NotArithmetic
    depth = 0
    for tok in tokens:
        depth += (tok.kind == "(") - (tok.kind == ")")
        if depth > MAX_NESTING:
            raise _NotArithmetic
    if sum(t.text == "^" for t in tokens) > MAX_NESTING:
        raise _NotArithmetic
    pos = 0

    def peek() -> _Token | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> _Token:
        nonlocal pos
        if pos >= len(tokens):
            raise _NotArithmetic
        pos += 1
        return tokens[pos - 1]

    def expression() -> Fraction:
        value = term()
        while (tok := peek()) is not None and tok.kind == "op" and tok.text in "+-":
            take()
            value = value + term() if tok.text == "+" else value - term()
        return value

    def term() -> Fraction:
        value = factor()
        while (tok := peek()) is not None:
            if tok.kind == "op" and tok.text in "*/":
                take()
                operand = factor()
                if tok.text == "/" and operand == 0:
                    raise _NotArithmetic
                value = value * operand if tok.text == "*" else value / operand
            elif tok.kind == "(" or (tok.kind == "num" and tokens[pos - 1].kind == ")"):
                value *= factor()
            else:
                break
        return value

    def factor() -> Fraction:
        base = unary()
        tok = peek()
        if tok is None or tok.kind != "op" or tok.text != "^":
            return base
        take()
        exponent = factor()
        if exponent.denominator != 1 or (base == 0 and exponent < 0):
            raise _NotArithmetic
        if max(abs(base.numerator), base.denominator).bit_length() * abs(exponent) > 3_000:
            raise _NotArithmetic  # far beyond anything a reply or an answer writes
        return base ** int(exponent)

    def unary() -> Fraction:
        tok = peek()
        if tok is not None and tok.kind == "op" and tok.text in "+-":
            take()
            return -unary() if tok.text == "-" else unary()
        tok = take()
        if tok.kind == "num" and tok.value is not None:
            return tok.value
        if tok.kind == "(":
            value = expression()
            if take().kind != ")":
                raise _NotArithmetic
            return value
        raise _NotArithmetic

    value = expression()
    if pos != len(tokens):
        raise _NotArithmetic
    return value


# Words that make a number next to them part of a larger quantity ("half of 40 = 20",
# "24 and 6 = 30", "= 2 dozen"): that side cannot be read on its own.
_BINDS_BEFORE = frozenset((
    "of", "times", "by", "plus", "minus", "over", "than", "per", "into", "add", "adding",
    "subtract", "subtracting", "multiply", "multiplying", "divide", "dividing", "double", "twice", "triple",
    "half", "third", "quarter", "square", "cube", "root", "sqrt", "sin", "cos", "tan", "log", "ln", "exp", "abs",
))  # fmt: skip
# ... and these only a lone number ("24 and 6 = 30", but "..., and 24 + 6 = 30").
_JOINS_BEFORE = frozenset(("and", "from", "with"))
_BINDS_AFTER = frozenset((
    "times", "of", "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions",
    "billion", "billions", "plus", "minus", "divided", "multiplied", "squared", "cubed", "over", "more",
    "less", "fewer", "than", *DENOMINATORS,
))  # fmt: skip


@dataclass(frozen=True)
class _Side:
    value: Fraction | None
    computed: bool = False
    decimals: int | None = None


def _letter(word: _Token) -> bool:
    """A single letter that is not the word "a" or "I": a variable (``y - 5 = 3``, ``= 5 y``)."""
    return len(word.text) == 1 and word.text not in "aAI"


def _side(tokens: list[_Token], before: _Token | None, after: _Token | None) -> _Side:
    """One side of an equality. ``before``/``after``: the word or mark just outside the chain, when
    this side is at its edge (None inside the chain)."""
    # "(2 + 3 = 5)": the chain's own brackets are not part of its first and last sides.
    while tokens and tokens[0].kind == "(" and sum(t.kind == "(" for t in tokens) > sum(t.kind == ")" for t in tokens):
        tokens = tokens[1:]
    while tokens and tokens[-1].kind == ")" and sum(t.kind == ")" for t in tokens) > sum(t.kind == "(" for t in tokens):
        tokens = tokens[:-1]
    if not tokens or any(t.kind == "var" for t in tokens):
        return _Side(None)
    if tokens[0].kind == "op" and tokens[0].text != "-":
        return _Side(None)  # "2x + 5 = 11": the side goes on before the chain
    if before is not None and before.kind == "word":
        word = before.text.lower()
        if word in _BINDS_BEFORE or _letter(before) or (word in _JOINS_BEFORE and len(tokens) == 1):
            return _Side(None)
    if after is not None and after.kind == "word" and (
        after.glued or after.text.lower() in _BINDS_AFTER or _letter(after)
    ):
        return _Side(None)
    try:
        value = _evaluate(tokens)
    except (_NotArithmetic, ZeroDivisionError, OverflowError):
        return _Side(None)
    computed = any(t.kind == "op" or t.computed for t in tokens)
    return _Side(value, computed, tokens[0].decimals if len(tokens) == 1 else None)


def _terminates(value: Fraction) -> bool:
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _agree(a: _Side, b: _Side, approximate: bool) -> bool:
    """Equal, or one side is the other rounded to the decimals written (``10/3 = 3.33``; with ≈,
    any rounding). After "=", a value whose decimals end must be written exactly."""
    if a.value == b.value:
        return True
    for exact, written in ((a.value, b), (b.value, a)):
        if exact is None or written.value is None or written.decimals is None:
            continue
        if not approximate and (written.decimals < 1 or _terminates(exact)):
            continue
        if abs(exact - written.value) <= Fraction(1, 2 * 10**written.decimals):
            return True
    return False


def _is_variable(tokens: list[_Token], i: int) -> bool:
    """A single letter right next to "=" (``x = 3``) stands for a value; any other word ends a chain."""
    tok = tokens[i]
    if tok.kind != "word" or len(tok.text) != 1 or tok.glued:
        return False
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if after is not None and after.start == tok.end and after.kind == "num":
        return False  # x2
    before = tokens[i - 1] if i > 0 else None
    return (before is not None and before.kind == "eq") or (after is not None and after.kind == "eq")


def false_equalities(text: str, *, bare: bool = True) -> list[str]:
    """The chains ``a = b = c`` in ``text`` that do not hold, as written (after ``normalise``).

    A side is the arithmetic written right next to an ``=``, valued exactly: ``$25*4=$110`` compares
    100 with 110, and ``7 = x = 5`` compares 7 with 5 (a lone variable is one value throughout).
    Sides that are not arithmetic on their own (``2x``, ``half of 40``, ``2 dozen``, words) are left
    out. ``bare``: compare plain numbers too (``6 = 5``); otherwise a chain counts only when a side
    computes something (an operator, a fraction, a percentage, scientific notation).
    """
    text = normalise(text)
    tokens = _tokens(text)
    tokens = [_Token("var", t.text, t.start, t.end) if _is_variable(tokens, i) else t for i, t in enumerate(tokens)]
    false: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i].kind in ("word", "stop"):
            i += 1
            continue
        j = i
        while j < len(tokens) and tokens[j].kind not in ("word", "stop"):
            j += 1
        segment = tokens[i:j]
        before = tokens[i - 1] if i > 0 else None
        after = tokens[j] if j < len(tokens) else None
        i = j
        groups: list[list[_Token]] = [[]]
        for tok in segment:
            if tok.kind == "eq":
                groups.append([])
            else:
                groups[-1].append(tok)
        if len(groups) < 2:
            continue
        sides = [
            _side(group, before if k == 0 else None, after if k == len(groups) - 1 else None)
            for k, group in enumerate(groups)
        ]
        valued = [s for s in sides if s.value is not None]
        if len(valued) < 2 or not (bare or any(s.computed for s in valued)):
            continue
        approximate = any(t.text == "≈" for t in segment)
        # Each side against its neighbour and against the first: linear in the chain's length.
        pairs = [*pairwise(valued), *((valued[0], v) for v in valued[2:])]
        if not all(_agree(a, b, approximate) for a, b in pairs):
            start = segment[0].start
            while start > 0 and text[start - 1] in "$€£":
                start -= 1
            false.append(" ".join(text[start : segment[-1].end].split()))
    return false
