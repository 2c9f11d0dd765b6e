"""Which backend a spec names, built lazily once per process per spec.

Specs: ``embedded`` (default), ``hf:PATH``, ``openai:URL``, ``scripted``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tutor.llm.base import Backend

VALID_SPECS = (
    "'embedded', 'hf:PATH' (a local Hugging Face model directory), "
    "'openai:URL' (an OpenAI-compatible server), 'scripted'"
)
DEFAULT_MODEL_CACHE = Path("var") / "model-cache"

_backends: dict[str, Backend] = {}
_spec_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def _settings() -> Any:
    """Django's settings (declared in config/settings.py), imported on first use: importing this layer
    loads no Django, and the benchmarks build backends without it."""
    from django.conf import settings

    return settings


def build_backend(
    spec: str, *, cache_dir: str | Path | None = None, model: str | None = None, api_key: str | None = None
) -> Backend:
    """Construct a new backend for ``spec`` (uncached; ``get_backend`` caches)."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "embedded" and not arg:
        from tutor.llm.transformers_backend import TransformersBackend

        return TransformersBackend.embedded(cache_dir if cache_dir is not None else DEFAULT_MODEL_CACHE)
    if kind == "hf" and arg:
        from tutor.llm.transformers_backend import TransformersBackend

        return TransformersBackend.from_directory(arg)
    if kind == "openai" and arg:
        from tutor.llm.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(arg, model=model or None, api_key=api_key or None)
    if kind == "scripted" and not arg:
        from tutor.llm.scripted import ScriptedBackend

        return ScriptedBackend()
    raise ValueError(f"unknown LLM backend spec {spec!r}; valid forms: {VALID_SPECS}")


def get_backend(spec: str | None = None) -> Backend:
    """The process-wide backend for ``spec`` (default: the ``TUTOR_LLM`` setting).

    Thread-safe: concurrent first calls for one spec load the model once; other specs do not wait.
    """
    spec = (spec if spec is not None else str(_settings().TUTOR_LLM)).strip()
    backend = _backends.get(spec)
    if backend is not None:
        return backend
    with _registry_lock:
        lock = _spec_locks.setdefault(spec, threading.Lock())
    with lock:
        backend = _backends.get(spec)
        if backend is None:
            settings = _settings()
            backend = build_backend(
                spec,
                cache_dir=settings.TUTOR_MODEL_CACHE,
                model=settings.TUTOR_LLM_MODEL,
                api_key=settings.TUTOR_LLM_API_KEY,
            )
            _backends[spec] = backend
    return backend


def clear_backends() -> None:
    """Forget cached backends (tests, or after changing settings)."""
    with _registry_lock:
        _backends.clear()
