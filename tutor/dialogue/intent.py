"""What is the student doing with this message? A deterministic classifier (patterns plus the answer
checker), so the policy's decisions can be tested and audited without a language model.

Order matters and is deliberate:
1. attempts to talk the tutor out of its rules ("ignore your instructions", "I'm the teacher",
   role-play) are requests for the answer, whatever else the message contains;
2. plain requests for the answer ("just tell me") — unless the message also carries an answer
   the checker can read ("just tell me, is it 30?" is an attempt);
3. concept questions (any "why…?"), hint requests, "I'm stuck";
4. feelings ("this is so frustrating", "I'm bad at maths"), then greetings and small talk (short
   messages only);
5. anything the checker can read, or that looks like maths, is an attempt; the rest is off topic.

``acknowledgement`` gives the words that acknowledge a feeling the message expresses, whatever its
intent, and ``is_manipulation`` tells an attempt to talk the tutor out of its rules from a plain
request, so the reply can answer each in kind.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Protocol

from content.answers import AnswerKind, AnswerSpec
from tutor.checking import check_answer


class Intent(enum.StrEnum):
    ATTEMPT = "attempt"
    ASKS_HINT = "asks_hint"
    ASKS_ANSWER = "asks_answer"
    OFF_TOPIC = "off_topic"
    CONCEPT_QUESTION = "concept_question"
    SMALLTALK = "smalltalk"
    STUCK = "stuck"
    FEELING = "feeling"


class StepContext(Protocol):
    """Anything that knows the step's answer specification (``policy.StepView`` does)."""

    @property
    def spec(self) -> AnswerSpec: ...


MAX_CLASSIFIED_CHARS = 2_000


