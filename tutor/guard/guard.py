"""The pedagogical guard: checks every candidate tutor reply before it is sent.

It sits outside the language model and reads only the candidate and the authored material, so a
prompt injection in the student's message cannot talk it out of its verdict. Checks, all
deterministic:

1. answer leak: the reply states the final answer (or an equivalent form: 24, 24.0, "twenty-four",
   $24$, 1/2 vs 0.5, \\frac{1}{2}, "x = 3") before the policy released it, unless the student has
   just given it; any other final answer asserted before release ("So the answer is 60.": human
   judges count revealing a wrong answer as revealing too); a wrong answer confirmed: praise or
   "that's correct" after an attempt the checker marked wrong;
2. hallucinated numbers: a number that neither the authored text, the problem statement, the
   student's messages, nor one arithmetic step on those supports; false arithmetic: a chain like
   ``25*4 = 110`` or ``$220*12=$2540`` that does not hold, checked exactly;
3. ignoring the move: a probing move without a question, a hint that shares almost nothing with
   the authored hint;
4. length.

Its evaluation on labelled data (and a scorer for JSONL files) is a benchmark:
``python -m tutor.benchmarks.guard_eval``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from tutor.checking import numbers

if TYPE_CHECKING:
    from tutor.checking import CheckResult

__all__ = [
    "GuardVerdict",
    "Quantity",
    "answer_leak",
    "choose_reply",
    "extract_quantities",
    "guard_check",
    "token_overlap",
]

# --------------------------------------------------------------------------------------------------
# Numbers in text, read by the checker's number reader (tutor.checking.numbers): the guard must see
# an answer in every form the checker accepts as that answer.


@dataclass(frozen=True)
class Quantity:
    """A number found in text.

    ``part``: the numerator or denominator of a fraction like 3/4 (not a value the text states).
    ``alias``: another reading of a stated number (50% also as 0.5), not a separate claim.
    """

    value: Fraction
    text: str
    start: int
    end: int
    decimals: int = 0
    word: bool = False
    part: bool = False
    alias: bool = False


@functools.lru_cache(maxsize=1024)  # one check reads the same text several times
def _normalise(text: str) -> str:
    # Curly apostrophes (U+2019) too; one character for one, so positions still agree.
    return numbers.normalise(text).replace("\u2019", "'")


def _as_quantities(number: numbers.Number) -> Iterator[Quantity]:
    """What a number states: a fraction its value (its numerator and denominator only as parts), a
    division in a worked step ("12 / 2") its operands, a percentage its value and, as an alias,
    that value as a fraction of one."""
    if number.kind == "division":
        for operand in number.parts:
            if operand.value is not None:
                yield Quantity(operand.value, operand.text, operand.start, operand.end, operand.decimals)
        return
    for part in number.parts:
        if part.value is not None:
            yield Quantity(part.value, part.text, part.start, part.end, part.decimals, part=True)
    if number.value is None:
        return
    word = number.kind == "word"
    yield Quantity(number.value, number.text, number.start, number.end, number.decimals, word=word)
    if number.percent:
        yield Quantity(number.value / 100, number.text, number.start, number.end, number.decimals + 2, alias=True)


def extract_quantities(text: str) -> list[Quantity]:
    """Every number stated in ``text``, in order (positions refer to the LaTeX-normalised text)."""
    return list(_quantities(text))


# A streamed reply is checked many times against the same problem, student messages and authored
# text: their numbers are read once. Quantities are immutable, so sharing them is safe.
@functools.lru_cache(maxsize=4096)
def _quantities(text: str) -> tuple[Quantity, ...]:
    found = [q for number in numbers.read_numbers(_normalise(text)) for q in _as_quantities(number)]
    return tuple(sorted(found, key=lambda q: (q.start, -q.end)))


# --------------------------------------------------------------------------------------------------
# The answer and its forms.


@dataclass
class _AnswerForms:
    values: list[tuple[Fraction, int]] = field(default_factory=list)  # (value, decimals written)
    texts: list[str] = field(default_factory=list)  # non-numeric forms, normalised

    def __bool__(self) -> bool:
        return bool(self.values or self.texts)


def _compact(text: str) -> str:
    text = _normalise(text).lower().replace("$", "")
    return re.sub(r"[\s*]+", "", text)


def _answer_forms(answer: str | None, answer_forms: Sequence[str]) -> _AnswerForms:
    return _answer_forms_cached(answer, tuple(answer_forms))


@functools.lru_cache(maxsize=1024)
def _answer_forms_cached(answer: str | None, answer_forms: tuple[str, ...]) -> _AnswerForms:
    # Shared between calls: callers only read it.
    forms = _AnswerForms()
    for form in ([answer] if answer else []) + [f for f in answer_forms if f]:
        quantities = [q for q in extract_quantities(form) if not q.part]
        stripped = re.sub(r"[\s$\\]", "", form)
        # "x = 3" or "3" or "$24.00" or "24 pens": one number carries the answer
        assignment = re.fullmatch(r"\$?\s*[a-zA-Z]\w*\s*=\s*(.+?)\s*\$?", form.strip())
        if assignment:
            forms.texts.append(_compact(form))
            quantities = [q for q in extract_quantities(assignment[1]) if not q.part]
        distinct = {q.value for q in quantities}
        if len(distinct) == 1:
            value = quantities[0].value
            forms.values.append((value, max(q.decimals for q in quantities)))
            if "%" in form or "percent" in form.lower():
                forms.values.append((value / 100, 2))
        elif stripped:
            forms.texts.append(_compact(form))
    return forms


def _same_number(candidate: Quantity, value: Fraction, decimals: int) -> bool:
    if candidate.value == value:
        return True
    if abs(candidate.value - value) <= abs(value) * Fraction(1, 10**9):
        return True
    # 0.33 for 1/3, 33.33 for 100/3: a rounded form still gives the answer away
    if candidate.decimals >= 2 and round(value, candidate.decimals) == candidate.value:
        return True
    return decimals >= 2 and round(candidate.value, decimals) == value


_ASSERT_BEFORE = re.compile(
    r"(?:=|≈|\bequals?|\bequal to|\banswer(?: is| should be| would be)?|\bresult(?: is)?|\btotal(?: of| is)?"
    r"|\baltogether|\bin all|\bcomes? to|\bshould (?:be|get|have)|\bwould (?:be|get|have)|\bwill (?:be|get|have)"
    r"|\byou(?:'ll| will)? get|\bgives? (?:you|us)?|\bmakes?|\bleaves?(?: him| her| them| you)?"
    r"|\bwhich is|\bthat(?:'s| is)|\bit(?:'s| is)"
    r"|\bend up with|\bleft with|\bis actually|\bcorrect(?:ly)? (?:is|answer)|\bso (?:it's|it is|that's))"
    r"[\s:$(]*$",
    re.I,
)
_ASSERT_AFTER = re.compile(r"^[\s$).,]*(?:is|would be|will be)?\s*(?:the )?(?:correct|right|final|answer)\b", re.I)


def _asserted(text: str, quantity: Quantity) -> bool:
    """Is the number stated as a result ("= 24", "the answer is 24", "24 is correct")?"""
    before = text[max(0, quantity.start - 40) : quantity.start]
    after = text[quantity.end : quantity.end + 30]
    return bool(_ASSERT_BEFORE.search(before) or _ASSERT_AFTER.search(after))


def _is_ambient(quantity: Quantity, ambient: dict[Fraction, frozenset[str]]) -> bool:
    """Was this number already written, in this kind of notation, in the problem or the student's words?

    "0.75" is not ambient in "Write 3/4 as a decimal" although the values are equal: the conversion
    is the exercise.
    """
    return _notation(quantity) in ambient.get(quantity.value, frozenset())


def _notation(quantity: Quantity) -> str:
    if quantity.alias or "%" in quantity.text or "percent" in quantity.text.lower():
        return "percent"
    if quantity.value.denominator == 1:
        return "integer"
    return "decimal" if quantity.decimals else "fraction"


def _reveals(candidate: str, forms: _AnswerForms, ambient: dict[Fraction, frozenset[str]]) -> str | None:
    """The surface form in which ``candidate`` states the answer, if it does."""
    normalised = _normalise(candidate)
    compact = _compact(candidate)
    for text_form in forms.texts:
        if not text_form:
            continue
        if re.fullmatch(r"[a-z]+", text_form):
            for found in re.finditer(rf"\b{re.escape(text_form)}\b", normalised.lower()):
                # A short word answer ("no", "yes", "add") is everyday language: it leaks only when
                # stated as the result ("the answer is no").
                if len(text_form) > 3 or _ASSERT_BEFORE.search(normalised[max(0, found.start() - 40) : found.start()]):
                    return text_form
        elif text_form in compact:
            return text_form
    for quantity in _quantities(candidate):
        if quantity.part:
            continue
        for value, decimals in forms.values:
            if not _same_number(quantity, value, decimals):
                continue
            weak = quantity.word and quantity.value == 1 and quantity.text.lower() in ("one", "a")
            # A number already in the problem or the student's words (e.g. an intermediate that equals
            # the answer) only leaks when the reply states it as the result.
            if (weak or _is_ambient(quantity, ambient)) and not _asserted(normalised, quantity):
                continue
            return quantity.text
    return None


# --------------------------------------------------------------------------------------------------
# The student's last attempt: praise after a wrong answer confirms it; after a right one, the reply
# may say the answer the student just gave.

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CONFIRM_OPENING = re.compile(
    r"^[\s\"'“(*]*(?:(?:yes|yeah|yep|yup)\b|(?:correct|right|exactly|precisely|perfect|excellent|great|good|awesome"
    r"|brilliant|fantastic|wonderful|indeed|absolutely|bingo|nice)\s*(?:[!.,:;\u2014\u2013-]|$))",
    re.I,
)
_CONFIRM = re.compile(
    r"\b(?:(?:that|it|this|which|you|your\s+(?:answer|result|solution|work)|the\s+answer)\s*"
    r"(?:'s|'re|\s+is|\s+are|\s+was|\s+were)\s+"
    r"(?:(?:absolutely|exactly|completely|totally|quite|perfectly|entirely|so|100%)\s+)?(?:correct|right)\b"
    r"(?!\s+(?:there|here|now|away|after|before|track|idea|direction|way|approach|start|side|hand)\b)"
    r"|(?:well|nicely)\s+done\b|(?:good|great|nice|excellent)\s+(?:job|work)\b|spot\s+on\b"
    r"|you(?:'ve|\s+have)?\s+got\s+it\b|you\s+nailed\s+it\b|that's\s+it\b|exactly\s+right\b"
    r"|(?:is|are|was|that's|it's)\s+the\s+(?:correct|right)\s+answer\b)",
    re.I,
)
_NEGATED = re.compile(r"\b(?:not|no|never|almost|nearly|if|whether|sure)\b|n't", re.I)


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _confirms_wrong(text: str, last_attempt: CheckResult | None) -> str | None:
    """The words with which ``text`` praises or confirms an attempt the checker marked wrong
    ("That's correct", "Yes, it's 78", "Well done"), if it does. A question ("Is that right?") or a
    negation ("not quite right") confirms nothing; a partly right attempt (right value, missing
    units) may be called right."""
    if last_attempt is None or last_attempt.status != "incorrect" or last_attempt.partial:
        return None
    return _confirmation(text, openings=True)


def _confirmation(text: str, *, openings: bool) -> str | None:
    """The words with which ``text`` says someone is right ("That's correct", "You're right", "Well
    done"; with ``openings`` also a sentence that opens "Yes," or "Great!"), if it does."""
    for sentence in _sentences(_normalise(text)):
        if sentence.rstrip().endswith("?"):
            continue
        opening = _CONFIRM_OPENING.match(sentence) if openings else None
        if opening:
            return opening.group(0).strip(" \"'“(*!.,:;\u2014\u2013-")
        for match in _CONFIRM.finditer(sentence):
            if not _NEGATED.search(sentence[: match.start()]):
                return match.group(0)
    return None


# Only these moves tell the student they are right (an answer the checker accepted, a finished problem).
_AFFIRMING_MOVES = ("praise", "advance", "point_next")
# "I'll give you the answer", "I'm going to tell you the answer", "here's the answer": a promise the
# tutor then does not keep, before the answer is released.
_PROMISES_ANSWER = re.compile(
    r"\b(?:i'?ll|i\s+will|i'?m\s+going\s+to|i\s+am\s+going\s+to|let\s+me|i\s+can)\s+(?:just\s+|now\s+)?"
    r"(?:give|tell|show)\s+you\s+the\s+(?:final\s+|whole\s+|right\s+|correct\s+)?(?:answer|solution)\b"
    r"|\bhere(?:'s|\s+is)\s+the\s+(?:final\s+|whole\s+|right\s+|correct\s+)?(?:answer|solution)\b",
    re.I,
)


# "The final answer is 159.", "So the answer is 60.", "\\boxed{60}", "60 is the answer": a value put
# forward as the problem's answer, whichever value it is.
_FINAL_BEFORE = re.compile(
    r"(?:\b(?:(?:final|correct|right|actual|real)\s+)?(?:answer|solution)"
    r"(?:\s+to\s+(?:the\s+)?(?:whole\s+|original\s+|main\s+)?problem)?"
    r"\s*(?:is|was|=|:|would\s+be|will\s+be|should\s+be|must\s+be|has\s+to\s+be|comes\s+to|equals)"
    r"(?:\s+(?:about|approximately|exactly|just|simply|actually|really|indeed|then))?"
    r"|\\boxed\s*\{|####)"
    r"[\s$(]*(?:[a-z]\s*=\s*[\s$(]*)?$",
    re.I,
)
_FINAL_AFTER = re.compile(
    r"^[\s$)]*(?:[a-z%]+\s+)?(?:is|was|would\s+be|will\s+be|must\s+be)\s+(?:the|our|my)\s+"
    r"(?:(?:final|correct|right)\s+)?answer\b"
    r"(?!\s+(?:to|for)\s+(?:the\s+)?(?:first|second|third|next|this|that|each|one|part|step)\b)",
    re.I,
)
# Said about an answer, not asserting one: "if the answer were 60", "you said the answer is 42".
_NOT_ASSERTING = re.compile(
    r"\b(?:if|suppose|supposing|assume|assuming|whether|unless|check|checking|verify|instead)\b"
    r"|\byou(?:'ve|'re|\s+have|\s+are)?(?:\s+(?:still|just|already|probably|maybe|first))?\s+(?:said|saying|wrote|written|write|think|thinking|thought|guess|guessed"
    r"|guessing|claim|claimed|claiming|mentioned|answered|got|get|put|believe|believed|found|gave|given|chose"
    r"|chosen|picked|say)\b",
    re.I,
)
_SENTENCE_BREAK = re.compile(r"[.!?](?=\s|$)|\n")
_ANSWER_WORD = re.compile(r"answer|solution|boxed|####", re.I)


def _final_answer_asserted(text: str, forms: _AnswerForms, last_attempt: CheckResult | None) -> str | None:
    """The value ``text`` puts forward as the problem's final answer, if any, other than the answer
    itself (the leak check's business) and the value of a right last attempt. Questions ("Is the
    answer 60?") and reported or hypothetical answers assert nothing."""
    if not _ANSWER_WORD.search(text):
        return None  # the common case, checked at every streamed token batch
    earned: set[Fraction] = set()
    if last_attempt is not None and last_attempt.status == "correct":
        earned = {q.value for q in _quantities(last_attempt.parsed) if not q.part}
    normalised = _normalise(text)
    for quantity in _quantities(text):
        if quantity.part or quantity.alias or quantity.value in earned:
            continue
        if any(_same_number(quantity, value, decimals) for value, decimals in forms.values):
            continue
        breaks = [m.end() for m in _SENTENCE_BREAK.finditer(normalised, 0, quantity.start)]
        start = breaks[-1] if breaks else 0
        following = _SENTENCE_BREAK.search(normalised, quantity.end)
        end = following.end() if following else len(normalised)
        if normalised[start:end].rstrip().endswith("?"):
            continue
        before = normalised[start : quantity.start]
        claim = _FINAL_BEFORE.search(before)
        said = before[: claim.start()] if claim else before
        if claim is None and not _FINAL_AFTER.match(normalised[quantity.end : end]):
            continue
        if _NOT_ASSERTING.search(said) or re.search(r"\byour\s+(?:\w+\s+)?$", said, re.I):
            continue
        return quantity.text
    return None


def _gave_the_answer(last_attempt: CheckResult | None, forms: _AnswerForms) -> bool:
    """The student's last attempt was right and states the answer itself: saying it is no leak."""
    return bool(last_attempt is not None and last_attempt.status == "correct"
                and _reveals(last_attempt.parsed, forms, {}) is not None)


# --------------------------------------------------------------------------------------------------
# Grounding: does the reply follow the authored move?

_STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "then", "so", "to", "of", "in", "on", "at", "by", "for",
    "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that",
    "these", "those", "there", "here", "you", "your", "we", "our", "us", "i", "me", "my", "he", "she",
    "they", "them", "his", "her", "their", "what", "which", "who", "whom", "how", "why", "when", "where",
    "can", "could", "would", "should", "will", "shall", "may", "might", "do", "does", "did", "done",
    "have", "has", "had", "not", "no", "yes", "just", "also", "very", "really", "let", "lets", "let's",
    "about", "into", "out", "up", "down", "over", "than", "too", "now", "one", "think", "try", "look",
    "see", "remember", "okay", "ok", "well", "great", "good", "nice", "many", "much", "some", "any",
))  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _tokens(text: str) -> frozenset[str]:
    # Numbers count by value, so "half" and "1/2" or "6" and "six" are the same token.
    result = {f"#{q.value}" for q in _quantities(text) if not q.part and not q.alias}
    for word in re.findall(r"[a-z]+", _normalise(text).lower()):
        if word in _STOPWORDS or len(word) < 3 or word in numbers.NUMBER_WORDS:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if len(word) > len(suffix) + 2 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        result.add(word)
    return frozenset(result)


