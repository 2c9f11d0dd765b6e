"""How much a simulated history tells about each learner trait, measured with everything else true.

``python -m tracing.benchmarks.identifiability --answers 400000`` simulates the scaling benchmark's
long-history set (the same seed and generator as ``tracing.benchmarks.scaling``) and reports:

* gaps: for every two consecutive practices of one KC by one learner, the true ``α Δt``. Only gaps
  with ``exp(-α Δt)`` well inside (0, 1) tell a fast forgetter from a slow one: at ``α Δt ≫ 1``
  the state is a fresh draw from the stationary law ``N(target, σ²/2α)``, which carries ``σ²/α``
  only, and at ``α Δt ≪ 1`` nothing has moved.
* laplace: the curvature of each learner's filter log-likelihood in (log α, log σ, logit γ) at the
  true traits, with the true population, items, edges and gains (finite differences, float64),
  plus the population's prior precision: the posterior sd of each trait against its prior sd, and
  the correlation with the truth that a posterior mean can reach, ``sqrt(1 - E[post var] / prior
  var)`` (exact for a linear-Gaussian model whose prior is the population).
* oracle (``--oracle-steps``): the fit's own windowed SVI (``refit``) moving only the learners'
  traits, with everything else held at the truth: the recovery the fit reaches when nothing but
  the traits has to be learned.
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

TRAITS = ("log_alpha", "log_sigma", "logit_gamma")


def gap_stats(dataset: Any, truth: np.ndarray) -> dict[str, Any]:
    """``α Δt`` of consecutive practices of one KC (``truth`` columns: log α, μ, log σ, logit γ)."""
    per_learner = []
    all_x = []
    for s in dataset.seqs:
        alpha = math.exp(truth[s.learner, 0])
        kc = s.kcs[:, 0]
        order = np.lexsort((s.times, kc))
        same = kc[order][1:] == kc[order][:-1]
        x = alpha * np.diff(s.times[order])[same]
        all_x.append(x)
        r = np.exp(-x)
        per_learner.append(int(((r > 0.1) & (r < 0.9)).sum()))
    flat = np.concatenate(all_x)
    r = np.exp(-flat)
    return {
        "pairs_per_learner": float(len(flat) / len(dataset.seqs)),
        "alpha_dt_quantiles": {q: float(np.quantile(flat, q / 100)) for q in (10, 25, 50, 75, 90)},
        "share_r_below_0.1": float((r <= 0.1).mean()),
        "share_r_0.1_to_0.9": float(((r > 0.1) & (r < 0.9)).mean()),
        "share_r_above_0.9": float((r >= 0.9).mean()),
        "informative_pairs_per_learner_median": float(np.median(per_learner)),
    }


def oracle_params(sim: Any, graph: Any, dataset: Any, population: Any, gain: tuple[float, float]) -> Any:
    """The true parameters as a fit's :class:`PsiktParams`, every learner's traits at the
    population's mean (what a fit starts from), candidates = the true edges."""
    from tracing.psikt.params import PsiktParams

    n_kcs = len(graph.kcs)
    deps: list[list[tuple[int, float]]] = [[] for _ in range(n_kcs)]
    for j, k, s in graph.edges:
        deps[k].append((j, s))
    width = max(1, max(len(d) for d in deps))
    edge_index = np.full((n_kcs, width), -1, dtype=np.int64)
    edge_logit = np.zeros((n_kcs, width))
    for k, d in enumerate(deps):
        for slot, (j, s) in enumerate(d):
            edge_index[k, slot] = j
            edge_logit[k, slot] = math.log(s / (1 - s))
    offset = {it.key: it.offset for it in sim.simulator.items}
    pop = {
        **population.as_prior(),
        "item_scale": 0.7,
        "gain_wrong_loc": gain[0],
        "gain_correct_loc": gain[1],
        "gain_scale": 0.01,
    }
    n = len(dataset.learners)
    loc = np.tile([population.log_alpha[0], population.log_sigma[0], population.logit_gamma[0]], (n, 1))
    return PsiktParams(
        kcs=list(dataset.kcs),
        items=list(dataset.items),
        learners=list(dataset.learners),
        item_kcs=[list(x) for x in dataset.item_kcs],
        population=pop,
        item_offset=np.array([offset[i] for i in dataset.items]),
        item_offset_sd=np.full(len(dataset.items), 1e-3),
        edge_index=edge_index,
        edge_logit=edge_logit,
        learner_loc=loc,
        learner_sd=np.full((n, 3), 0.1),
        mu_mean=np.zeros(n),
        mu_sd=np.ones(n),
        time_unit=dataset.time_unit,
        kc_gain=np.tile(gain, (n_kcs, 1)),
    )