def _flags(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_INJECTION = _flags(
    r"\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}\b(?:instructions?|rules?|prompts?|guidelines?"
    r"|programming|previous|above|system)\b",
    r"\bsystem\s+prompt\b",
    r"^\W*system\s*:",
    r"\b(?:answer|solution)\s+release\b",
    r"\b(?:developer|dev|god|admin|debug|jailbreak|dan)\s+mode\b",
    r"\bjailbreak\b",
    r"\bi\s*(?:'m|am)\s+(?:the|a|your|an)\s+(?:teacher|instructor|tutor|professor|admin(?:istrator)?"
    r"|developer|principal)\b",
    r"\bas\s+(?:the|a|your)\s+(?:teacher|instructor|admin(?:istrator)?|developer)\b",
    r"\b(?:pretend|imagine|suppose)\b.{0,40}\b(?:you|you're|your)\b",
    r"\b(?:role[\s-]?play|roleplay|act\s+as|you\s+are\s+now|from\s+now\s+on\s+you)\b",
    r"\b(?:answer\s+key|teacher'?s?\s+(?:copy|edition|notes))\b",
    r"\bmy\s+(?:teacher|mom|mum|dad|parents?)\s+(?:said|says|allows?|wants?)\b.{0,40}\b(?:answer|solution)\b",
)
_ASKS_ANSWER = _flags(
    r"\b(?:tell|give|show|reveal|send|say|write|print|provide|display|share|spill|output|read|type)\b.{0,40}"
    r"\b(?:answer|solution|result|response|final\s+number)s?\b",
    r"\bwhat(?:'s|\s+is|\s+was|\s+would)\s+(?:the\s+)?(?:correct\s+|right\s+|final\s+)?(?:answer|solution|result)\b",
    r"\bconfirm\b.{0,20}\b(?:number|answer|result)\b",
    r"(?:^|[.!?]\s*)(?:so\s+|then\s+|ok\s+|okay\s+)?what(?:'s|\s+is)\s+it\s*\?",
    r"\b(?:just|please)\s+(?:tell|give|show)\s+(?:me|it|us)\b"
    r"(?!\s+(?:a\s+|another\s+|one\s+more\s+|some\s+|the\s+next\s+)?(?:hint|clue|tip|help|nudge|example))",
    r"\bsolve\s+(?:it|this|that)\s+(?:for\s+me)?\b",
    r"\b(?:do|solve|finish|work)\s+(?:it|this|that)\s+for\s+me\b",
    r"\bwhat\s+(?:should|do)\s+i\s+(?:write|put|type|enter)\b",
    r"\bskip\s+(?:this|it)\b",
)
# "what is 48/2?": asking the tutor to compute is asking for (part of) the answer.
_ASKS_COMPUTATION = re.compile(
    r"^\s*(?:what(?:'s|\s+is|\s+are)|how\s+much\s+is|calculate|compute|solve)\s+[-+\d(.$].*[\d)]\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_CONCEPT = _flags(
    r"\bwhat(?:'s|\s+is|\s+are|\s+does|\s+do)\s+(?:an?\s+|the\s+)?(?!answer\b|solution\b|result\b|it\b|that\b|this\b)"
    r"[a-z][a-z\s-]{1,40}\b(?:mean|means|\?|$)",
    r"\bwhat\s+does\b.{1,40}\bmean\b",
    r"\bwhy\s+(?:do|does|did|is|are|can|can't|should|must|would)\b",
    r"^\W*why\b",
    r"\bhow\s+come\b",
    r"\bwhat(?:'s|\s+is)\s+the\s+(?:point|reason)\b",
    r"\bhow\s+(?:do|does|can|should)\s+(?:you|we|one|i)\s+(?:know|tell|find|convert|simplify|add|subtract"
    r"|multiply|divide|compare|use)\b",
    r"\bhow\s+does\b.{1,40}\bwork\b",
    r"\b(?:explain|define|definition\s+of|meaning\s+of|difference\s+between)\b",
    r"\bi\s+don'?t\s+(?:understand|get|know)\s+(?:what|why|how)\s+(?:an?\s+|the\s+)?[a-z]",
)
_WHY = re.compile(
    r"^\W*(?:but\s+|and\s+|so\s+|ok(?:ay)?,?\s+)?(?:why|how\s+come"
    # "what does one serving mean here?": a question about a word, whatever number it holds
    r"|what\s+(?:does|do)\b[^?]{1,60}\bmean|what\s+is\s+meant\s+by)\b",
    re.IGNORECASE,
)
_HINT = _flags(
    r"\bhints?\b",
    r"\bclues?\b",
    r"\bnudge\b",
    r"\bhelp\b",
    r"\b(?:where|how)\s+(?:do|should|can)\s+i\s+(?:start|begin)\b",
    r"\bwhat\s+(?:should|do)\s+i\s+do\s+(?:first|next|now)\b",
    r"\bnext\s+step\b",
    r"\bpoint\s+me\b",
)
_STUCK = _flags(
    r"\bi\s*(?:'m|am)\s+(?:so\s+|really\s+|totally\s+|completely\s+)?(?:stuck|lost|confused)\b",
    r"\bi\s+(?:don'?t|do\s+not|dont)\s+(?:know|get\s+it|understand|have\s+a\s+clue)\b",
    r"\b(?:idk|dunno|no\s+idea|no\s+clue|not\s+sure|i\s+give\s+up|no\s+clue|can'?t\s+do\s+(?:it|this))\b",
    r"^\s*(?:\?+|huh\??|hm+\??|um+\??)\s*$",
)
_SMALLTALK = _flags(
    r"^\s*(?:hi|hello|hey|hiya|yo|howdy|good\s+(?:morning|afternoon|evening)|greetings)\b",
    r"\b(?:thanks?|thank\s+you|thx|ty|cheers)\b",
    r"\bhow\s+are\s+you\b",
    r"^\s*(?:ok(?:ay)?|cool|nice|great|got\s+it|sure|yes|yeah|yep|no|nope|bye|goodbye|see\s+you|lol|haha)\W*$",
)
# Feelings, each with the words that acknowledge it (first match wins).
_FEELINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_flags(r"\bfrustrat\w*", r"\bannoy\w*", r"\bfed\s+up\b", r"\b(?:so|too|really)\s+(?:hard|difficult)\b",
            r"\bhate\s+(?:this|it|maths?|fractions|equations|numbers|school)\b", r"\bimpossible\b", r"\bugh+\b"),
     "I can tell this is frustrating — that's normal with a problem that makes you think."),
    (_flags(r"\b(?:i'?m|i\s+am|i\s+feel)\s+(?:so\s+|really\s+|just\s+)?(?:stupid|dumb|useless|hopeless|bad|terrible"
            r"|rubbish|slow)\b", r"\bi\s+(?:can'?t|cannot)\s+do\s+maths?\b", r"\bnot\s+good\s+at\s+maths?\b"),
     "Finding this hard doesn't mean you're bad at maths — it means you're learning something new."),
    (_flags(r"\b(?:anxious|nervous|worried|scared|stressed|panick\w*)\b"),
     "It's okay to feel nervous about this — we'll go one small step at a time."),
    (_flags(r"\bbor(?:ed|ing)\b", r"\bpointless\b", r"\bwaste\s+of\s+time\b"),
     "Fair enough — let's get this one done quickly and well."),
    (_flags(r"\b(?:tired|exhausted|sleepy)\b"),
     "Sounds like you're tired — let's keep the steps small."),
)
_MATHY = re.compile(r"\d|[=^+*/√π]|\\frac|\\sqrt")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def _normalise(message: str) -> str:
    text = unicodedata.normalize("NFKC", message.translate(_ZERO_WIDTH))
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