def token_overlap(candidate: str, authored: str) -> float:
    """Share of the authored text's content words that the candidate also uses (0..1)."""
    authored_tokens = _tokens(authored)
    if not authored_tokens:
        return 1.0
    return len(authored_tokens & _tokens(candidate)) / len(authored_tokens)


_QUESTION_MOVES = ("probe", "question", "ask", "elicit", "subproblem", "scaffold")
# Every move the policy makes carries authored text; a small model drifts (off-topic chatter, wrong
# claims built from the problem's own numbers), so every reply must stay close to that text.
_GROUNDED_MOVES = ("hint", "feedback", "misconception", "subproblem", "scaffold", "tell", "bottom", "explain",
                   "redirect", "encourage", "praise", "advance", "probe", "decline", "refer", "point")
_QUESTION_START = re.compile(
    r"(?:^|[.!:\n]\s*)(?:what|how|why|which|where|when|who|can you|could you|would you|do you|does|did you|"
    r"is it|are there|is there)\b",
    re.I,
)
MIN_HINT_OVERLAP = 0.25
_PRAISE_MOVES = ("praise",)
_PRAISE_CONTRADICTED = re.compile(
    r"\b(?:not|isn'?t|is\s+not|wasn'?t)\s+(?:quite\s+)?(?:correct|right)\b|\bincorrect\b|\bwrong\b|\bnot\s+quite\b",
    re.I,
)


