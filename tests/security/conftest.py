import copy

import pytest

from content import packs
from tests.conftest import SMALL_PACK
from tutor.llm.scripted import ScriptedBackend


@pytest.fixture
def scripted(monkeypatch):
    """The scripted LLM backend (echoes the authored text): the one stand-in these suites allow."""
    backend = ScriptedBackend()
    monkeypatch.setattr("tutor.llm.get_backend", lambda spec=None: backend)
    return backend


@pytest.fixture
def course(db):
    return packs.import_pack(copy.deepcopy(SMALL_PACK))


from tests.faults.conftest import session, student, use_backend  # noqa: E402, F401  (shared fixtures)
