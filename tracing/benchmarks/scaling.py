"""Fit cost against the number of answers, on simulated long histories.

``python -m tracing.benchmarks.scaling --answers 50000,100000,200000,400000`` simulates, for each
size, ``size / answers_each`` learners of ``answers_each`` answers over ``kcs`` KCs (the
simulator's learners with practice gains and spread-out breaks), then fits the model in a process
of its own, so each peak resident memory (``ru_maxrss``) belongs to one fit. A fit is a fixed
number of passes over the data (``--epochs``), so its time measures the cost of the answers
themselves; ``--steps`` instead runs a fixed number of SVI steps, as ``fit_tracing`` does.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import sys
import time
from queue import Empty
from typing import Any

import numpy as np


def simulate_long(
    answers: int, answers_each: int, kcs: int, seed: int, *, population: Any = None
) -> tuple[Any, Any, Any, tuple[float, float], np.ndarray]:
    """The long-history set: ``answers / answers_each`` learners over ``kcs`` KCs. Returns the
    simulation, the graph, the trait population, the practice gain and the true traits ``[N, 4]``
    (log alpha, mu, log sigma, logit gamma)."""
    from tracing.benchmarks.simulate import Population, make_items, random_graph, random_policy, simulate

    rng = np.random.default_rng(seed)
    graph = random_graph(kcs, round(kcs * 1.5), rng)
    items = make_items(kcs, 3, rng)
    population = population or Population()
    gain = (0.15, 0.35)
    sim = simulate(
        graph,
        max(1, answers // answers_each),
        items,
        n_answers=answers_each,
        seed=seed,
        policy=random_policy(items, gap_spread=1.0),
        population=population,
        practice_gain=gain,
    )
    truth = np.array(
        [[math.log(t.alpha), t.mu, math.log(t.sigma), math.log(t.gamma / (1 - t.gamma))] for t in sim.traits]
    )
    return sim, graph, population, gain, truth


def _simulate(
    answers: int, answers_each: int, kcs: int, seed: int
) -> tuple[Any, list[tuple[str, str, float]], np.ndarray]:
    sim, graph, _, _, truth = simulate_long(answers, answers_each, kcs, seed)
    return sim.dataset, [(graph.kcs[j], graph.kcs[k], 1.0) for j, k, _ in graph.edges], truth


def _fit_one(
    dataset: Any,
    edges: list[tuple[str, str, float]],
    truth: np.ndarray,
    epochs: float | None,
    steps: int | None,
    seed: int,
) -> dict[str, Any]:
    from tracing.psikt.fit import FitConfig, fit

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = FitConfig(encoder=None, seed=seed)
    n_windows = sum(max(1, math.ceil(len(s) / config.window)) for s in dataset.seqs)
    if steps is not None:
        config.steps = steps
    else:
        config.steps = max(1, math.ceil((epochs or 1.0) * n_windows / config.batch_windows))
    cpu = time.process_time()
    result = fit(dataset, prior_edges=edges, config=config)
    cpu = time.process_time() - cpu
    p = result.params
    order = [p.index("learners")[dataset.learners[s.learner]] for s in dataset.seqs]
    est = np.column_stack([p.learner_loc[order, 0], p.mu_mean[order], p.learner_loc[order, 1], p.learner_loc[order, 2]])
    true = truth[[s.learner for s in dataset.seqs]]
    names = ["log_alpha", "mu", "log_sigma", "logit_gamma"]
    corr = {n: float(np.corrcoef(true[:, i], est[:, i])[0, 1]) if len(order) > 2 else None for i, n in enumerate(names)}
    return {
        "answers": dataset.n_observations,
        "learners": len(dataset.seqs),
        "kcs": len(dataset.kcs),
        "windows": n_windows,
        "steps": result.steps,
        "epochs": result.steps * config.batch_windows / n_windows,
        "fit_s": result.seconds,
        "fit_cpu_s": cpu,
        "fit_cpu_s_per_100k_answers": cpu / dataset.n_observations * 1e5,
        "rss_before_fit_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trait_correlation": corr,
    }


def _worker(args: tuple[Any, ...], queue: Any) -> None:
    queue.put(_fit_one(*args))


def refit_timing(
    path: str, *, new_answers: int, learners: int, steps: int, first_steps: int, seed: int
) -> dict[str, Any]:
    """A day of new answers on an ASSISTments log: the first fit sees every learner's history but
    the last ``new_answers / learners`` answers of ``learners`` of them; the refit then starts from it
    with those answers added (``tracing.psikt.fit.refit``), as ``fit_tracing --refit`` would."""
    from tracing.psikt.data import Dataset, load_tsv
    from tracing.psikt.fit import FitConfig, fit, refit

    data = load_tsv(path)
    rng = np.random.default_rng(seed)
    each = max(1, new_answers // learners)
    long_enough = [i for i, s in enumerate(data.seqs) if len(s) > 2 * each]
    chosen = set(rng.choice(long_enough, size=min(learners, len(long_enough)), replace=False).tolist())
    yesterday = Dataset(
        data.learners,
        data.items,
        data.kcs,
        [s.head(len(s) - each) if i in chosen else s for i, s in enumerate(data.seqs)],
        data.item_kcs,
        data.time_unit,
    )
    first = fit(yesterday, config=FitConfig(steps=first_steps, encoder=None, seed=seed))
    cpu = time.process_time()
    out = refit(
        data,
        first.params,
        learners=[data.learners[data.seqs[i].learner] for i in chosen],
        config=FitConfig(steps=steps, encoder=None, seed=seed),
    )
    return {
        "answers": data.n_observations,
        "new_answers": each * len(chosen),
        "learners_refitted": len(chosen),
        "answers_of_refitted_learners": int(sum(len(data.seqs[i]) for i in chosen)),
        "first_fit_s": first.seconds,
        "refit_steps": out.steps,
        "refit_s": out.seconds,
        "refit_cpu_s": time.process_time() - cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracing.benchmarks.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", default="50000,100000,200000,400000")
    parser.add_argument("--answers-each", type=int, default=2000)
    parser.add_argument("--kcs", type=int, default=200)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=None, help="A fixed number of SVI steps instead of --epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--refit-tsv", help="Instead: time a continual refit after new answers on this ASSISTments TSV")
    parser.add_argument("--refit-new-answers", type=int, default=1000)
    parser.add_argument("--refit-learners", type=int, default=50)
    parser.add_argument("--refit-steps", type=int, default=100)
    parser.add_argument("--refit-first-steps", type=int, default=150)
    args = parser.parse_args(argv)
    if args.refit_tsv:
        out = refit_timing(
            args.refit_tsv,
            new_answers=args.refit_new_answers,
            learners=args.refit_learners,
            steps=args.refit_steps,
            first_steps=args.refit_first_steps,
            seed=args.seed,
        )
        print(json.dumps(out))
        if args.json_out:
            with open(args.json_out, "w") as fh:
                json.dump({"argv": sys.argv[1:] if argv is None else argv, "refit": out}, fh, indent=2)
        return 0
    rows = []
    sizes = [int(x) for x in args.answers.split(",")]
    # One simulation of the largest size; each smaller set is its first learners.
    t0 = time.perf_counter()
    dataset, edges, truth = _simulate(max(sizes), args.answers_each, args.kcs, args.seed)
    print(f"simulated {dataset.n_observations} answers in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    ctx = multiprocessing.get_context("spawn")
    for size in sizes:
        part = dataset.subset(list(range(max(1, size // args.answers_each))))
        queue = ctx.Queue()
        proc = ctx.Process(target=_worker, args=((part, edges, truth, args.epochs, args.steps, args.seed), queue))
        proc.start()
        # A child that dies (memory, an error) puts nothing: wait for its row or its end.
        while True:
            try:
                row = queue.get(timeout=5)
                break
            except Empty:
                if not proc.is_alive():
                    raise SystemExit(
                        f"the fit of {size} answers ended without a result (exit code {proc.exitcode})"
                    ) from None
        proc.join()
        rows.append(row)
        print(json.dumps(row), flush=True)
    if len(rows) > 1:
        x = np.log([r["answers"] for r in rows])
        for key in ("fit_s", "fit_cpu_s"):
            slope = float(np.polyfit(x, np.log([r[key] for r in rows]), 1)[0])
            print(f"log-log slope of {key} against answers: {slope:.2f} (1.0 = linear)", file=sys.stderr)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"argv": sys.argv[1:] if argv is None else argv, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