def laplace(dataset: Any, params: Any, truth: np.ndarray, prior_sd: np.ndarray, *, h: float = 0.1) -> dict[str, Any]:
    """Per-learner curvature of the filter log-likelihood at the true traits (finite differences in
    float64), posterior sd with the population prior, and the correlation that leaves reachable."""
    import torch

    from tracing.psikt.fit import _tensorise
    from tracing.psikt.model import run_filter

    torch.set_num_threads(1)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        seqs = dataset.seqs
        n = len(seqs)
        n_kcs = len(dataset.kcs)
        true3 = truth[[s.learner for s in seqs]][:, [0, 2, 3]]  # log α, log σ, logit γ
        # Displacements: centre, ±h on each axis, and the four corners of each pair of axes.
        moves = [np.zeros(3)]
        for i in range(3):
            for sgn in (1, -1):
                e = np.zeros(3)
                e[i] = sgn * h
                moves.append(e)
        pairs = [(0, 1), (0, 2), (1, 2)]
        for i, j in pairs:
            for si in (1, -1):
                for sj in (1, -1):
                    e = np.zeros(3)
                    e[i], e[j] = si * h, sj * h
                    moves.append(e)
        cand = torch.as_tensor(np.where(params.edge_index >= 0, params.edge_index, n_kcs))
        edge_logit = torch.as_tensor(params.edge_logit)
        offsets = torch.as_tensor(params.item_offset)
        gains = torch.as_tensor(params.gains())
        mu_loc = torch.tensor(float(params.population["mu_loc"]))
        mu_scale = torch.tensor(float(params.population["mu_scale"]))
        ll = np.zeros((n, len(moves)))
        chunk = max(1, 2048 // len(moves))
        for start in range(0, n, chunk):
            rows = list(range(start, min(n, start + chunk)))
            rep = [r for r in rows for _ in moves]
            batch = _tensorise([seqs[r] for r in rep], rep, n_kcs)
            batch.weights = batch.weights.double()
            batch.y = batch.y.double()
            batch.times = torch.as_tensor(np.stack([seqs[r].times - seqs[r].times[0] for r in rep]))
            traits = torch.as_tensor(np.concatenate([true3[r] + np.array(moves) for r in rows]))
            with torch.no_grad():
                rows_ll, _, _ = run_filter(batch, traits, mu_loc, mu_scale, offsets, edge_logit, cand, gains=gains)
            ll[rows] = rows_ll.numpy().reshape(len(rows), len(moves))
    finally:
        torch.set_default_dtype(previous)
    hess = np.zeros((n, 3, 3))
    f0 = ll[:, 0]
    for i in range(3):
        hess[:, i, i] = -(ll[:, 1 + 2 * i] - 2 * f0 + ll[:, 2 + 2 * i]) / h**2
    for p, (i, j) in enumerate(pairs):
        c = ll[:, 7 + 4 * p : 11 + 4 * p]  # ++, +-, -+, --
        hess[:, i, j] = hess[:, j, i] = -(c[:, 0] - c[:, 1] - c[:, 2] + c[:, 3]) / (4 * h * h)
    prior_prec = np.diag(1.0 / prior_sd**2)
    # The observed curvature of one history can be indefinite where its Fisher information is not:
    # clip its eigenvalues at zero (a direction the history does not inform is left to the prior).
    eigval, eigvec = np.linalg.eigh(hess)
    indefinite = int((eigval.min(-1) < 0).sum())
    hess = np.einsum("nij,nj,nkj->nik", eigvec, np.clip(eigval, 0.0, None), eigvec)
    post_cov = np.linalg.inv(hess + prior_prec)
    post_sd = np.sqrt(np.diagonal(post_cov, axis1=1, axis2=2))  # [n, 3]
    # Each trait alone (the other two known): 1 / (H_ii + prior precision).
    alone_sd = 1.0 / np.sqrt(np.diagonal(hess, axis1=1, axis2=2) + np.diag(prior_prec))
    out: dict[str, Any] = {}
    for i, name in enumerate(TRAITS):
        ratio = float(np.mean(post_sd[:, i] ** 2) / prior_sd[i] ** 2)
        ratio_alone = float(np.mean(alone_sd[:, i] ** 2) / prior_sd[i] ** 2)
        out[name] = {
            "prior_sd": float(prior_sd[i]),
            "fisher_info_median": float(np.median(hess[:, i, i])),
            "posterior_sd_median": float(np.median(post_sd[:, i])),
            "reachable_r": math.sqrt(max(0.0, 1.0 - ratio)),
            "posterior_sd_median_others_known": float(np.median(alone_sd[:, i])),
            "reachable_r_others_known": math.sqrt(max(0.0, 1.0 - ratio_alone)),
        }
    # The stationary variance's log, 2 log σ - log α: what a state drawn afresh after a long gap
    # tells. Its posterior variance against its prior variance, as for the traits.
    c = np.array([-1.0, 2.0, 0.0])
    ratio = float(np.mean(np.einsum("i,nij,j->n", c, post_cov, c)) / (c @ np.diag(prior_sd**2) @ c))
    out["log_stationary_variance"] = {"reachable_r": math.sqrt(max(0.0, 1.0 - ratio))}
    corr = post_cov[:, 0, 1] / np.sqrt(post_cov[:, 0, 0] * post_cov[:, 1, 1])
    out["posterior_corr_log_alpha_log_sigma_median"] = float(np.median(corr))
    out["learners"] = n
    out["learners_with_indefinite_curvature"] = indefinite
    return out


def oracle_fit(dataset: Any, params: Any, truth: np.ndarray, steps: int, seed: int) -> dict[str, Any]:
    """The fit's windowed SVI on the traits alone, everything else held at the truth."""
    from tracing.psikt.fit import FitConfig, refit

    cpu = time.process_time()
    result = refit(
        dataset,
        params,
        learners=[dataset.learners[s.learner] for s in dataset.seqs],
        config=FitConfig(steps=steps, encoder=None, seed=seed),
    )
    cpu = time.process_time() - cpu
    p = result.params
    order = [s.learner for s in dataset.seqs]
    est = p.learner_loc[order]
    true = truth[order][:, [0, 2, 3]]
    return {
        "steps": result.steps,
        "fit_s": result.seconds,
        "fit_cpu_s": cpu,
        "trait_correlation": {n: float(np.corrcoef(true[:, i], est[:, i])[0, 1]) for i, n in enumerate(TRAITS)},
        "mu_correlation": float(np.corrcoef(truth[order][:, 1], p.mu_mean[order])[0, 1]),
        "posterior_sd_median": {n: float(np.median(p.learner_sd[order, i])) for i, n in enumerate(TRAITS)},
    }


def main(argv: list[str] | None = None) -> int:
    from tracing.benchmarks.scaling import simulate_long

    parser = argparse.ArgumentParser(
        prog="python -m tracing.benchmarks.identifiability", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--answers", type=int, default=400000)
    parser.add_argument("--answers-each", type=int, default=2000)
    parser.add_argument("--kcs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--laplace-learners", type=int, default=200)
    parser.add_argument("--oracle-steps", type=int, default=0, help="Also fit the traits alone (0: skip)")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    sim, graph, population, gain, truth = simulate_long(args.answers, args.answers_each, args.kcs, args.seed)
    dataset = sim.dataset
    print(f"simulated {dataset.n_observations} answers in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    out: dict[str, Any] = {"argv": sys.argv[1:] if argv is None else argv, "gaps": gap_stats(dataset, truth)}
    print(json.dumps(out["gaps"]), flush=True)
    params = oracle_params(sim, graph, dataset, population, gain)
    prior_sd = np.array([population.log_alpha[1], population.log_sigma[1], population.logit_gamma[1]])
    if args.laplace_learners:
        cpu, wall = time.process_time(), time.perf_counter()
        part = dataset.subset(list(range(min(args.laplace_learners, len(dataset.seqs)))))
        out["laplace"] = laplace(part, params, truth, prior_sd)
        out["laplace"]["cpu_s"] = time.process_time() - cpu
        out["laplace"]["wall_s"] = time.perf_counter() - wall
        print(json.dumps(out["laplace"]), flush=True)
    if args.oracle_steps:
        out["oracle"] = oracle_fit(dataset, params, truth, args.oracle_steps, args.seed)
        print(json.dumps(out["oracle"]), flush=True)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