# The prompt's own scaffolding, which a small model sometimes copies out instead of replying: the
# marker tags (or ones it makes up, such as "<noted>"), "(Tutor, your task now: ...", "the teacher's
# note", "between the markers", the primed "I understand the problem." None of it belongs in a reply
# a student reads.
_SCAFFOLDING = re.compile(
    r"<\s*/?\s*(?:authored|noted?|notes|markers?|task|system|instructions?|grounding)\b[^<>]*>"
    r"|\(\s*tutor\b|\byour\s+task\b|\bteacher'?s\s+note\b|\bthe\s+markers?\b|\bsystem\s+prompt\b"
    # the prompt's own primed turn (tutor.dialogue.instructions)
    r"|\bI\s+understand\s+the\s+problem\b",
    re.IGNORECASE,
)
# Markup: a tutor's reply is Markdown; an HTML tag in it is at best noise (it is shown as text, never run).
# (As a browser reads a tag: its name right after "<", so "is x < y and y > z?" is no tag.)
_MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9:_-]{0,20}(?:\s[^<>]*)?/?>")


# A reply that says it has none.
_NO_REPLY = re.compile(r"\bnot\s+sure\s+(?:how|what)\s+to\s+(?:say|respond|reply|answer)\b", re.IGNORECASE)


def unshowable(text: str) -> str | None:
    """Why ``text`` must not reach the student even in part, if it must not: it copies out the
    model's instructions, writes markup, or says it has no reply. The guard's reason, with the piece
    quoted."""
    match = _SCAFFOLDING.search(text)
    if match:
        return f"copies out its instructions ({match.group(0)!r})"
    match = _MARKUP.search(text)
    if match:
        return f"writes markup ({match.group(0)!r})"
    match = _NO_REPLY.search(text)
    if match:
        return f"says it has no reply ({match.group(0)!r})"
    return None


