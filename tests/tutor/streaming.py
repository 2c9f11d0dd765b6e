"""Run one streamed reply outside a socket: the engine's events, or the fragments the chat page gets."""

import asyncio
import contextlib
from collections.abc import Iterator

from django.test.signals import template_rendered

from tutor import consumers, engine


def reply_events(plan: engine.TurnPlan, *, started: float | None = None) -> list[engine.ReplyEvent]:
    async def collect() -> list[engine.ReplyEvent]:
        return [event async for event in engine.reply_stream(plan=plan, started=started)]

    return asyncio.run(collect())


def reply_fragments(plan: engine.TurnPlan) -> list[str]:
    """What the consumer sends for the reply: its tokens, then the final bubble."""
    return [consumers.fragment(event) for event in reply_events(plan)]


@contextlib.contextmanager
def templates_rendered() -> Iterator[list[str]]:
    """The names of the templates rendered inside the block (Django's test instrumentation)."""
    names: list[str] = []

    def seen(sender: object, template: object, **kwargs: object) -> None:
        names.append(str(getattr(template, "name", template)))

    template_rendered.connect(seen)
    try:
        yield names
    finally:
        template_rendered.disconnect(seen)
