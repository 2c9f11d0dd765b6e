"""Which authored sentences answer the student's question? Ranks the sentences of the course's own
content (the KCs' descriptions, the step's explanation, the worked solution's reasoning, the hints)
by the words they share with the question, so a "why" is answered from what the teacher wrote,
never from a generic scaffold. Plain Python: the policy decides which sources may be used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_PASSAGE_CHARS = 420
MAX_PASSAGES = 8

_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*_$])|\n\s*\n")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")
_WORD = re.compile(r"[a-z]{3,}")
_CAUSAL = re.compile(
    r"\b(?:because|so\s+that|only|means?|same\s+as|since|reason|that\s+is\s+why|which\s+is\s+why|otherwise"
    r"|so\s+you|this\s+is\s+why)\b",
    re.I,
)
_STOP = frozenset(re.findall(r"\S+", (
    "the and for are but not you your with this that these those have has had was were will would can could "
    "should what which who whom how why when where does did doing done from into onto than then them they "
    "their there here its it's about just also very really get got give gives gave make makes made use used "
    "using want need needs know think work works working out one two some any all each every more most much "
    "many our ours ourselves his her hers she him himself herself itself what's why's don't doesn't didn't "
    "isn't aren't wasn't weren't can't won't wouldn't shouldn't please tell explain mean means meaning"
    )))


@dataclass(frozen=True)
class Source:
    """One piece of authored content an explanation may be drawn from."""

    text: str
    kind: str  # "explanation", "concept", "reasoning", "hint"
    kc_id: int | None = None
    title: str = ""  # a concept's name: a question that names it is about it


@dataclass(frozen=True)
class Passage:
    text: str
    kind: str
    kc_id: int | None = None


# Of sentences that answer the question equally well, the teacher's explanation of the step comes
# first, then the concept's description, the worked solution's reasoning, and the hints.
_KIND_BONUS = {"explanation": 0.4, "concept": 0.3, "reasoning": 0.2, "hint": 0.1}


def sentences(text: str) -> list[str]:
    """The sentences of Markdown-with-LaTeX text; a full stop inside ``$...$`` does not end one."""
    spans: list[str] = []

    def hide(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        return f"\x00{len(spans) - 1}\x00"

    hidden = _MATH.sub(hide, text.strip())
    out = []
    for part in _SENTENCE_END.split(hidden):
        part = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], part).strip()
        if part:
            out.append(" ".join(part.split()))
    return out


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) - len(suffix) >= 3 and word.endswith(suffix) and not word.endswith("ss"):
            stem = word[: -len(suffix)]
            return stem[:-1] if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2] else stem
    return word


# An operation written as a sign counts as its word: "why multiply by 12?" is about "$220*12".
_OPERATIONS = (
    (re.compile(r"[*\u00d7]|\\times|\\cdot|\d\s*x\s*\$?\d|\btimes\b"), "multiply"),
    (re.compile(r"\+|\bplus\b"), "add"),
    (re.compile(r"[\d)]\s*[-\u2212]\s*[\d($]|\bminus\b"), "subtract"),
    (re.compile(r"\d\s*/\s*\d|[\u00f7]|\\div|\\frac"), "divide"),
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SYNONYMS = {"multiplication": "multiply", "product": "multiply", "addition": "add", "sum": "add", "plus": "add",
             "subtraction": "subtract", "difference": "subtract", "minus": "subtract", "division": "divide",
             "quotient": "divide", "share": "divide", "split": "divide"}


def words(text: str) -> frozenset[str]:
    """The content words of ``text``, crudely stemmed ("adding" and "add" are one word), with its
    numbers ("#12") and the operations its signs stand for."""
    lowered = text.lower()
    plain = _LATEX_COMMAND.sub(" ", lowered)
    found = {_stem(w) for w in _WORD.findall(plain) if w not in _STOP}
    found = {_SYNONYMS.get(w, w) for w in found}
    found.update(f"#{n.replace(',', '')}" for n in _NUMBER.findall(lowered))
    found.update(word for pattern, word in _OPERATIONS if pattern.search(lowered))
    return frozenset(found)


def passages(
    question: str, sources: Sequence[Source], *, context: str = "", prefer: Sequence[str] = ()
) -> list[Passage]:
    """Passages of one or two consecutive sentences from ``sources``, best answer to ``question``
    first. ``context`` (what the tutor last asked) breaks ties and answers a bare "why?", as do the
    source kinds in ``prefer`` (after a problem, a bare "why?" asks why its answer is what it is)."""
    # The step's own numbers are everywhere in its content: only its words say what it is about.
    asked, around = words(question), frozenset(w for w in words(context) if not w.startswith("#"))
    is_why = bool(re.search(r"\b(?:why|how\s+come|reason|point)\b", question, re.I))
    scored: list[tuple[float, int, Passage]] = []
    order = 0
    for source in sources:
        parts = sentences(source.text)
        named = 1.5 * len(asked & words(source.title))
        own = [words(sentence) for sentence in parts]
        scores = []
        for i, sentence in enumerate(parts):
            hits, near = len(asked & own[i]), len(around & own[i])
            score = 2.0 * hits + 0.5 * near + named + _KIND_BONUS.get(source.kind, 0.0)
            if is_why and _CAUSAL.search(sentence) and (hits or near or not asked):
                score += 3.0 if hits else 1.0  # a "why" is answered by a reason
            if not asked and source.kind in prefer:
                score += 2.0
            if asked and not hits and not near and not named:
                score -= 3.0  # shares nothing with the question or the step: a last resort
            scores.append(score)
        for i, sentence in enumerate(parts):
            # The next sentences go with it while they are about the question too (any, for a bare
            # "why?" about a worked solution); a sentence leading into the best one is as good as it.
            text, score, j = sentence, scores[i], i + 1
            while j < len(parts) and len(text) + len(parts[j]) < MAX_PASSAGE_CHARS:
                about = (not asked and (source.kind in prefer or not around)) or asked & own[j] or around & own[j]
                if not about:
                    break
                # (the best sentence leading its passage wins a tie)
                stop = "" if text[-1:] in ".!?:;" else "."  # a solution's lines often end without one
                text, score, j = f"{text}{stop} {parts[j]}", max(score, scores[j] - 0.1 * (j - i)), j + 1
                if asked or source.kind not in prefer:
                    break  # one sentence more at most, unless it is the worked solution after a bare "why?"
            scored.append((score, order, Passage(text, source.kind, source.kc_id)))
            order += 1
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    out: list[Passage] = []
    seen: set[str] = set()
    for _score, _order, passage in scored:
        if passage.text in seen:
            continue
        seen.add(passage.text)
        out.append(passage)
        if len(out) >= MAX_PASSAGES:
            break
    return out