def _said(text: str) -> str:
    """A reply as a student hears it: case, spacing and closing punctuation aside."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def _asks_question(text: str) -> bool:
    return "?" in text or bool(_QUESTION_START.search(text))


# --------------------------------------------------------------------------------------------------
# The guard.


@dataclass(frozen=True)
class GuardVerdict:
    passed: bool
    reveals_answer: bool
    score: float
    reasons: list[str]


def _supported_values(allowed: Iterable[str], authored_text: str) -> set[Fraction]:
    # A streamed reply is checked once per token against the same move: computing this once per
    # move (not per token) keeps a turn's guard cost linear in its length.
    return set(_supported_values_cached(tuple(allowed), authored_text))


@functools.lru_cache(maxsize=256)
def _supported_values_cached(allowed: tuple[str, ...], authored_text: str) -> frozenset[Fraction]:
    base: set[Fraction] = {Fraction(0), Fraction(1)}
    for source in [*allowed, authored_text]:
        for quantity in extract_quantities(str(source)):
            base.update((quantity.value, abs(quantity.value)))
            if quantity.decimals:  # 0.34 also read as 34 hundredths, 12.5% as 125 thousandths
                base.add(abs(quantity.value) * 10**quantity.decimals)
    # One arithmetic step on supported numbers is supported too: "12 x 2 = 24" from 12 and 2.
    derived = set(base)
    operands = sorted(base)[:60]
    for a in operands:
        for b in operands:
            derived.update((a + b, a - b, a * b))
            if b:
                derived.add(a / b)
    return frozenset(derived)


def answer_leak(
    candidate: str,
    *,
    answer: str | None,
    answer_forms: Sequence[str] = (),
    released: bool,
    allowed_numbers: Iterable[str] = (),
    last_attempt: CheckResult | None = None,
) -> str | None:
    """How ``candidate`` states an answer it must not: the step's answer before its release (unless
    the student has just given it), any other value put forward as the final answer before then
    (revealing a wrong answer is revealing too), or a confirmation of an attempt the checker marked
    wrong. None if it does none of these.

    The first checks of ``guard_check`` on their own: a streamed reply is checked at every token
    batch and needs the rest of the verdict only once it is complete.
    """
    text = candidate.strip()
    return (
        _leak(text, answer, answer_forms, released, allowed_numbers, last_attempt)
        or _asserts(text, answer, answer_forms, released, last_attempt)
        or _confirms_wrong(text, last_attempt)
    )


def _asserts(
    text: str, answer: str | None, answer_forms: Sequence[str], released: bool, last_attempt: CheckResult | None
) -> str | None:
    if released:
        return None
    return _final_answer_asserted(text, _answer_forms(answer, answer_forms), last_attempt)


def _leak(
    text: str,
    answer: str | None,
    answer_forms: Sequence[str],
    released: bool,
    allowed_numbers: Iterable[str],
    last_attempt: CheckResult | None,
) -> str | None:
    forms = _answer_forms(answer, answer_forms)
    if not forms or released or _gave_the_answer(last_attempt, forms):
        return None
    return _reveals(text, forms, _ambient(tuple(str(a) for a in allowed_numbers)))


@functools.lru_cache(maxsize=256)
def _ambient(allowed: tuple[str, ...]) -> dict[Fraction, frozenset[str]]:
    """The notations each number is written in across ``allowed`` (shared between calls: read only)."""
    ambient: dict[Fraction, set[str]] = {}
    for source in allowed:
        for quantity in _quantities(source):
            ambient.setdefault(quantity.value, set()).add(_notation(quantity))
    return {value: frozenset(notations) for value, notations in ambient.items()}


def guard_check(
    candidate: str,
    *,
    answer: str | None,
    answer_forms: Sequence[str] = (),
    released: bool,
    authored_text: str,
    allowed_numbers: Iterable[str] = (),
    move: str,
    max_chars: int = 600,
    last_attempt: CheckResult | None = None,
    earlier_replies: Iterable[str] = (),
) -> GuardVerdict:
    """Check one candidate tutor reply against the answer, the authored move and the known numbers.

    ``allowed_numbers``: strings whose numbers the reply may state (the problem statement, the
    student's messages); numbers in ``authored_text`` are allowed automatically. A number in
    ``allowed_numbers`` that equals the answer counts as a leak only when stated as a result.
    ``answer``/``answer_forms``: the final answer and any equivalent forms ("x = 3", "0.5").
    ``last_attempt``: the checker's verdict on the student's message this reply answers, if it was
    an attempt. After a wrong attempt, praise or confirmation fails the reply; after a right one,
    the reply may restate the answer the student gave.
    ``earlier_replies``: what the tutor has already said in this conversation; saying one of them
    again word for word fails the reply (a student who hears the same sentence twice is not listened to).
    """
    reasons: list[str] = []
    text = candidate.strip()
    allowed = [str(a) for a in allowed_numbers]
    if not text:
        return GuardVerdict(passed=False, reveals_answer=False, score=0.0, reasons=["empty reply"])

    forms = _answer_forms(answer, answer_forms)
    reveals = False
    leaked = _leak(text, answer, answer_forms, released, allowed, last_attempt)
    if leaked is not None:
        reveals = True
        reasons.append(f"reveals the answer ({leaked!r}) before it was released")
    asserted = _asserts(text, answer, answer_forms, released, last_attempt)
    if asserted is not None:
        reasons.append(f"asserts a final answer ({asserted!r}) before it was released")
    confirmed = _confirms_wrong(text, last_attempt)
    if confirmed is not None:
        reasons.append(f"confirms an answer the checker marked wrong ({confirmed!r})")
    scaffolding = unshowable(text)
    if scaffolding is not None:
        reasons.append(scaffolding)
    if not released:
        promise = _PROMISES_ANSWER.search(_normalise(text))
        if promise is not None:
            reasons.append(f"promises the answer before it is released ({promise.group(0)!r})")
    move_lower = move.lower()
    if (confirmed is None and not any(key in move_lower for key in _AFFIRMING_MOVES)
            and (last_attempt is None or (last_attempt.status != "correct" and not last_attempt.partial))):
        affirmed = _confirmation(text, openings=False)
        if affirmed is not None:
            reasons.append(f"tells the student they are right ({affirmed!r}) where the move does not")

    supported = _supported_values(allowed, authored_text)
    if released or _gave_the_answer(last_attempt, forms):
        supported.update(value for value, _ in forms.values)
    unsupported = []
    for quantity in _quantities(text):
        if quantity.part or quantity.alias or quantity.value in supported:
            continue
        if quantity.word and abs(quantity.value) <= 3:  # "one step", "two things to check"
            continue
        if reveals and any(_same_number(quantity, v, d) for v, d in forms.values):
            continue  # already reported as a leak
        if asserted is not None and quantity.text == asserted:
            continue  # already reported as an asserted answer
        unsupported.append(quantity.text)
    for number in dict.fromkeys(unsupported):
        reasons.append(f"states a number nothing supports: {number!r}")
    # Every number in "25*4 = 110" may be supported and the claim still false.
    false_arithmetic = numbers.false_equalities(text, bare=False)
    for equation in dict.fromkeys(false_arithmetic):
        reasons.append(f"states false arithmetic: {equation!r}")

    move_key = move.lower()
    overlap = token_overlap(text, authored_text)
    ignores_move = False
    if any(key in move_key for key in _QUESTION_MOVES) and not _asks_question(text):
        ignores_move = True
        reasons.append(f"move {move!r} asks a question, the reply asks none")
    if any(key in move_key for key in _GROUNDED_MOVES) and _tokens(authored_text) and overlap < MIN_HINT_OVERLAP:
        ignores_move = True
        reasons.append(f"reply shares almost nothing with the authored {move!r} (overlap {overlap:.2f})")
    if any(key in move_key for key in _PRAISE_MOVES) and (contradiction := _PRAISE_CONTRADICTED.search(text)):
        ignores_move = True
        reasons.append(f"says the answer is wrong where the move praises it ({contradiction.group(0)!r})")

    words = re.findall(r"\w+", text.lower())
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if trigrams and max(trigrams.count(t) for t in set(trigrams)) >= 3:
        ignores_move = True
        reasons.append("repeats itself")
    said = _said(text)
    if any(said == _said(earlier) for earlier in earlier_replies):
        ignores_move = True
        reasons.append("says again word for word what it said earlier")

    too_long = len(text) > max_chars
    if too_long:
        reasons.append(f"too long ({len(text)} > {max_chars} characters)")

    if reveals or asserted is not None or confirmed is not None or false_arithmetic or scaffolding:
        score = 0.0
    else:
        score = 1.0 - 0.3 * min(len(set(unsupported)), 2) - (0.35 if ignores_move else 0.0)
        score -= 0.2 if too_long else 0.0
        if _tokens(authored_text):
            score *= 0.85 + 0.15 * min(1.0, overlap / 0.5)
        score = max(0.0, min(1.0, score))
    return GuardVerdict(passed=not reasons, reveals_answer=reveals, score=round(score, 4), reasons=reasons)


def choose_reply(
    candidates: Iterable[str],
    *,
    answer: str | None,
    answer_forms: Sequence[str] = (),
    released: bool,
    authored_text: str,
    allowed_numbers: Iterable[str] = (),
    move: str,
    max_chars: int = 600,
    fallback: str | None = None,
    last_attempt: CheckResult | None = None,
) -> str:
    """The best-scoring candidate that passes the guard, else ``fallback`` (default: the authored text)."""
    allowed = list(allowed_numbers)
    best: tuple[float, str] | None = None
    for candidate in candidates:
        verdict = guard_check(
            candidate,
            answer=answer,
            answer_forms=answer_forms,
            released=released,
            authored_text=authored_text,
            allowed_numbers=allowed,
            move=move,
            max_chars=max_chars,
            last_attempt=last_attempt,
        )
        if verdict.passed and (best is None or verdict.score > best[0]):
            best = (verdict.score, candidate.strip())
    if best is not None:
        return best[1]
    return authored_text if fallback is None else fallback
