"""A tiny SFT + DPO run end to end on a randomly initialised two-layer Llama (seconds, CPU)."""

from __future__ import annotations

import torch

from tests.tutor.alignment.tiny import tiny_model_dir
from tutor.alignment import tuning
from tutor.alignment.generation import load_model, sample
from tutor.alignment.states import load_states, prompt_messages


def _lora_b_norm(adapter) -> float:
    from safetensors.torch import load_file

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    return sum(float(v.abs().sum()) for k, v in weights.items() if "lora_B" in k)


def test_sft_then_dpo_trains_resumes_and_samples(tmp_path) -> None:
    torch.set_num_threads(1)
    train, _ = load_states()
    rows = [{"prompt": prompt_messages(s), "completion": [{"role": "assistant", "content": s.authored_text}]}
            for s in train[:4]]
    model_dir = tiny_model_dir(tmp_path / "model", [m["content"] for r in rows for m in r["prompt"] + r["completion"]])
    settings = tuning.StageSettings(max_steps=2, batch_size=2, save_steps=1, max_length=256, learning_rate=1e-2)

    sft = tuning.sft(rows, model_dir=str(model_dir), out=tmp_path / "sft", settings=settings)
    assert tuning.last_checkpoint(tmp_path / "sft" / "checkpoints") is not None
    assert _lora_b_norm(sft) > 0  # LoRA's B starts at zero: non-zero means the optimiser stepped
    assert tuning.sft(rows, model_dir=str(model_dir), out=tmp_path / "sft", settings=settings) == sft  # done: skip

    pairs = [{"prompt": r["prompt"], "chosen": r["completion"],
              "rejected": [{"role": "assistant", "content": "The answer is 5."}]} for r in rows]
    dpo = tuning.dpo(pairs, model_dir=str(model_dir), start_adapters=[str(sft)], out=tmp_path / "dpo",
                     settings=settings)
    assert _lora_b_norm(dpo) > 0

    model, tokenizer = load_model(str(model_dir), adapters=[str(sft), str(dpo)])
    replies = sample(model, tokenizer, [r["prompt"] for r in rows[:2]], n=2, temperature=0.3, max_new_tokens=4)
    assert [len(r) for r in replies] == [2, 2]
    assert all(isinstance(x, str) for r in replies for x in r)
