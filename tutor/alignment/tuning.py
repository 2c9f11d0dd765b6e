"""SFT then DPO with LoRA, through trl's trainers; each stage resumes from its last checkpoint.

SFT teaches the model to phrase the authored move in context (target: the authored text, which the
guard passes by construction). DPO then starts from the SFT weights (merged) with a fresh LoRA adapter,
and the merged SFT model is its reference. Both adapters are kept; serving merges them in order.
Uses a GPU when one is present, else the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


@dataclass(frozen=True)
class StageSettings:
    max_steps: int
    batch_size: int = 4
    learning_rate: float = 2e-4
    lora_r: int = 8
    lora_alpha: int = 16
    save_steps: int = 10
    max_length: int = 768
    beta: float = 0.1  # DPO only
    seed: int = 0


def last_checkpoint(directory: Path) -> str | None:
    if not directory.is_dir():
        return None
    checkpoints = sorted((p for p in directory.glob("checkpoint-*") if p.is_dir()),
                         key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


def _lora(settings: StageSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=0.05,
                      target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def _common(settings: StageSettings, out: Path) -> dict[str, Any]:
    import torch

    return dict(
        output_dir=str(out / "checkpoints"), max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size, learning_rate=settings.learning_rate,
        lr_scheduler_type="constant_with_warmup", warmup_steps=min(5, settings.max_steps // 4),
        logging_steps=max(1, min(5, settings.max_steps)), save_steps=settings.save_steps, save_total_limit=1,
        report_to=[], use_cpu=not torch.cuda.is_available(), seed=settings.seed, max_length=settings.max_length,
        dataloader_num_workers=0, disable_tqdm=False,
    )


def _load_base(model_dir: str, adapters: Sequence[str] = ()) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    for adapter in adapters:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model, tokenizer


def sft(rows: Sequence[dict[str, Any]], *, model_dir: str, out: Path, settings: StageSettings) -> Path:
    """LoRA SFT on prompt/completion rows; returns the adapter directory (skips when already done)."""
    adapter = out / "adapter"
    if (adapter / "adapter_config.json").is_file():
        return adapter
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = _load_base(model_dir)
    config = SFTConfig(**_common(settings, out), completion_only_loss=True)
    trainer: Any = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(list(rows)),
                         processing_class=tokenizer, peft_config=_lora(settings))
    trainer.train(resume_from_checkpoint=last_checkpoint(out / "checkpoints"))
    trained: Any = trainer.model
    trained.save_pretrained(str(adapter))
    return adapter


def dpo(pairs: Sequence[dict[str, Any]], *, model_dir: str, start_adapters: Sequence[str], out: Path,
        settings: StageSettings) -> Path:
    """LoRA DPO on preference pairs, on top of ``start_adapters`` merged (also the reference model)."""
    adapter = out / "adapter"
    if (adapter / "adapter_config.json").is_file():
        return adapter
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = _load_base(model_dir, start_adapters)
    rows = [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
    config = DPOConfig(**_common(settings, out), beta=settings.beta)
    trainer: Any = DPOTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=_lora(settings))
    trainer.train(resume_from_checkpoint=last_checkpoint(out / "checkpoints"))
    trained: Any = trainer.model
    trained.save_pretrained(str(adapter))
    return adapter
