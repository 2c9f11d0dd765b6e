import pytest

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tutor import engine, roles
from tutor.llm.scripted import ScriptedBackend


@pytest.fixture
def course(db):
    return packs.import_pack(SMALL_PACK)


@pytest.fixture
def student(db):
    return UserFactory(username="ada", role=roles.STUDENT)


@pytest.fixture
def session(course, student):
    return engine.session_start(student=student, item=course.items.get(slug="add-halves-quarters"))


@pytest.fixture
def backend(monkeypatch, settings):
    """The scripted backend by default (echoes the authored text); tests swap in others. It phrases
    whole replies whatever TUTOR_LLM says (the lead-in tests set TUTOR_LLM_PHRASING themselves)."""
    settings.TUTOR_LLM_PHRASING = "full"
    holder = {"backend": ScriptedBackend()}
    monkeypatch.setattr("tutor.llm.get_backend", lambda spec=None: holder["backend"])

    def use(b):
        holder["backend"] = b
        return b

    return use
