"""The LLM layer: scripted streaming, async cancellation, the registry, the OpenAI-compatible backend
against a real local SSE server, and (slow) the embedded model itself."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tutor.llm import (
    BackendError,
    build_backend,
    clear_backends,
    extract_grounding,
    get_backend,
    grounded,
    model_server,
    registry,
)
from tutor.llm.base import StopFilter
from tutor.llm.openai_compat import OpenAICompatBackend
from tutor.llm.scripted import ScriptedBackend, ScriptedFault

REPO = Path(__file__).resolve().parents[2]


def _messages(authored: str = "Half a dozen is 6 pens. How many is that with two dozens?") -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a tutor."},
        {"role": "user", "content": f"Phrase this hint: {grounded(authored)}"},
    ]


# -- scripted backend and the shared stream machinery ------------------------------------------------


def test_scripted_echoes_the_grounded_text_chunk_by_chunk() -> None:
    backend = ScriptedBackend()
    chunks = list(backend.stream(_messages("Add the numerators first."), max_new_tokens=50, temperature=0))
    assert chunks == ["Add ", "the ", "numerators ", "first."]
    assert backend.generate(_messages("Add the numerators."), max_new_tokens=50, temperature=0) == (
        "Add the numerators."
    )


def test_grounding_marker_is_read_from_the_last_marked_message() -> None:
    messages = [
        {"role": "system", "content": grounded("old")},
        {"role": "assistant", "content": grounded("not me")},
        {"role": "user", "content": "x " + grounded("new") + " y"},
    ]
    assert extract_grounding(messages) == "new"
    assert extract_grounding([{"role": "user", "content": "no marker"}]) is None


def test_scripted_responses_cycle_and_callables_see_the_messages() -> None:
    backend = ScriptedBackend(["The answer is 30.", "Try again."])
    replies = [backend.generate(_messages(), max_new_tokens=20, temperature=0) for _ in range(3)]
    assert replies == ["The answer is 30.", "Try again.", "The answer is 30."]
    echo = ScriptedBackend(lambda messages: messages[-1]["content"].upper())
    assert echo.generate([{"role": "user", "content": "hi"}], max_new_tokens=5, temperature=0) == "HI"


def test_max_new_tokens_bounds_the_reply() -> None:
    backend = ScriptedBackend(["one two three four five"])
    assert backend.generate(_messages(), max_new_tokens=2, temperature=0) == "one two "
    with pytest.raises(ValueError):
        backend.generate(_messages(), max_new_tokens=0, temperature=0)


@pytest.mark.parametrize(
    ("chunks", "stop", "expected"),
    [
        (["Hello ", "wor", "ld<|e", "nd|> tail"], ["<|end|>"], "Hello world"),
        (["abc", "<", "x"], ["<|end|>"], "abc<x"),
        (["no stop here"], ["STOP"], "no stop here"),
        (["a\n\nStudent:", " hi"], ["\nStudent:", "\n\n"], "a"),
    ],
)
def test_stop_filter_cuts_across_chunk_boundaries(chunks: list[str], stop: list[str], expected: str) -> None:
    stop_filter = StopFilter(stop)
    out = "".join(stop_filter.feed(chunk) for chunk in chunks) + stop_filter.flush()
    assert out == expected


def test_stop_sequences_apply_to_every_backend() -> None:
    backend = ScriptedBackend(["Good question. Student: tell me the answer"])
    assert backend.generate(_messages(), max_new_tokens=50, temperature=0, stop=["Student:"]) == "Good question. "


def test_fault_mid_stream_raises_after_the_chunks_already_sent() -> None:
    backend = ScriptedBackend(["a b c d"], fail_after=2)
    received: list[str] = []
    with pytest.raises(ScriptedFault):
        for chunk in backend.stream(_messages(), max_new_tokens=10, temperature=0):
            received.append(chunk)
    assert received == ["a ", "b "]


def test_cancel_event_stops_a_stalled_stream() -> None:
    backend = ScriptedBackend(["a b c d"], stall_after=1)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    assert list(backend.stream(_messages(), max_new_tokens=10, temperature=0, cancel=cancel)) == ["a "]
    assert time.monotonic() - start < 2


# -- astream --------------------------------------------------------------------------------------------


async def test_astream_yields_all_chunks_without_blocking_the_loop() -> None:
    backend = ScriptedBackend(["w1 w2 w3 w4 w5"], delay=0.05)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    chunks = [c async for c in backend.astream(_messages(), max_new_tokens=10, temperature=0)]
    task.cancel()
    assert "".join(chunks) == "w1 w2 w3 w4 w5"
    assert ticks >= 10  # the loop kept running while the model "thought"


async def test_cancelling_the_consumer_sets_cancel_and_stops_generation() -> None:
    backend = ScriptedBackend(["a b c d e f"], stall_after=2)
    cancel = threading.Event()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in backend.astream(_messages(), max_new_tokens=10, temperature=0, cancel=cancel):
            received.append(chunk)

    task = asyncio.create_task(consume())
    while len(received) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancel.is_set()
    assert received == ["a ", "b "]
    # The worker thread notices and ends rather than stalling forever.
    deadline = time.monotonic() + 2
    while any(t.name == "llm-scripted" for t in threading.enumerate()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not any(t.name == "llm-scripted" for t in threading.enumerate())


async def test_closing_the_async_iterator_early_cancels() -> None:
    backend = ScriptedBackend(["a b c d e f"], delay=0.02)
    cancel = threading.Event()
    stream = backend.astream(_messages(), max_new_tokens=10, temperature=0, cancel=cancel)
    assert await stream.__anext__() == "a "
    await stream.aclose()  # type: ignore[attr-defined]
    assert cancel.is_set()


async def test_astream_reraises_backend_faults() -> None:
    backend = ScriptedBackend(["a b c"], fail_after=1)
    with pytest.raises(ScriptedFault):
        async for _ in backend.astream(_messages(), max_new_tokens=10, temperature=0):
            pass


# -- registry -----------------------------------------------------------------------------------------


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    clear_backends()
    yield
    clear_backends()


def test_unknown_spec_names_the_valid_forms(fresh_registry: None) -> None:
    for spec in ("gpt5", "hf:", "openai:", "embedded:x", ""):
        with pytest.raises(ValueError, match=r"'embedded'.*'hf:PATH'.*'openai:URL'.*'scripted'"):
            get_backend(spec)


def test_specs_are_cached_per_process(fresh_registry: None) -> None:
    assert get_backend("scripted") is get_backend("scripted")
    assert get_backend("openai:http://127.0.0.1:9/v1") is not get_backend("openai:http://127.0.0.1:8/v1")


def test_default_spec_comes_from_the_setting(fresh_registry: None, settings: Any) -> None:
    settings.TUTOR_LLM = "scripted"
    assert get_backend().name == "scripted"


def test_embedded_is_the_model_server_of_the_deployment(fresh_registry: None, settings: Any) -> None:
    settings.TUTOR_LLM_SERVER_URL = "http://127.0.0.1:9/v1"  # nothing listens: building must not ask
    backend = get_backend("embedded")
    assert isinstance(backend, OpenAICompatBackend) and backend.name == "embedded"
    assert backend.url == "http://127.0.0.1:9/v1/chat/completions"
    start = time.monotonic()
    assert backend.model_id == model_server.EMBEDDED_MODEL_ID  # read on the event loop: no network
    assert time.monotonic() - start < 0.05


def test_model_server_config_rejects_bad_values() -> None:
    for bad in ({"engine": "vllm"}, {"port": 0}, {"parallel": 0}, {"ctx_per_slot": 10}, {"threads": 0}):
        with pytest.raises(ValueError):
            model_server.ServerConfig(**bad)
    config = model_server.ServerConfig(engine="llama-cpp-python", port=8123, parallel=4, ctx_per_slot=512)
    assert config.base_url == "http://127.0.0.1:8123/v1"
    command = config.command()
    assert command[1:3] == ["-m", "llama_cpp.server"] and "--interrupt_requests" in command
    assert command[command.index("--model") + 1].endswith(model_server.EMBEDDED_GGUF)


def test_model_server_wait_fails_clearly_when_nothing_answers() -> None:
    started = time.monotonic()
    with pytest.raises(model_server.ModelServerError, match="not healthy within"):
        model_server.wait_ready("http://127.0.0.1:9/v1", timeout=0.5)
    assert time.monotonic() - started < 5
    result = subprocess.run([sys.executable, "-m", "tutor.llm.model_server", "wait", "http://127.0.0.1:9/v1",
                             "--timeout", "0.3"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "not healthy within" in result.stderr and "Traceback" not in result.stderr


def test_hf_spec_rejects_a_directory_without_a_model(fresh_registry: None, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"config\.json"):
        get_backend(f"hf:{tmp_path}")


def test_concurrent_first_calls_construct_once(fresh_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def slow_build(spec: str, **kwargs: Any) -> ScriptedBackend:
        built.append(spec)
        time.sleep(0.2)
        return ScriptedBackend()

    monkeypatch.setattr(registry, "build_backend", slow_build)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(get_backend("scripted"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == ["scripted"]
    assert len({id(r) for r in results}) == 1


def test_importing_the_layer_loads_neither_django_nor_torch() -> None:
    code = (
        "import sys, tutor.llm, tutor.guard, tutor.llm.openai_compat, tutor.llm.transformers_backend,"
        " tutor.llm.model_server;"
        "bad = [m for m in ('django', 'torch', 'transformers') if m in sys.modules];"
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- openai-compatible backend against a real local SSE server ------------------------------------------


@dataclass
class FakeServerState:
    """How the local server behaves; each test sets what it needs."""

    words: list[str] = field(default_factory=lambda: ["Let's ", "think: ", "what ", "is ", "11 - 5?"])
    fail_first: int = 0  # answer this many requests with 503 first
    die_after: int | None = None  # drop the connection after this many chunks, without [DONE]
    stall_after: int | None = None  # stop writing (but keep the socket open) after this many chunks
    raw_events: list[str] | None = None  # send these SSE data lines instead of the words
    hold_headers: bool = False  # queue the request: answer nothing, not even headers, until released
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _make_handler(state: FakeServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": "tiny-tutor"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(payload)
            state.headers.append(dict(self.headers))
            if state.hold_headers:
                state.release.wait(10)
                return
            if len(state.requests) <= state.fail_first:
                body = b'{"error": "overloaded"}'
                self.send_response(503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            if state.raw_events is not None:
                for event in state.raw_events:
                    self.wfile.write(f"data: {event}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                return
            for index, word in enumerate(state.words[: payload["max_tokens"]]):
                if state.die_after is not None and index >= state.die_after:
                    self.close_connection = True
                    return
                if state.stall_after is not None and index >= state.stall_after:
                    state.release.wait(10)
                    return
                chunk = {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@pytest.fixture
def sse_server() -> Iterator[tuple[str, FakeServerState]]:
    state = FakeServerState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    state.release.set()
    server.shutdown()
    server.server_close()


def test_openai_streams_chunks_and_sends_the_request(sse_server: tuple[str, FakeServerState]) -> None:
    url, state = sse_server
    backend = OpenAICompatBackend(url, api_key="sekrit")
    chunks = list(backend.stream(_messages(), max_new_tokens=50, temperature=0.2, stop=["\nStudent:"]))
    assert "".join(chunks) == "Let's think: what is 11 - 5?"
    assert len(chunks) == 5
    request = state.requests[0]
    assert request["model"] == "tiny-tutor"  # discovered through /models
    assert request["stream"] is True and request["max_tokens"] == 50 and request["stop"] == ["\nStudent:"]
    assert request["messages"] == _messages()
    assert state.headers[0]["Authorization"] == "Bearer sekrit"


def test_openai_retries_before_the_first_token(sse_server: tuple[str, FakeServerState]) -> None:
    url, state = sse_server
    state.fail_first = 2
    backend = OpenAICompatBackend(url, model="m", max_retries=2, backoff=0.01)
    assert backend.generate(_messages(), max_new_tokens=50, temperature=0).endswith("11 - 5?")
    assert len(state.requests) == 3


def test_openai_gives_up_after_bounded_retries(sse_server: tuple[str, FakeServerState]) -> None:
    url, state = sse_server
    state.fail_first = 10
    backend = OpenAICompatBackend(url, model="m", max_retries=1, backoff=0.01)
    with pytest.raises(BackendError, match="503"):
        backend.generate(_messages(), max_new_tokens=50, temperature=0)
    assert len(state.requests) == 2


def test_openai_death_mid_stream_is_an_error_and_not_retried(sse_server: tuple[str, FakeServerState]) -> None:
    url, state = sse_server
    state.die_after = 2
    backend = OpenAICompatBackend(url, model="m", max_retries=3, backoff=0.01)
    received: list[str] = []
    with pytest.raises(BackendError, match="mid-stream"):
        for chunk in backend.stream(_messages(), max_new_tokens=50, temperature=0):
            received.append(chunk)
    assert received == ["Let's ", "think: "]
    assert len(state.requests) == 1  # a replay would repeat text the student already saw


def test_openai_silent_server_times_out(sse_server: tuple[str, FakeServerState]) -> None:
    url, state = sse_server
    state.stall_after = 1
    backend = OpenAICompatBackend(url, model="m", timeout=0.3, max_retries=0)
    start = time.monotonic()
    received: list[str] = []
    with pytest.raises(BackendError):
        for chunk in backend.stream(_messages(), max_new_tokens=50, temperature=0):
            received.append(chunk)
    assert received == ["Let's "]
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("event", [
    '{"choices": "not a list"}',
    "[1, 2, 3]",
    '{"choices": [{"delta": "text"}]}',
    '{"choices": [{"delta": {"content": 42}}]}',
    '{"error": {"message": "model crashed"}}',
])
def test_openai_chunks_of_the_wrong_shape_are_backend_errors(sse_server: tuple[str, FakeServerState],
                                                             event: str) -> None:
    url, state = sse_server
    state.raw_events = [event]
    backend = OpenAICompatBackend(url, model="m", max_retries=0)
    with pytest.raises(BackendError):
        backend.generate(_messages(), max_new_tokens=50, temperature=0)


def test_openai_model_id_never_blocks_and_names_the_server_until_known() -> None:
    backend = OpenAICompatBackend("http://127.0.0.1:9/v1")
    assert backend.model_id == "http://127.0.0.1:9/v1/chat/completions"
    assert OpenAICompatBackend("http://127.0.0.1:9/v1", model="m").model_id == "m"


def test_openai_unreachable_server_fails_cleanly() -> None:
    backend = OpenAICompatBackend("http://127.0.0.1:9/v1", model="m", timeout=1, max_retries=1, backoff=0.01)
    with pytest.raises(BackendError, match="2 attempt"):
        backend.generate(_messages(), max_new_tokens=5, temperature=0)


def test_openai_cancel_releases_a_request_the_server_has_not_answered_yet(
        sse_server: tuple[str, FakeServerState]) -> None:
    # llama.cpp's server sends its headers with the first token: a request waiting in its queue is
    # silent, and giving up on it must close the connection (so the server drops it) at once.
    url, state = sse_server
    state.hold_headers = True
    backend = OpenAICompatBackend(url, model="m", timeout=30, max_retries=0)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    assert list(backend.stream(_messages(), max_new_tokens=50, temperature=0, cancel=cancel)) == []
    assert time.monotonic() - start < 2, "well under the 30 s read timeout"
    assert len(state.requests) == 1


async def test_openai_astream_cancel_releases_a_stalled_request(sse_server: tuple[str, FakeServerState]) -> None:
    url, state = sse_server
    state.stall_after = 1
    backend = OpenAICompatBackend(url, model="m", timeout=30)
    cancel = threading.Event()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in backend.astream(_messages(), max_new_tokens=50, temperature=0, cancel=cancel):
            received.append(chunk)

    task = asyncio.create_task(consume())
    while not received:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancel.is_set()
    deadline = time.monotonic() + 3  # well under the 30 s read timeout: the socket was shut down
    while any(t.name == "llm-openai" for t in threading.enumerate()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not any(t.name == "llm-openai" for t in threading.enumerate())


# -- the embedded model (slow: loads real weights through the cache) ----------------------------------


@pytest.mark.slow
def test_embedded_model_streams_through_the_cache() -> None:
    from tutor.llm.transformers_backend import TransformersBackend, embedded_cache_path, embedded_gguf_path

    cache = REPO / "var" / "model-cache"  # shared with development runs, so only the first run converts
    backend = TransformersBackend.embedded(cache)
    assert (embedded_cache_path(cache, embedded_gguf_path()) / "config.json").is_file()
    assert not list(cache.glob(".convert-*"))  # no half-written cache left behind
    chunks = list(
        backend.stream([{"role": "user", "content": "Say hello to a student."}], max_new_tokens=6, temperature=0)
    )
    assert chunks and "".join(chunks).strip()
    assert backend.count_tokens("".join(chunks)) <= 8

    cancel = threading.Event()
    cancel.set()
    assert list(backend.stream(_messages(), max_new_tokens=50, temperature=0, cancel=cancel)) == []

    # hf:PATH shares the code path: the converted cache is itself a plain model directory.
    local = build_backend(f"hf:{embedded_cache_path(cache, embedded_gguf_path())}")
    assert local.name == "hf"
    assert local.generate([{"role": "user", "content": "Hi"}], max_new_tokens=3, temperature=0).strip()
