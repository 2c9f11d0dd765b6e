"""Three kinds of false statement in a tutor reply, checked without a model.

- false arithmetic: "a op b = c" where c is not a op b;
- a wrong final answer: "the answer is X" where X is not the step's answer;
- a confirmed wrong guess: the student's last attempt was wrong and the reply calls it right.
"""

from __future__ import annotations

import re
from fractions import Fraction

_NUM = r"-?\d+(?:,\d{3})*(?:\.\d+)?"
_EQUATION = re.compile(rf"({_NUM})\s*([+\-x*/÷])\s*({_NUM})\s*=\s*({_NUM})")
_FINAL = re.compile(
    rf"\b(?:answer|result)\s+(?:is|was|would be|will be|should be)\s*:?\s*(?:indeed\s+|actually\s+|just\s+)?"
    rf"\$?\s*({_NUM}(?:/\d+)?)",
    re.IGNORECASE,
)
_PRAISE = re.compile(
    r"(\b(?:that's|that is|you're|you are|it's|is)\s+(?:exactly\s+|absolutely\s+)?(?:correct|right)\b|\bcorrect!|"
    r"\byes\b[,!]|\bwell done\b|\bgreat job\b|\bgood job\b|\bexactly\b|\bperfect\b|\byou got it\b)",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"(\bnot\b|n't\b|\bnot quite\b|\balmost\b|\bnearly\b)\s*(?:\w+\s*){0,2}$", re.IGNORECASE)
_LATEX = [(re.compile(r"\\(?:times|cdot)"), "x"), (re.compile(r"\\div"), "/"), (re.compile(r"[$\\]"), " ")]


def _plain(text: str) -> str:
    for pattern, replacement in _LATEX:
        text = pattern.sub(replacement, text)
    return text.replace("\u2212", "-").replace("\u00d7", "x")


def _value(text: str) -> Fraction | None:
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(num.replace(",", "")) / Fraction(den)
        return Fraction(text.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def false_arithmetic(reply: str) -> bool:
    for a, op, b, c in _EQUATION.findall(_plain(reply)):
        x, y, z = _value(a), _value(b), _value(c)
        if x is None or y is None or z is None:
            continue
        if op in "+":
            result = x + y
        elif op == "-":
            result = x - y
        elif op in "x*":
            result = x * y
        else:
            if y == 0:
                continue
            result = x / y
        if abs(result - z) > Fraction(1, 100) * max(Fraction(1), abs(z)):
            return True
    return False


def wrong_final_answer(reply: str, answer: str) -> bool:
    expected = _value(answer.strip())
    if expected is None:
        return False
    for stated in _FINAL.findall(_plain(reply)):
        value = _value(stated)
        if value is not None and abs(value - expected) > Fraction(1, 1000) * max(Fraction(1), abs(expected)):
            return True
    return False


def confirms_wrong_guess(reply: str, student_correct: bool | None) -> bool:
    if student_correct is not False:
        return False
    for match in _PRAISE.finditer(reply):
        if not _NEGATION.search(reply[max(0, match.start() - 24) : match.start()]):
            return True
    return False


def any_falsehood(reply: str, *, answer: str, student_correct: bool | None) -> bool:
    return (false_arithmetic(reply) or wrong_final_answer(reply, answer)
            or confirms_wrong_guess(reply, student_correct))
