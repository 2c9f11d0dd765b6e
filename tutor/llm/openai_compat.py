"""Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server) over streaming HTTP (SSE)."""

from __future__ import annotations

import http.client as http_client
import json
import logging
import threading
from collections.abc import Iterator, Sequence

from tutor.llm import http
from tutor.llm.base import Backend, BackendError, Message

logger = logging.getLogger(__name__)

# Worth another try before the first token; 4xx other than these means the request itself is wrong.
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def chat_completions_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


class OpenAICompatBackend(Backend):
    """Streams chat completions from ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``).

    Failures before the first token are retried ``max_retries`` times with backoff; once text has been
    streamed a failure is raised as ``BackendError`` (replaying would duplicate what was sent).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.25,
        name: str | None = None,
        model_id: str | None = None,
    ) -> None:
        self.url = chat_completions_url(base_url)
        self._models_url = self.url.rsplit("/chat/completions", 1)[0] + "/models"
        self._model = model
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._model_lock = threading.Lock()
        if name:
            self.name = name
        self._model_id = model_id

    @property
    def model_id(self) -> str:  # type: ignore[override]
        # Read on the event loop when a turn is recorded: never asks the server (that happens in the
        # generating thread); a model not yet named there is recorded by its server's URL.
        return self._model_id or self._model or self.url

    def __repr__(self) -> str:  # without asking the server for its model name
        return f"<OpenAICompatBackend name={self.name!r} url={self.url!r} model={self._model!r}>"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _resolve_model(self) -> str:
        # Servers that host one model (llama.cpp, vLLM) name it at /models; ask once, lazily. A server
        # that cannot say is asked again next time rather than remembered as 'default'.
        with self._model_lock:
            if self._model is not None:
                return self._model
            try:
                listing = http.get_json(self._models_url, headers=self._headers(), timeout=min(self.timeout, 5.0))
                data = listing.get("data") if isinstance(listing, dict) else None
                if data and isinstance(data, list) and isinstance(data[0], dict) and data[0].get("id"):
                    self._model = str(data[0]["id"])
                    return self._model
                logger.warning("%s lists no model; asking for 'default'", self._models_url)
            except (OSError, ValueError) as exc:
                logger.warning("could not list models at %s (%s); asking for 'default'", self._models_url, exc)
            return "default"

    def _raw_stream(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float,
        stop: Sequence[str],
        cancel: threading.Event,
        grammar: str | None = None,
    ) -> Iterator[str]:
        payload: dict[str, object] = {
            "model": self._resolve_model(),
            "messages": messages,
            "stream": True,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
        }
        if grammar:
            payload["grammar"] = grammar  # llama.cpp's server reads GBNF here; other servers ignore the field
        if stop:
            payload["stop"] = list(stop)[:4]  # the API accepts at most four; StopFilter handles the rest
        attempt = 0
        while True:
            if cancel.is_set():
                return
            sent_any = False
            response: http.StreamingResponse | None = None
            try:
                response = http.open_stream(
                    self.url, payload=payload, headers=self._headers(), timeout=self.timeout, cancel=cancel
                )
                for piece in _parse_sse(response.iter_lines()):
                    if cancel.is_set():
                        return
                    sent_any = True
                    yield piece
                return
            except (OSError, http_client.HTTPException, ValueError) as exc:
                if cancel.is_set():
                    return
                retryable = not isinstance(exc, http.HTTPError) or exc.status in _RETRYABLE_STATUS
                if isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError):
                    retryable = False
                if sent_any or not retryable or attempt >= self.max_retries:
                    where = "mid-stream" if sent_any else f"after {attempt + 1} attempt(s)"
                    raise BackendError(f"OpenAI-compatible server at {self.url} failed {where}: {exc}") from exc
                attempt += 1
                logger.info("retrying %s (attempt %d): %s", self.url, attempt, exc)
                if cancel.wait(self.backoff * 2 ** (attempt - 1)):
                    return
            finally:
                if response is not None:
                    response.close()


def _parse_sse(lines: Iterator[str]) -> Iterator[str]:
    """Text deltas from an SSE chat-completions stream; a stream without ``[DONE]`` is an error, and so
    is an event that is not a chat-completion chunk (``ValueError``)."""
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue
        event, data = "\n".join(data), []
        if event.strip() == "[DONE]":
            return
        chunk = json.loads(event)
        if isinstance(chunk, dict) and "error" in chunk:
            raise BackendError(f"server reported an error: {str(chunk['error'])[:300]}")
        yield from _deltas(chunk)
    if data and "\n".join(data).strip() == "[DONE]":
        return
    raise ConnectionError("stream ended before [DONE]")


def _deltas(chunk: object) -> Iterator[str]:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list):
        raise ValueError(f"not a chat-completion chunk: {str(chunk)[:200]}")
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if delta is None:
            continue  # e.g. the closing chunk that only carries usage or finish_reason
        if not isinstance(delta, dict):
            raise ValueError(f"not a chat-completion delta: {str(delta)[:200]}")
        content = delta.get("content")
        if content is None:
            continue
        if not isinstance(content, str):
            raise ValueError(f"delta content is not text: {str(content)[:200]}")
        if content:
            yield content
