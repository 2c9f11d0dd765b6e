"""The bridge between the dialogue and any language model: one interface, several backends.

Importing this package is cheap: torch and transformers load only when a local model is first used.
"""

from tutor.llm.base import (
    GROUNDING_CLOSE,
    GROUNDING_OPEN,
    Backend,
    BackendError,
    Message,
    extract_grounding,
    grounded,
)
from tutor.llm.registry import VALID_SPECS, build_backend, clear_backends, get_backend

__all__ = [
    "GROUNDING_CLOSE",
    "GROUNDING_OPEN",
    "VALID_SPECS",
    "Backend",
    "BackendError",
    "Message",
    "build_backend",
    "clear_backends",
    "extract_grounding",
    "get_backend",
    "grounded",
]
