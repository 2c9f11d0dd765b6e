"""The one interface between the dialogue and any language model.

A backend turns chat messages into a stream of text chunks. Backends implement ``_raw_stream``; the
shared ``stream`` adds what every caller needs whatever the model: stop sequences, cancellation and a
sync-to-async bridge (``astream``) that keeps generation off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence

Message = dict[str, str]

# Authored content the reply must be grounded on travels inside these markers, so any backend (and the
# scripted one in particular) can tell the authored text apart from instructions around it.
GROUNDING_OPEN = "<authored>"
GROUNDING_CLOSE = "</authored>"


class BackendError(RuntimeError):
    """A model could not produce (the rest of) a reply: load failure, server error, timeout."""


def grounded(text: str) -> str:
    """Wrap authored text in the grounding markers."""
    return f"{GROUNDING_OPEN}{text}{GROUNDING_CLOSE}"


def extract_grounding(messages: Sequence[Message]) -> str | None:
    """The authored text carried by the last system/user message that has the markers, if any."""
    for message in reversed(messages):
        if message.get("role") not in ("system", "user"):
            continue
        content = message.get("content", "")
        start = content.rfind(GROUNDING_OPEN)
        if start < 0:
            continue
        end = content.find(GROUNDING_CLOSE, start)
        if end < 0:
            continue
        return content[start + len(GROUNDING_OPEN) : end]
    return None


class StopFilter:
    """Cuts a chunk stream at the first stop sequence, even when it straddles two chunks.

    Text that could be the start of a stop sequence is held back until the next chunk decides it.
    """

    def __init__(self, stop: Sequence[str]) -> None:
        self._stop = [s for s in stop if s]
        self._held = ""
        self.stopped = False

    def feed(self, chunk: str) -> str:
        if self.stopped:
            return ""
        if not self._stop:
            return chunk
        text = self._held + chunk
        cut = min((i for i in (text.find(s) for s in self._stop) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = 0
        for s in self._stop:
            for n in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.stopped else held


class Backend(ABC):
    """A language model that phrases tutor moves.

    ``stream`` yields text chunks as they are produced; ``generate`` joins them; ``astream`` runs the
    stream in a worker thread for async callers. Setting ``cancel`` (or closing the iterator) stops
    generation at the next token.
    """

    name: str
    model_id: str

    @abstractmethod
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
        """Yield raw text chunks; must return promptly once ``cancel`` is set. ``grammar`` (GBNF, as
        llama.cpp reads it) constrains what may be generated; a backend that cannot constrain decoding
        ignores it, and the caller's own checks (the guard) still apply."""

    def stream(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if temperature < 0:
            raise ValueError("temperature must not be negative")
        cancel = cancel if cancel is not None else threading.Event()
        stop_filter = StopFilter(stop)
        raw = self._raw_stream(
            list(messages), max_new_tokens=max_new_tokens, temperature=temperature, stop=stop, cancel=cancel,
            grammar=grammar,
        )
        try:
            for chunk in raw:
                if cancel.is_set():
                    return
                text = stop_filter.feed(chunk)
                if text:
                    yield text
                if stop_filter.stopped:
                    return
            tail = stop_filter.flush()
            if tail and not cancel.is_set():
                yield tail
        finally:
            # Reached on normal end, on error and when the consumer closes us early: in every case
            # the producer must stop working for nobody.
            cancel.set()
            close = getattr(raw, "close", None)
            if close is not None:
                close()

    def generate(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        grammar: str | None = None,
    ) -> str:
        return "".join(
            self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop, cancel=cancel,
                        grammar=grammar)
        )

    async def astream(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        grammar: str | None = None,
    ) -> AsyncIterator[str]:
        """Stream from a worker thread so the event loop never blocks on the model.

        Cancelling the consuming task, or closing this iterator, sets ``cancel`` and generation stops.
        """
        cancel = cancel if cancel is not None else threading.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()

        def put(kind: str, value: object) -> None:
            # The loop may be gone if the consumer went away; there is nobody left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def work() -> None:
            try:
                for chunk in self.stream(
                    messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop, cancel=cancel,
                    grammar=grammar,
                ):
                    put("chunk", chunk)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put("error", exc)
            else:
                put("done", None)

        worker = threading.Thread(target=work, name=f"llm-{self.name}", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "chunk":
                    assert isinstance(value, str)
                    yield value
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise value
                else:
                    return
        finally:
            cancel.set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} model_id={self.model_id!r}>"
