"""Scaffolding for steps nobody authored hints for (e.g. imported MathDial / GSM8K items), derived
from the worked solution.

A derived scaffold asks for each step of the solution instead of doing it:

* each intermediate computation with a numeric result ("Madeline spends $25*4=$100 on food for her
  dog per month.") becomes a subproblem that asks for the quantity ("How much does Madeline spend on
  food for her dog per month?", answer 100), whose one hint names the calculation without its result
  ("You can find it with $25 x 4. What do you get?", with a multiplication sign). Only arithmetic
  that checks out is used (published solutions do contain slips), and never the computation that
  gives the final answer: its expression equals the answer, so showing it would hand it over;
* the main ladder is the bottom-out alone (the worked solution with its answer), so nothing short of
  the bottom-out states a result the student has not worked out. A solution with no usable
  computation falls back to its sentences with the final answer masked.

Derived subproblems have negative ids (-1, -2, …) so they never collide with authored rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import check_answer
from tutor.dialogue.policy import StepView, SubproblemView

MASK = "?"
TIMES = "\u00d7"  # multiplication sign

_NUMBER = re.compile(r"(?<![\w.])(?P<cur>\$)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d])")
_OPERAND = r"\$?\d+(?:,\d{3})*(?:\.\d+)?"
_COMPUTATION = re.compile(
    rf"(?P<expr>{_OPERAND}(?:\s*[-+x{TIMES}*/\u00f7]\s*{_OPERAND})+)\s*=\s*(?P<result>{_OPERAND})(?![\d])"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_FINAL_LINE = re.compile(r"^\s*(?:#{2,}\s*)?(?:the\s+answer\s+is\s*:?\s*)?(?P<answer>[-$\d.,/ ]+?)\s*\.?\s*$",
                         re.IGNORECASE)
_CALCULATOR_NOTE = re.compile(r"<<[^<>]*>>")  # GSM8K's "<<25*4=100>>" annotations


@dataclass(frozen=True)
class DerivedScaffold:
    hints: tuple[str, ...]  # the last one is the bottom-out and states the answer
    subproblems: tuple[SubproblemView, ...]
    final_answer: str


def _number_value(text: str) -> float | None:
    try:
        return float(text.replace("$", "").replace(",", "").strip())
    except ValueError:
        return None


def split_solution(worked_solution: str | Sequence[str]) -> tuple[list[str], str]:
    """(reasoning sentences, final answer found on a trailing answer-only line or "")."""
    text = worked_solution if isinstance(worked_solution, str) else "\n".join(worked_solution)
    text = _CALCULATOR_NOTE.sub("", text.replace("\\n", "\n"))  # MathDial's ground_truth keeps escaped newlines
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    final = ""
    if lines:
        m = _FINAL_LINE.match(lines[-1])
        if m and any(ch.isdigit() for ch in m.group("answer")):
            final = m.group("answer").strip().lstrip("$")
            lines = lines[:-1]
    sentences = [s.strip() for line in lines for s in _SENTENCE_END.split(line) if s.strip()]
    return sentences, final


def _same(value: float | None, other: float | None) -> bool:
    return value is not None and other is not None and abs(value - other) <= 1e-9 * max(1.0, abs(other))


def _mask(sentence: str, final: str) -> str:
    """The sentence with every mention of the final answer replaced by ``MASK``."""
    value = _number_value(final)
    if value is None:
        return re.sub(re.escape(final), MASK, sentence, flags=re.IGNORECASE) if final else sentence

    def swap(m: re.Match[str]) -> str:
        if _same(_number_value(m.group("num")), value):
            return (m.group("cur") or "") + MASK
        return m.group(0)

    return _NUMBER.sub(swap, sentence)


def _shown(expr: str) -> str:
    """"$25*4" with a multiplication sign and spaces, "36/6" as it is."""
    shown = re.sub(r"\s*([-+x*/\u00d7\u00f7])\s*", r" \1 ", expr)
    return shown.replace(" x ", f" {TIMES} ").replace(" * ", f" {TIMES} ").replace(" / ", "/")


# --- turning a step of the solution into a question -------------------------------------------

_PRONOUNS = {"he", "she", "they", "it", "we", "you", "i"}
_LOWER_FIRST = _PRONOUNS | {
    "a", "an", "the", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "half",
    "one-half", "each", "every", "this", "that", "these", "those", "his", "her", "their", "its", "all", "both",
}  # fmt: skip
_PAST = {
    "had": "have", "did": "do", "spent": "spend", "made": "make", "paid": "pay", "bought": "buy", "sold": "sell",
    "got": "get", "ate": "eat", "gave": "give", "took": "take", "ran": "run", "drove": "drive", "left": "leave",
    "won": "win", "lost": "lose", "found": "find", "kept": "keep", "sent": "send", "wrote": "write", "grew": "grow",
    "saw": "see", "came": "come", "went": "go",
}  # fmt: skip
_PRESENT = {"has": "have", "does": "do"}
_NOT_VERBS = {"is", "are", "was", "were", "be", "been", "of", "to", "and", "or", "so", "then", "the", "a", "an",
              "in", "on", "at", "for", "with", "by", "from", "total", "equal", "equals"}
_FILLER = re.compile(r"\s*(?:a\s+total\s+of|in\s+total|a\s+total|total\s+of|about|only|exactly|another|an\s+extra)\s*$",
                     re.I)
_CLAUSE_CUT = re.compile(r".*(?:[,;:]|\b(?:then|so|thus|therefore|and|since|because|which\s+means)\b)\s*", re.I)
_ASK_VERB = re.compile(
    r"(?P<subj>\b(?:[Hh]e|[Ss]he|[Tt]hey|[Ii]t|[Ww]e|I|[A-Z][a-z]+(?:\s[A-Z][a-z]+)?))\s+"
    r"(?:(?P<aux>will|would|can|could|must|should|might|did|does|do|has|have|had)\s+)?"
    r"(?P<verb>[a-z]+)(?P<obj>\s+(?:him|her|them|us|me|you))?\s*$"
)
_ASK_NOUN_VERB = re.compile(
    r"(?P<subj>(?:the|a|an|each|every|his|her|their|its|this|that|one|[A-Z][a-z]+)(?:\s+[\w/-]+){0,4}?)\s+(?P<verb>[a-z]+)",
    re.I,
)
_ASK_COPULA = re.compile(r"(?P<subj>.+?)\s+(?P<cop>is|are|was|were)(?:\s+(?:equal\s+to|the\s+same\s+as))?\s*$")
_EQUALS = re.compile(r"(?P<subj>.+?)\s+(?:equals?|makes?)\s*$")
_UNIT = re.compile(r"^\s*(?P<unit>(?:(?:more|fewer|extra|other|additional|new|whole)\s+)?[a-z][a-z-]*s)\b", re.I)
_PREPOSITIONS = {"on", "in", "at", "for", "per", "to", "from", "with", "by", "of", "each", "every", "left", "more",
                 "less", "altogether", "total", "this", "that", "than", "so", "and"}


def _base(verb: str) -> str | None:
    """The base form of a third-person or past verb ("spends" → "spend"), None if it is not one."""
    if verb in _NOT_VERBS:
        return None
    if verb in _PAST or verb in _PRESENT:
        return _PAST.get(verb) or _PRESENT[verb]
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if re.search(r"(?:ss|sh|ch|x|z|o)es$", verb):
        return verb[:-2]
    if verb.endswith("s") and not verb.endswith("ss"):
        return verb[:-1]
    if verb.endswith("ed") and len(verb) > 4:
        stem = verb[:-2]
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
            return stem[:-1]  # "stopped" → "stop"
        return stem + "e" if re.search(r"(?:[^aeiou][aeiou][cvsz]|[^aeiou]at|[^aeiou]ag)$", stem) else stem
    return None


def _subject(text: str) -> str:
    subject = _CLAUSE_CUT.sub("", text).strip()
    words = subject.split()
    if words and words[0].lower() in _LOWER_FIRST and words[0] != "I":
        words[0] = words[0].lower()
    return " ".join(words)


def _question_for(sentence: str, match: re.Match[str]) -> str:
    """A question asking for the result of ``match`` (a computation in ``sentence``)."""
    before = _FILLER.sub("", sentence[: match.start()]).rstrip()
    after = sentence[match.end() :].strip().rstrip(".!")
    money = "$" in match.group("expr") or "$" in match.group("result")
    unit_match = None if money else _UNIT.match(after)
    unit = ""
    if unit_match and unit_match.group("unit").split()[-1].lower() not in _PREPOSITIONS:
        unit = unit_match.group("unit")
    rest = after[unit_match.end() :].strip() if unit and unit_match else after
    rest = f" {rest}" if rest else ""
    how = f"How many {unit}" if unit else "How much"
    verb = _ASK_VERB.search(before)
    if verb is not None:
        subj = verb.group("subj")
        subj = subj.lower() if subj.lower() in _PRONOUNS and subj != "I" else subj
        obj = verb.group("obj") or ""
        if verb.group("aux"):
            return f"{how} {verb.group('aux')} {subj} {verb.group('verb')}{obj}{rest}?"
        base = _base(verb.group("verb"))
        if base is None and subj.lower() in ("they", "we", "you", "i") and verb.group("verb") not in _NOT_VERBS:
            base = verb.group("verb")  # "they have", "we need"
        if base is not None:
            past = verb.group("verb").endswith("ed") or verb.group("verb") in _PAST
            aux = "did" if past else ("do" if subj.lower() in ("they", "we", "you", "i") else "does")
            return f"{how} {aux} {subj} {base}{obj}{rest}?"
    clause = _CLAUSE_CUT.sub("", before).strip()
    noun_verb = _ASK_NOUN_VERB.fullmatch(clause)
    if noun_verb is not None and _ASK_COPULA.fullmatch(clause) is None:
        base = _base(noun_verb.group("verb"))
        if base is not None:
            aux = "did" if noun_verb.group("verb").endswith("ed") or noun_verb.group("verb") in _PAST else "does"
            return f"{how} {aux} {_subject(noun_verb.group('subj'))} {base}{rest}?"
    copula = _ASK_COPULA.fullmatch(before)
    if copula is not None:
        subj = _subject(copula.group("subj"))
        if subj:
            return f"What {copula.group('cop')} {subj}{' in ' + unit if unit else ''}{rest}?"
    equals = _EQUALS.fullmatch(before)
    if equals is not None:
        subj = _subject(equals.group("subj"))
        if subj:
            return f"What does {subj} come to{rest}?"
    masked = f"{sentence[: match.start()]}{MASK}{sentence[match.end():]}".strip()
    return f"{masked} What goes where the “{MASK}” is?"


@dataclass(frozen=True)
class _Computation:
    sentence: str
    question: str
    shown: str  # the calculation, without its result
    result: str  # as a number


def _computations(sentences: Sequence[str]) -> list[_Computation]:
    found: list[_Computation] = []
    for sentence in sentences:
        for m in _COMPUTATION.finditer(sentence):
            result = m.group("result").replace("$", "").replace(",", "")
            shown = _shown(m.group("expr"))
            plain = shown.replace(TIMES, "*").replace("\u00f7", "/").replace("$", "").replace(",", "")
            # Keep only arithmetic that is right: the checker evaluates the expression for us.
            if check_answer(AnswerSpec(kind=AnswerKind.EXPRESSION, answer=plain), result).status != "correct":
                continue
            found.append(_Computation(sentence, _question_for(sentence, m), shown, result))
    return found


def _subproblems(sentences: Sequence[str], final: str) -> tuple[SubproblemView, ...]:
    final_value = _number_value(final) if final else None
    out: list[SubproblemView] = []
    seen: set[str] = set()
    for comp in _computations(sentences):
        if _same(_number_value(comp.result), final_value) or comp.shown in seen:
            continue
        seen.add(comp.shown)
        out.append(SubproblemView(
            id=-(len(out) + 1),
            prompt=comp.question,
            spec=AnswerSpec(kind=AnswerKind.NUMERIC, answer=comp.result),
            hints=(f"You can find it with {comp.shown}. What do you get?",),
        ))
    return tuple(out)


def reasoning(worked_solution: str | Sequence[str], final_answer: str = "") -> tuple[str, ...]:
    """The solution's sentences as grounds for explaining *why* while the problem is open: each
    calculation without its result, and no sentence that computes or states the final answer."""
    sentences, trailing = split_solution(worked_solution)
    final = final_answer.strip() or trailing
    final_value = _number_value(final) if final else None
    out = []
    for sentence in sentences:
        if any(_same(_number_value(m.group("result").replace("$", "")), final_value)
               for m in _COMPUTATION.finditer(sentence)):
            continue
        text = _COMPUTATION.sub(lambda m: _shown(m.group("expr")), sentence)
        if final and _mask(text, final) != text:
            continue
        out.append(text)
    return tuple(out)


def derive_scaffold(*, worked_solution: str | Sequence[str], final_answer: str = "") -> DerivedScaffold:
    """Subproblems and a bottom-out from a worked solution. ``final_answer`` defaults to the
    solution's trailing answer line (MathDial / GSM8K style: "... = 30 pens.\\n 30")."""
    sentences, trailing = split_solution(worked_solution)
    final = final_answer.strip() or trailing
    if not sentences:
        bottom = f"The answer is {final}." if final else ""
        return DerivedScaffold(hints=(bottom,) if bottom else (), subproblems=(), final_answer=final)
    worked = " ".join(s if s[-1:] in ".!?" else s + "." for s in sentences)
    bottom = worked + (f" So the answer is {final}." if final else "")
    subproblems = _subproblems(sentences, final)
    if subproblems:
        return DerivedScaffold(hints=(bottom,), subproblems=subproblems, final_answer=final)
    # Nothing to ask step by step: the solution's sentences, the answer masked, lead to the bottom-out.
    return DerivedScaffold(hints=(*(_mask(s, final) for s in sentences), bottom), subproblems=(), final_answer=final)


def with_derived_scaffold(step: StepView) -> StepView:
    """``step`` with derived subproblems and bottom-out when it has neither hints nor subproblems."""
    if step.hints or step.subproblems or not step.worked_solution:
        return step
    derived = derive_scaffold(worked_solution=step.worked_solution, final_answer=step.spec.answer)
    return replace(step, hints=derived.hints, subproblems=derived.subproblems, derived=True)
