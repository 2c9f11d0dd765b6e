"""Lead-in phrasing: the model writes the first sentence, answering what the student said, and the
authored move follows word for word; the guard still judges the whole reply."""

import asyncio
import re

import pytest

from tutor import engine
from tutor.dialogue.instructions import (
    LEAD_IN_MAX_WORDS,
    LEAD_IN_OPENERS,
    LEAD_IN_WORDS,
    MOVE_INSTRUCTIONS,
    lead_in_grammar,
    lead_in_messages,
)
from tutor.llm.scripted import SCRIPTED_LEAD_IN, ScriptedBackend
from tutor.models import Turn

pytestmark = pytest.mark.django_db(transaction=True)

HINT = "What denominator could both fractions share?"


@pytest.fixture
def lead_in(settings, backend):
    settings.TUTOR_LLM_PHRASING = "lead-in"
    return backend


def streamed(plan):
    async def collect():
        return [f async for f in engine.reply_stream(plan=plan)]

    return asyncio.run(collect())


class Recording(ScriptedBackend):
    """The scripted model, remembering the grammar each request carried."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grammars = []

    def _raw_stream(self, messages, **kwargs):
        self.grammars.append(kwargs.get("grammar"))
        return super()._raw_stream(messages, **kwargs)


def test_every_move_has_openers():
    assert set(LEAD_IN_OPENERS) == set(MOVE_INSTRUCTIONS)


def test_the_prompt_is_a_fixed_instruction_then_the_student():
    first = lead_in_messages(student_text="  I got\n 7 ")
    second = lead_in_messages(student_text="why?")
    assert first[0] == second[0] and first[0]["role"] == "system"  # a prefix the server caches
    assert first[1] == {"role": "user", "content": "I got 7"}


def test_the_model_writes_the_first_sentence_and_the_move_follows(session, lead_in):
    model = lead_in(Recording())
    plan = engine.turn_take(session_id=session.pk, text="can I have a hint?")
    assert plan.phrasing == "lead-in"
    assert plan.messages[-1]["content"] == "can I have a hint?"
    streamed(plan)
    tutor = Turn.objects.get(pk=plan.tutor_turn_id)
    assert tutor.state == Turn.State.COMPLETE and tutor.backend == "scripted"
    assert tutor.text == f"{SCRIPTED_LEAD_IN} {HINT}"
    assert tutor.guard["phrasing"] == "lead-in" and tutor.guard["passed"] is True
    assert model.grammars == [lead_in_grammar("hint")]


def test_a_lead_in_cut_by_the_token_limit_gets_its_full_stop(session, lead_in):
    lead_in(ScriptedBackend(["Let us think about it together"]))
    plan = engine.turn_take(session_id=session.pk, text="hint please")
    streamed(plan)
    assert Turn.objects.get(pk=plan.tutor_turn_id).text == f"Let us think about it together. {HINT}"


def test_a_lead_in_that_praises_a_wrong_answer_is_replaced(session, lead_in):
    lead_in(ScriptedBackend(["Well done, that is right!"]))
    plan = engine.turn_take(session_id=session.pk, text="2/6")
    streamed(plan)
    tutor = Turn.objects.get(pk=plan.tutor_turn_id)
    assert tutor.state == Turn.State.FALLBACK and tutor.backend == engine.AUTHORED_FALLBACK
    assert tutor.text == tutor.authored_text and "confirms" in tutor.guard["fallback"]


def test_an_empty_lead_in_is_a_model_failure(session, lead_in):
    lead_in(ScriptedBackend([""]))
    plan = engine.turn_take(session_id=session.pk, text="hint please")
    streamed(plan)
    tutor = Turn.objects.get(pk=plan.tutor_turn_id)
    assert tutor.state == Turn.State.FALLBACK and tutor.guard["fallback"] == "model error: BackendError"


def test_the_api_path_phrases_the_same_way(session, lead_in):
    lead_in(ScriptedBackend())
    plan = engine.turn_take(session_id=session.pk, text="hint please")
    tutor = engine.reply_generate(plan=plan)
    assert tutor.state == Turn.State.COMPLETE and tutor.text == f"{SCRIPTED_LEAD_IN} {HINT}"
    assert tutor.guard["phrasing"] == "lead-in"


def _parse(grammar):
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    literals = {name: re.findall(r'"((?:[^"\\]|\\.)*)"', body) for name, body in rules.items()}
    return rules, literals


@pytest.mark.parametrize("move", sorted(LEAD_IN_OPENERS))
def test_the_grammar_allows_the_moves_openers_and_plain_words_only(move):
    rules, literals = _parse(lead_in_grammar(move))
    assert literals["opener"] == list(LEAD_IN_OPENERS[move])
    assert literals["word"] == list(LEAD_IN_WORDS)
    assert rules["root"].endswith("[.!] )") and f"{{0,{LEAD_IN_MAX_WORDS - 1}}}" in rules["root"]
    # Everything the grammar lets the model write: the literals and the root's character classes.
    allowed = " ".join([*LEAD_IN_OPENERS[move], *LEAD_IN_WORDS, *re.findall(r'\[[^\]]*\]|"[^"]*"', rules["root"])])
    assert not re.search(r"[0-9?]", allowed)  # no number, no question: the move asks its own
    # A lead-in may not judge the answer beyond what the move says: no praise words after a wrong answer.
    if move in ("misconception_feedback", "probe"):
        assert not {"right", "correct", "yes", "exactly"} & {w.lower().strip(",") for o in LEAD_IN_OPENERS[move]
                                                             for w in o.split()}
    assert not {"right", "correct", "yes", "exactly", "wrong"} & set(LEAD_IN_WORDS)


def test_the_prompt_and_the_backends_agree_on_the_grounding_markers():
    from tutor.dialogue import instructions
    from tutor.llm import base

    assert (instructions.GROUNDING_OPEN, instructions.GROUNDING_CLOSE) == (base.GROUNDING_OPEN, base.GROUNDING_CLOSE)
    messages = instructions.tutor_messages(move="hint", authored_text="Look at the bottoms.", statement="1/2+1/4",
                                           step_prompt="Add.", history=[("student", "hint please")])
    assert base.extract_grounding(messages) == "Look at the bottoms."
    # The fixed system text first (cached by the server), this turn's task last, after the student's words.
    assert messages[0]["content"] == instructions.TUTOR_SYSTEM
    assert messages[-1]["content"].startswith("hint please\n\n(Tutor, your task now:")