_NAMED = re.compile(
    r"\\?(?:sqrt|sin|cos|tan|log|ln|exp|abs|pi|frac|dfrac|cdot|times|left|right|equals?|plus|minus"
    r"|multiplied|divided|by|over|squared|cubed)",
    re.I,
)


def _letters(text: str) -> set[str]:
    return set(re.findall(r"[a-z]", _NAMED.sub(" ", text.lower())))


def _spec_of(step_context: AnswerSpec | StepContext | None) -> AnswerSpec | None:
    if step_context is None or isinstance(step_context, AnswerSpec):
        return step_context
    return step_context.spec


def _readable_answer(text: str, spec: AnswerSpec | None) -> bool:
    if spec is None:
        return False
    if spec.kind == AnswerKind.TEXT:
        # Every text is "readable" as a text answer; count it only when it is short, answer-like.
        return len(text.split()) <= 6 and not text.rstrip().endswith("?")
    if spec.kind == AnswerKind.EXPRESSION and not _MATHY.search(text) and not (
        _letters(text) <= _letters(spec.answer)
    ):
        # "hint please" parses as the product h*i*n*t*...: words alone count as an answer only when
        # they use nothing but the answer's own variables ("xy" for xy).
        return False
    return check_answer(spec, text).status != "unreadable"


def acknowledgement(message: str) -> str:
    """Words acknowledging the feeling the message expresses ("" if it expresses none)."""
    text = _normalise(message)[:MAX_CLASSIFIED_CHARS]
    return next((words for pattern, words in _FEELINGS if pattern.search(text)), "")


def is_manipulation(message: str) -> bool:
    """Does the message try to talk the tutor out of its rules (injection, authority, role-play)?"""
    return bool(_INJECTION.search(_normalise(message)[:MAX_CLASSIFIED_CHARS]))


def classify(message: str, step_context: AnswerSpec | StepContext | None = None) -> Intent:
    """The student's intent, from the message and (optionally) the step's answer specification."""
    text = _normalise(message)[:MAX_CLASSIFIED_CHARS]
    if not text:
        return Intent.STUCK
    if _INJECTION.search(text):
        return Intent.ASKS_ANSWER
    spec = _spec_of(step_context)
    readable = _readable_answer(text, spec)
    if _ASKS_ANSWER.search(text) or _ASKS_COMPUTATION.match(text):
        return Intent.ATTEMPT if readable and not _ASKS_COMPUTATION.match(text) else Intent.ASKS_ANSWER
    if _WHY.match(text):  # "why do we multiply by 12?" asks a question, whatever numbers it holds
        return Intent.CONCEPT_QUESTION
    if readable and spec is not None and spec.kind != AnswerKind.TEXT:
        return Intent.ATTEMPT
    if _CONCEPT.search(text) and not _STUCK.fullmatch(text):
        return Intent.CONCEPT_QUESTION
    if _HINT.search(text):
        return Intent.ASKS_HINT
    if _STUCK.search(text):
        return Intent.STUCK
    if acknowledgement(text):
        return Intent.FEELING
    if _SMALLTALK.search(text) and len(text.split()) <= 8:
        return Intent.SMALLTALK
    if readable or _MATHY.search(text):
        return Intent.ATTEMPT
    return Intent.OFF_TOPIC
