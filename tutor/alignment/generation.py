"""Batched sampling from a causal LM through its chat template (left padding), with timing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

MAX_NEW_TOKENS = 80  # tutor.engine phrases a move in at most this many tokens


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(directory: str, *, adapters: Sequence[str] = ()) -> tuple[Any, Any]:
    """A model directory with LoRA adapters merged in, in order, and its tokenizer (left padding)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)
    for adapter in adapters:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.to(device())
    model.eval()
    return model, tokenizer


def sample(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]], *, n: int = 1,
           temperature: float, max_new_tokens: int = MAX_NEW_TOKENS, batch_size: int = 8,
           seed: int = 0) -> list[list[str]]:
    """``n`` replies per prompt; greedy when temperature is 0."""
    import torch

    torch.manual_seed(seed)
    out: list[list[str]] = []
    per_batch = max(1, batch_size // n)
    for i in range(0, len(prompts), per_batch):
        texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                 for p in prompts[i : i + per_batch]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        sampling: dict[str, Any] = ({"do_sample": True, "temperature": temperature, "top_p": 0.95}
                                    if temperature > 0 else {"do_sample": False})
        with torch.inference_mode():
            generated = model.generate(**batch, max_new_tokens=max_new_tokens, num_return_sequences=n,
                                       pad_token_id=tokenizer.pad_token_id, **sampling)
        replies = tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        for j in range(len(texts)):
            out.append([r.strip() for r in replies[j * n : (j + 1) * n]])
    return out


def speed(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]], *,
          max_new_tokens: int = 48) -> dict[str, float]:
    """First-token latency and decoding tokens/s, one prompt at a time (as the tutor serves a turn)."""
    import torch

    first, rates = [], []
    for prompt in prompts:
        ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True).to(model.device)
        with torch.inference_mode():
            start = time.perf_counter()
            model.generate(**ids, max_new_tokens=1, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            t1 = time.perf_counter() - start
            start = time.perf_counter()
            generated = model.generate(**ids, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                                       do_sample=False, pad_token_id=tokenizer.pad_token_id)
            total = time.perf_counter() - start
        new = generated.shape[1] - ids["input_ids"].shape[1]
        first.append(t1)
        rates.append((new - 1) / max(total - t1, 1e-6))
    first.sort()
    rates.sort()
    return {"first_token_s_median": round(first[len(first) // 2], 4),
            "tokens_per_s_median": round(rates[len(rates) // 2], 2)}
