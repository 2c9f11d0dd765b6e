"""MRBench (BEA 2025 shared task dev set): tutor responses with four human pedagogical labels.

CC BY-SA 4.0 (Maurya et al.); read from ``../shared/data/dialogue/mrbench_v3_devset.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DIMENSIONS = ("Mistake_Identification", "Mistake_Location", "Providing_Guidance", "Actionability")
LABELS = ("No", "To some extent", "Yes")  # index = ordinal value 0, 1, 2
DEFAULT_PATH = Path("..") / "shared" / "data" / "dialogue" / "mrbench_v3_devset.json"


@dataclass(frozen=True)
class Example:
    conversation_id: str
    tutor: str
    context: str
    response: str
    labels: tuple[int, ...]  # one index into LABELS per dimension


def context_text(context: str | list[object]) -> str:
    """A context given as a string or as a list of turns ({"role"/"speaker", "content"/"text"} or str)."""
    if isinstance(context, str):
        return context
    if not isinstance(context, list):
        raise ValueError("context must be a string or a list of turns")
    lines = []
    for turn in context:
        if isinstance(turn, str):
            lines.append(turn)
        elif isinstance(turn, dict):
            who = turn.get("role") or turn.get("speaker") or ""
            text = turn.get("content") or turn.get("text") or ""
            if not isinstance(text, str):
                raise ValueError("each turn's content must be a string")
            lines.append(f"{str(who).capitalize()}: {text}" if who else text)
        else:
            raise ValueError("each turn must be a string or an object")
    return "\n".join(lines)


def load(path: Path = DEFAULT_PATH) -> list[Example]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for conversation in data:
        context = context_text(conversation["conversation_history"])
        for tutor, answer in conversation["tutor_responses"].items():
            annotation = answer.get("annotation") or {}
            if not all(annotation.get(d) in LABELS for d in DIMENSIONS):
                continue
            out.append(Example(
                conversation_id=conversation["conversation_id"], tutor=tutor, context=context,
                response=answer["response"], labels=tuple(LABELS.index(annotation[d]) for d in DIMENSIONS),
            ))
    return out
