"""A deterministic backend for tests: echoes the authored text, or plays scripted replies and faults."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence

from tutor.llm.base import Backend, BackendError, Message, extract_grounding

Script = Sequence[str] | Callable[[list[Message]], str]

_CHUNK = re.compile(r"\S+\s*|\s+")
# What the scripted model says when asked for one constrained sentence (a grammar), without responses.
SCRIPTED_LEAD_IN = "Let's look at this together."


class ScriptedFault(BackendError):
    """Raised mid-stream on purpose (``fail_after``) to exercise fallbacks."""


class ScriptedBackend(Backend):
    """Replies with the grounded authored text, word by word, unless given ``responses``.

    - ``responses``: replies played in order (cycling), or a callable of the messages; lets tests inject
      answer leaks or off-topic replies.
    - ``delay``: seconds to sleep before each chunk (a slow model).
    - ``fail_after``: raise ``ScriptedFault`` after that many chunks (a model dying mid-stream).
    - ``stall_after``: after that many chunks, produce nothing until cancelled (a hung model).
    """

    name = "scripted"

    def __init__(
        self,
        responses: Script | None = None,
        *,
        delay: float = 0.0,
        fail_after: int | None = None,
        stall_after: int | None = None,
        model_id: str = "scripted",
    ) -> None:
        self.model_id = model_id
        self._responses = responses
        self._delay = delay
        self._fail_after = fail_after
        self._stall_after = stall_after
        self._turn = 0
        self._lock = threading.Lock()
        self.calls: list[list[Message]] = []

    def _reply_for(self, messages: list[Message], *, constrained: bool = False) -> str:
        with self._lock:
            self.calls.append(messages)
            turn = self._turn
            self._turn += 1
        if self._responses is None and constrained:
            return SCRIPTED_LEAD_IN  # asked for a constrained sentence (a lead-in), not the whole reply
        if self._responses is None:
            authored = extract_grounding(messages)
            if authored is not None:
                return authored
            last_user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
            return last_user
        if callable(self._responses):
            return self._responses(messages)
        if not self._responses:
            return ""
        return self._responses[turn % len(self._responses)]

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
        chunks = _CHUNK.findall(self._reply_for(messages, constrained=grammar is not None))[:max_new_tokens]
        for index, chunk in enumerate(chunks):
            if self._fail_after is not None and index >= self._fail_after:
                raise ScriptedFault(f"scripted fault after {index} chunks")
            if self._stall_after is not None and index >= self._stall_after:
                cancel.wait()
                return
            if self._delay and cancel.wait(self._delay):
                return
            if cancel.is_set():
                return
            yield chunk
