"""Benchmark a backend: load time (cold conversion and cached reload), first-token latency, tokens/s.

    python -m tutor.benchmarks.llm_bench [--backend embedded] [--json OUT] [--cache-dir DIR] [--skip-cold]

Runs without Django settings. The cold figure converts into a fresh temporary cache, so it measures
the first start of a new install without touching the real cache.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tutor.llm.base import Backend, BackendError, Message, grounded
from tutor.llm.registry import DEFAULT_MODEL_CACHE, build_backend

PROMPTS: list[list[Message]] = [
    [
        {"role": "system", "content": "You are a patient maths tutor. Never give the final answer."},
        {"role": "user", "content": "Phrase this hint for the student: " + grounded(hint)},
    ]
    for hint in (
        "Half a dozen is 6 pens. How many pens is that together with two dozens?",
        "Subtract 5 from both sides first. What is 11 - 5?",
        "The area of a triangle is half of base times height.",
        "Speed is distance divided by time, not distance times time.",
        "Both fractions are quarters: add the numerators and keep the denominator.",
    )
]


def _count_tokens(backend: Backend, text: str) -> int:
    counter = getattr(backend, "count_tokens", None)
    return int(counter(text)) if callable(counter) else max(1, len(text.split()))


def run(spec: str, *, cache_dir: Path, skip_cold: bool, max_new_tokens: int) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": spec, "max_new_tokens": max_new_tokens}
    if spec == "embedded" and not skip_cold:
        with tempfile.TemporaryDirectory(prefix="tutor-bench-") as cold_dir:
            start = time.perf_counter()
            build_backend(spec, cache_dir=cold_dir)
            result["load_cold_s"] = round(time.perf_counter() - start, 3)
    if spec == "embedded":
        from tutor.llm.transformers_backend import convert_embedded

        convert_embedded(cache_dir)  # a no-op when cached; the timing below is then a clean reload
    start = time.perf_counter()
    backend = build_backend(spec, cache_dir=cache_dir)
    result["load_cached_s" if spec == "embedded" else "load_s"] = round(time.perf_counter() - start, 3)
    result["model_id"] = backend.model_id

    backend.generate(PROMPTS[0], max_new_tokens=8, temperature=0.0)  # warm-up
    first_token: list[float] = []
    rates: list[float] = []
    for messages in PROMPTS:
        start = time.perf_counter()
        first: float | None = None
        text = ""
        for chunk in backend.stream(messages, max_new_tokens=max_new_tokens, temperature=0.0):
            if first is None:
                first = time.perf_counter() - start
            text += chunk
        total = time.perf_counter() - start
        if first is None:
            continue
        first_token.append(first)
        tokens = _count_tokens(backend, text)
        if total > first and tokens > 1:
            rates.append((tokens - 1) / (total - first))
    result["first_token_p50_s"] = round(statistics.median(first_token), 3) if first_token else None
    result["tokens_per_s"] = round(statistics.median(rates), 1) if rates else None
    result["prompts"] = len(PROMPTS)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tutor.benchmarks.llm_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="embedded", help="backend spec (default: embedded)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_MODEL_CACHE)
    parser.add_argument("--skip-cold", action="store_true", help="do not measure the cold conversion")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    try:
        result = run(
            args.backend, cache_dir=args.cache_dir, skip_cold=args.skip_cold, max_new_tokens=args.max_new_tokens
        )
    except (ValueError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
