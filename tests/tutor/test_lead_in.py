"""Lead-in phrasing: the model writes the first sentence, answering what the student said, and the
authored move follows word for word; the guard still judges the whole reply."""

import asyncio
import re

import pytest

from tutor import engine
from tutor.dialogue.instructions import LEAD_IN_CUES, LEAD_IN_GRAMMAR, MOVE_INSTRUCTIONS, lead_in_messages
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


def test_every_move_has_a_cue():
    assert set(LEAD_IN_CUES) == set(MOVE_INSTRUCTIONS)


def test_the_prompt_carries_the_situation_the_student_and_the_note():
    messages = lead_in_messages(move="probe", student_text="  I got\n 7 ", note="How did you get 7?")
    assert messages[0]["role"] == "system" and "ONE short sentence" in messages[0]["content"]
    user = messages[1]["content"]
    assert LEAD_IN_CUES["probe"] in user and '"I got 7"' in user and "How did you get 7?" in user


def test_the_model_writes_the_first_sentence_and_the_move_follows(session, lead_in):
    model = lead_in(Recording())
    plan = engine.turn_take(session_id=session.pk, text="can I have a hint?")
    assert plan.phrasing == "lead-in"
    assert "can I have a hint?" in plan.messages[-1]["content"] and HINT in plan.messages[-1]["content"]
    streamed(plan)
    tutor = Turn.objects.get(pk=plan.tutor_turn_id)
    assert tutor.state == Turn.State.COMPLETE and tutor.backend == "scripted"
    assert tutor.text == f"{SCRIPTED_LEAD_IN} {HINT}"
    assert tutor.guard["phrasing"] == "lead-in" and tutor.guard["passed"] is True
    assert model.grammars == [LEAD_IN_GRAMMAR]


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


@pytest.mark.parametrize(("setting", "tutor_llm", "course_backend", "expected"), [
    ("auto", "embedded", "", "lead-in"),
    ("auto", "openai:http://gpu:8000/v1", "", "full"),
    ("auto", "openai:http://gpu:8000/v1", "embedded", "lead-in"),
    ("auto", "embedded", "scripted", "full"),
    ("full", "embedded", "", "full"),
    ("lead-in", "scripted", "", "lead-in"),
])
def test_which_phrasing(settings, setting, tutor_llm, course_backend, expected):
    settings.TUTOR_LLM_PHRASING, settings.TUTOR_LLM = setting, tutor_llm
    assert engine.phrasing_for(course_backend) == expected


def test_the_grammar_allows_words_only():
    # GBNF as llama.cpp reads it: one sentence, capital first, ending in . or !, no digits, no question.
    body = re.search(r"root ::= (.*)", LEAD_IN_GRAMMAR).group(1)
    assert "0-9" not in body and "?" not in body and body.endswith("[.!]")
