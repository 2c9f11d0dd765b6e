"""Benchmark a model server over its OpenAI-compatible API, and the machine's memory bandwidth.

    python -m tests.load.llm_server_bench --engine llama-server [--streams 1,4,8] [--json OUT]
    python -m tests.load.llm_server_bench --url http://127.0.0.1:8090/v1
    python -m tests.load.llm_server_bench --bandwidth-only

Figures: first-token latency of a tutor-sized prompt (one request at a time), decode tokens/s of one
stream, and with C concurrent streams the aggregate tokens/s (all tokens over the wall time) and each
stream's own rate. Tokens are the server's own count (``usage``) where it gives one, else one per
streamed chunk. Memory read bandwidth is measured with numpy (one reader, and one reader per core at
once); the decode bound is that bandwidth over the bytes read per token (the GGUF file: every weight
is read once per decode step).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tutor.llm import http
from tutor.llm.base import grounded
from tutor.llm.openai_compat import chat_completions_url

# A prompt shaped like the tutor's own (tutor/dialogue_bridge.py: system, problem, history).
HINTS = [
    "Half a dozen is 6 pens. How many pens is that together with two dozens?",
    "Subtract 5 from both sides first. What is 11 - 5?",
    "The area of a triangle is half of base times height. What are the base and the height here?",
    "Speed is distance divided by time, not distance times time. Which two numbers do you divide?",
    "Both fractions are quarters: add the numerators and keep the denominator. What do you get on top?",
    "A percent is a number out of 100. How many hundredths is 0.35?",
    "Multiply the number of rows by the number of seats in each row. How many rows are there?",
    "Start by finding how much one notebook costs. What is 12 divided by 4?",
]


def tutor_messages(i: int) -> list[dict[str, str]]:
    hint = HINTS[i % len(HINTS)]
    return [
        {"role": "system", "content": (
            "You are a patient, encouraging math tutor for a school student. You never give away the final "
            "answer unless told to. Reply in one to three short sentences. Your task now: give the next hint "
            "as a question. Base your reply only on the teacher's note between the markers: " + grounded(hint))},
        {"role": "user", "content": "(The problem: Sam buys some pens and notebooks for school; work out the "
                                    "total he needs.\nStep: What is the first thing to find?)"},
        {"role": "assistant", "content": "I understand the problem."},
        {"role": "user", "content": "I don't know, can I have a hint?"},
    ]


MODEL = {"name": "default"}  # what requests ask for (--model: a server pinned to another name)


def stream_once(url: str, i: int, *, max_tokens: int, fixed_length: bool) -> dict[str, float]:
    """One streamed completion: seconds to the first token, to the end, and the tokens produced."""
    payload: dict[str, Any] = {"model": MODEL["name"], "messages": tutor_messages(i), "stream": True,
                               "max_tokens": max_tokens, "temperature": 0.3,
                               "stream_options": {"include_usage": True}}
    if fixed_length:
        payload["ignore_eos"] = True  # llama.cpp: always decode max_tokens, so rates compare like with like
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    response = http.open_stream(chat_completions_url(url), payload=payload, timeout=120)
    try:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            usage = event.get("usage") if isinstance(event, dict) else None
            if isinstance(usage, dict) and usage.get("completion_tokens"):
                usage_tokens = int(usage["completion_tokens"])
            for choice in event.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter() - started
    finally:
        response.close()
    total = time.perf_counter() - started
    return {"first_s": first if first is not None else total, "total_s": total,
            "tokens": float(usage_tokens or chunks)}


def concurrent(url: str, streams: int, *, max_tokens: int, fixed_length: bool, offset: int) -> dict[str, Any]:
    results: list[dict[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            result = stream_once(url, offset + i, max_tokens=max_tokens, fixed_length=fixed_length)
        except Exception as exc:  # reported, not hidden
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    tokens = sum(r["tokens"] for r in results)
    per_stream = [(r["tokens"] - 1) / (r["total_s"] - r["first_s"]) for r in results
                  if r["tokens"] > 1 and r["total_s"] > r["first_s"]]
    return {
        "streams": streams, "errors": errors[:3], "wall_s": round(wall, 3), "tokens": int(tokens),
        "aggregate_tokens_per_s": round(tokens / wall, 1) if wall else None,
        "per_stream_decode_tokens_per_s_p50": round(statistics.median(per_stream), 1) if per_stream else None,
        "first_token_ms_p50": round(statistics.median(r["first_s"] for r in results) * 1000, 1) if results else None,
        "first_token_ms_max": round(max(r["first_s"] for r in results) * 1000, 1) if results else None,
    }


def bench_server(url: str, *, streams: Sequence[int], max_tokens: int, fixed_length: bool,
                 prompts: int) -> dict[str, Any]:
    stream_once(url, 0, max_tokens=4, fixed_length=False)  # warm-up
    singles = [stream_once(url, i, max_tokens=max_tokens, fixed_length=fixed_length) for i in range(prompts)]
    rates = [(s["tokens"] - 1) / (s["total_s"] - s["first_s"]) for s in singles
             if s["tokens"] > 1 and s["total_s"] > s["first_s"]]
    out: dict[str, Any] = {
        "single": {
            "prompts": prompts,
            "first_token_ms_p50": round(statistics.median(s["first_s"] for s in singles) * 1000, 1),
            "first_token_ms_max": round(max(s["first_s"] for s in singles) * 1000, 1),
            "decode_tokens_per_s_p50": round(statistics.median(rates), 1) if rates else None,
            "reply_ms_p50": round(statistics.median(s["total_s"] for s in singles) * 1000, 1),
            "tokens_p50": statistics.median(s["tokens"] for s in singles),
        },
        "concurrent": [concurrent(url, n, max_tokens=max_tokens, fixed_length=fixed_length, offset=n)
                       for n in streams if n > 1],
    }
    return out


def _read(path: str, seconds: float, out: Any) -> None:
    import numpy as np

    data = np.load(path, mmap_mode="r")
    data = np.array(data)  # resident in this process's memory
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        data.sum()  # reads every byte once; int64 adds are far cheaper than the memory traffic
        best = max(best, data.nbytes / (time.perf_counter() - started))
    out.put(best)


def memory_bandwidth(*, mib: int = 512, seconds: float = 3.0) -> dict[str, Any]:
    """Read bandwidth (GB/s): one numpy reader, and one per core reading at once (their sum)."""
    import numpy as np

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="membw-") as tmp:
        path = str(Path(tmp) / "a.npy")
        np.save(path, np.ones(mib * 1024 * 1024 // 8, dtype=np.int64))
        results: dict[str, Any] = {"array_mib": mib}
        for readers in sorted({1, cores}):
            queue: multiprocessing.Queue[float] = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=_read, args=(path, seconds, queue)) for _ in range(readers)]
            for proc in procs:
                proc.start()
            rates = [queue.get(timeout=120) for _ in procs]
            for proc in procs:
                proc.join()
            results[f"read_gb_s_{readers}_reader{'s' if readers > 1 else ''}"] = round(sum(rates) / 1e9, 2)
        copy = np.ones(mib * 1024 * 1024 // 8, dtype=np.int64)
        target = np.empty_like(copy)
        best = 0.0
        for _ in range(5):
            started = time.perf_counter()
            np.copyto(target, copy)
            best = max(best, 2 * copy.nbytes / (time.perf_counter() - started))
        results["copy_gb_s_read_plus_write"] = round(best / 1e9, 2)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from tutor.llm import model_server

    parser = argparse.ArgumentParser(prog="python -m tests.load.llm_server_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=model_server.ENGINES, help="start this engine with the embedded model")
    parser.add_argument("--url", help="or measure a server already running here")
    parser.add_argument("--model", default="default", help="the model name requests ask for (with --url)")
    parser.add_argument("--parallel", type=int, default=8, help="slots of the started engine")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch", type=int, default=model_server.ServerConfig.batch, help="prompt tokens per step")
    parser.add_argument("--streams", default="1,4,8", help="concurrent streams to measure")
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--prompts", type=int, default=5, help="single-stream requests")
    parser.add_argument("--natural-length", action="store_true", help="stop at the model's end of reply")
    parser.add_argument("--bandwidth-only", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        streams = [int(s) for s in args.streams.split(",") if s.strip()]
    except ValueError:
        parser.error("--streams takes numbers separated by commas, e.g. 1,4,8")
    if any(s < 1 or s > 64 for s in streams):
        parser.error("--streams must be between 1 and 64")
    MODEL["name"] = args.model
    report: dict[str, Any] = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    gguf = model_server.embedded_gguf_path()
    report["weights"] = {"file": gguf.name, "bytes_per_token": gguf.stat().st_size}
    if not args.bandwidth_only:
        if not (args.engine or args.url):
            parser.error("give --engine or --url (or --bandwidth-only)")
        server: model_server.ModelServer | None = None
        url = args.url
        if args.engine:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            config = model_server.ServerConfig(engine=args.engine, port=port, parallel=args.parallel,
                                               batch=args.batch,
                                               threads=args.threads or model_server.default_threads())
            log = Path(tempfile.gettempdir()) / f"llm-bench-{args.engine}-{port}.log"
            server = model_server.ModelServer(config, log=log)
            started = time.perf_counter()
            try:
                server.start(timeout=300)
            except model_server.ModelServerError as exc:
                print(f"error: {exc}\n{server.log_tail()}", file=sys.stderr)
                return 2
            report["engine"] = {"name": args.engine, "parallel": config.parallel, "threads": config.threads,
                                "batch": config.batch,
                                "start_and_warm_s": round(time.perf_counter() - started, 2)}
            url = config.base_url
        try:
            report["server"] = bench_server(url, streams=streams, max_tokens=args.max_tokens,
                                            fixed_length=not args.natural_length, prompts=args.prompts)
        finally:
            if server is not None:
                server.stop()
    report["memory"] = memory_bandwidth()
    bound = report["memory"].get(f"read_gb_s_{os.cpu_count()}_readers") or report["memory"]["read_gb_s_1_reader"]
    report["decode_bound_tokens_per_s"] = round(bound * 1e9 / report["weights"]["bytes_per_token"], 1)
    if "server" in report:
        single = report["server"]["single"]["decode_tokens_per_s_p50"]
        best = max([c["aggregate_tokens_per_s"] or 0 for c in report["server"]["concurrent"]] + [single or 0])
        report["ratio_single_to_bound"] = round((single or 0) / report["decode_bound_tokens_per_s"], 3)
        report["ratio_best_aggregate_to_bound"] = round(best / report["decode_bound_tokens_per_s"], 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
