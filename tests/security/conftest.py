import pytest

from tutor.llm.scripted import ScriptedBackend


@pytest.fixture
def scripted(monkeypatch):
    """The scripted LLM backend (echoes the authored text): the one stand-in these suites allow."""
    backend = ScriptedBackend()
    monkeypatch.setattr("tutor.llm.get_backend", lambda spec=None: backend)
    return backend
