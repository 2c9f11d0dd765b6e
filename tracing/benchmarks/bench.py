"""Benchmark the learner models on public logs, and check parameter recovery on simulated data.

    python -m tracing.benchmarks --format pykt --train TRAIN.csv --test TEST.csv [--models psikt,bkt,pybkt,dkt]
    python -m tracing.benchmarks --format tsv FILE.tsv          # learners split 80/20 with a fixed seed
    python -m tracing.benchmarks --recovery                     # simulated learners with known truth
    python -m tracing.benchmarks --recovery --recovery-gain 0.2,0.5 --recovery-gap-spread 1 \
        --recovery-answers 300 --recovery-edges-per-kc 2   # learners who learn from practice

Protocol: fit on the training learners; then every test answer is predicted from the history before
it and the true answer is fed to the online update (next-response AUC, accuracy, log-loss). On
timed data, also 10-step open-loop accuracy: observe the first 10 answers, predict the next 10 with
no updates. Runs without Django settings.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tracing.benchmarks.baselines.bkt import BKTTracker, fit_bkt
from tracing.benchmarks.metrics import auc, log_loss, nll
from tracing.psikt.data import Dataset, load_pykt_csv, load_tsv, split_by_source, split_learners

OPEN_LOOP_OBSERVED = 10
OPEN_LOOP_PREDICTED = 10


@dataclass
class ModelReport:
    name: str
    n_test_answers: int = 0
    auc: float = float("nan")
    accuracy: float = float("nan")
    log_loss: float = float("nan")
    open_loop_accuracy: float | None = None
    open_loop_n: int = 0
    fit_seconds: float = 0.0
    update_ms_p50: float = float("nan")
    update_ms_p95: float = float("nan")
    peak_rss_mb: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # p(correct) of every test answer, in the learner-major order of the padded mask (kept out of
    # the JSON report; ``--predictions`` writes it as CSV).
    preds: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "preds"}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _padded_steps(test: Dataset, n_kcs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Test sequences as padded arrays: items [L, T], kcs [L, T, S], y, times, mask."""
    n = len(test.seqs)
    width = max((len(s) for s in test.seqs), default=0)
    slots = max((s.kcs.shape[1] for s in test.seqs), default=1)
    items = np.zeros((n, width), dtype=np.int64)
    kcs = np.full((n, width, slots), n_kcs, dtype=np.int64)
    y = np.zeros((n, width))
    times = np.zeros((n, width))
    mask = np.zeros((n, width), dtype=bool)
    for i, s in enumerate(test.seqs):
        length = len(s)
        items[i, :length] = s.items
        kc = np.where(s.kcs >= 0, s.kcs, n_kcs)
        kcs[i, :length, : kc.shape[1]] = kc
        y[i, :length] = s.correct
        times[i, :length] = s.times - (s.times[0] if length else 0.0)
        mask[i, :length] = True
    return items, kcs, y, times, mask


Stepper = Callable[[np.ndarray, int], np.ndarray]


def _score(report: ModelReport, y: np.ndarray, p: np.ndarray) -> None:
    report.n_test_answers = len(y)
    report.preds = p
    report.auc = auc(y, p)
    report.accuracy = float(np.mean((p >= 0.5) == (y > 0)))
    report.log_loss = log_loss(y, p)


def _score_after_first(report: ModelReport, y: np.ndarray, p: np.ndarray, mask: np.ndarray) -> None:
    """AUC over every answer but each learner's first, as pyKT scores (a sequence model predicts
    answer t+1 from answers up to t, so pyKT's published AUCs never include a first answer)."""
    later = mask.copy()
    later[:, 0] = False
    report.extra["auc_after_first"] = auc(y[later], p[later])
    report.extra["answers_after_first"] = int(later.sum())


def _latencies(fn: Callable[[int], None], n: int) -> tuple[float, float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def run_psikt(
    train: Dataset,
    test: Dataset,
    *,
    steps: int,
    timed: bool,
    seed: int,
    max_seconds: float | None = None,
    encoder: bool = True,
    window: int | None = None,
    batch_windows: int | None = None,
    lr: float | None = None,
    mu_drifts: Sequence[float] = (),
) -> ModelReport:
    from tracing.psikt.fit import FitConfig, fit
    from tracing.psikt.online import LearnerStates, OnlineModel, observe, practise

    report = ModelReport("psikt")
    last = [time.perf_counter()]

    def progress(step: int, total: int, loss: float) -> None:
        if time.perf_counter() - last[0] > 10 or step == total:
            last[0] = time.perf_counter()
            print(f"  psikt step {step}/{total} loss/answer {loss:.4f}", file=sys.stderr)

    def encoder_progress(member: int, epoch: int, loss: float, filter_loss: float) -> None:
        print(
            f"  psikt encoder {member + 1} epoch {epoch} held-out log-loss {loss:.5f} (filter alone {filter_loss:.5f})",
            file=sys.stderr,
        )

    config = FitConfig(steps=steps, seed=seed, max_seconds=max_seconds)
    if window is not None:
        config.window = window
    if batch_windows is not None:
        config.batch_windows = batch_windows
    if lr is not None:
        config.lr = lr
    if not encoder:
        config.encoder = None
    cpu = time.process_time()
    result = fit(train, config=config, progress=progress, encoder_progress=encoder_progress)
    # On a shared machine the wall clock measures the neighbours too; this is the fit's own CPU time
    # (the encoder's members run in processes of their own, not counted here).
    report.extra["fit_cpu_seconds"] = time.process_time() - cpu
    report.fit_seconds = result.seconds
    report.extra["population"] = result.params.population
    report.extra["steps"] = result.steps
    report.extra["encoder"] = result.encoder
    model = OnlineModel.from_params(result.params)
    n_kcs = model.n_kcs
    items, kcs, y, times, mask = _padded_steps(test, n_kcs)
    n = len(test.seqs)

    def filtered(m: Any) -> np.ndarray:
        # Test learners are new: traits from the population, ability learned online.
        states = LearnerStates.new(m, np.tile(m.population_traits(), (n, 1)))
        preds = np.zeros_like(y)
        for t in range(items.shape[1]):
            rows = np.nonzero(mask[:, t])[0]
            preds[rows, t] = observe(
                m, states, rows, kcs[rows, t], m.item_offset[items[rows, t]], y[rows, t], times[rows, t]
            )
        return preds

    preds = filtered(model)
    _score(report, y[mask], preds[mask])
    _score_after_first(report, y, preds, mask)
    if model.encoder is not None:
        report.extra["auc_filter_alone"] = auc(y[mask], filtered(replace(model, encoder=None))[mask])
        report.note = (
            f"with the history encoder ({model.encoder.members} x {model.encoder.hidden} units, epochs "
            f"{'/'.join(str(m['best_epoch']) for m in result.encoder['members'])}); the filter alone scores AUC "
            f"{report.extra['auc_filter_alone']:.4f}"
        )
    elif encoder:
        report.note = f"history encoder not used: {result.encoder.get('reason', '')}"
    report.extra["mu_drift_default"] = model.mu_drift
    if mu_drifts:
        report.extra["mu_drift"] = _mu_drift_sweep(model, filtered, y, mask, mu_drifts)
    if timed:
        report.open_loop_accuracy, report.open_loop_n = _open_loop_psikt(
            model, items, kcs, y, times, mask, LearnerStates, observe, practise
        )
    # Latency of the request path: one learner, one answer, fresh arrays each call.
    single = LearnerStates.new(model, model.population_traits()[None, :])
    flat_rows = np.argwhere(mask)[:2000]
    row0 = np.zeros(1, dtype=np.int64)

    def one(i: int) -> None:
        r, t = flat_rows[i % len(flat_rows)]
        observe(
            model,
            single,
            row0,
            kcs[r, t][None, :],
            model.item_offset[items[r, t]][None],
            y[r, t][None],
            np.array([float(i)]),
        )

    report.update_ms_p50, report.update_ms_p95 = _latencies(one, min(2000, len(flat_rows)))
    report.peak_rss_mb = _peak_rss_mb()
    return report


MU_DRIFT_EARLY = 20


def _mu_drift_sweep(
    model: Any,
    filtered: Callable[[Any], np.ndarray],
    y: np.ndarray,
    mask: np.ndarray,
    drifts: Sequence[float],
) -> list[dict[str, Any]]:
    """Traits that move: the same fit filtered with the learner's level μ drifting by each variance
    per answer in ``drifts``. Scores every test answer and the first ``MU_DRIFT_EARLY`` of each
    learner (the cold start: test learners are new to the fit); the log-loss difference against the
    fixed μ (drift 0, the fit's own model) comes with a standard error over learners (answers of
    one learner are not independent)."""
    early = mask & (np.arange(mask.shape[1])[None, :] < MU_DRIFT_EARLY)
    base_nll = nll(y, filtered(replace(model, mu_drift=0.0)))
    out = []
    for q in drifts:
        p = filtered(replace(model, mu_drift=float(q)))
        diff = np.where(mask, nll(y, p) - base_nll, 0.0)  # [L, T]
        per_learner = diff.sum(1)
        counts = mask.sum(1)
        # Ratio estimator of the per-answer mean difference, with its learner-clustered SE.
        mean = per_learner.sum() / counts.sum()
        resid = per_learner - mean * counts
        n = len(counts)
        se = math.sqrt(n / max(n - 1, 1) * float((resid**2).sum())) / counts.sum()
        row = {
            "mu_drift": float(q),
            "auc": auc(y[mask], p[mask]),
            "log_loss": log_loss(y[mask], p[mask]),
            "auc_first": auc(y[early], p[early]),
            "log_loss_first": log_loss(y[early], p[early]),
            "log_loss_diff": float(mean),
            "log_loss_diff_se": float(se),
        }
        out.append(row)
        print(
            f"  psikt mu_drift {q:g}: AUC {row['auc']:.4f} log-loss {row['log_loss']:.4f} "
            f"(first {MU_DRIFT_EARLY}: {row['auc_first']:.4f} / {row['log_loss_first']:.4f}); "
            f"log-loss minus fixed μ's {mean:+.5f} ± {se:.5f}",
            file=sys.stderr,
        )
    return out


def _open_loop_rows(mask: np.ndarray) -> np.ndarray:
    """Test learners with enough answers for the open loop (observe ten, predict the next ten)."""
    return np.nonzero(mask.sum(1) >= OPEN_LOOP_OBSERVED + OPEN_LOOP_PREDICTED)[0]


def _tracker_latency(report: ModelReport, tracker: Any, kcs: np.ndarray, y: np.ndarray, mask: np.ndarray) -> None:
    """Update latency of a one-learner ``tracker`` (``observe(rows, kcs, y)``), one test answer per
    call with fresh arrays, as on the request path; then the peak memory."""
    flat = np.argwhere(mask)[:2000]
    row0 = np.zeros(1, dtype=np.int64)

    def one(i: int) -> None:
        r, t = flat[i % len(flat)]
        tracker.observe(row0, kcs[r, t][None, :], y[r, t][None])

    report.update_ms_p50, report.update_ms_p95 = _latencies(one, min(2000, len(flat)))
    report.peak_rss_mb = _peak_rss_mb()


def _open_loop_psikt(
    model: Any,
    items: np.ndarray,
    kcs: np.ndarray,
    y: np.ndarray,
    times: np.ndarray,
    mask: np.ndarray,
    LearnerStates: Any,
    observe: Any,
    practise: Any,
) -> tuple[float | None, int]:
    total = OPEN_LOOP_OBSERVED + OPEN_LOOP_PREDICTED
    rows_all = _open_loop_rows(mask)
    if len(rows_all) == 0:
        return None, 0
    states = LearnerStates.new(model, np.tile(model.population_traits(), (len(rows_all), 1)))
    local = np.arange(len(rows_all))
    for t in range(OPEN_LOOP_OBSERVED):
        observe(
            model,
            states,
            local,
            kcs[rows_all, t],
            model.item_offset[items[rows_all, t]],
            y[rows_all, t],
            times[rows_all, t],
        )
    hits = []
    for t in range(OPEN_LOOP_OBSERVED, total):
        # Unseen answers still count as practice (their expected gain), as BKT's open loop does.
        p = practise(model, states, local, kcs[rows_all, t], model.item_offset[items[rows_all, t]], times[rows_all, t])
        hits.append((p >= 0.5) == (y[rows_all, t] > 0))
    return float(np.mean(hits)), int(np.size(hits))


def run_bkt(train: Dataset, test: Dataset, *, timed: bool) -> ModelReport:
    report = ModelReport("bkt")
    t0 = time.perf_counter()
    params = fit_bkt(train)
    report.fit_seconds = time.perf_counter() - t0
    n_kcs = params.n_kcs
    items, kcs, y, _, mask = _padded_steps(test, n_kcs)
    tracker = BKTTracker(params, len(test.seqs))
    preds = np.zeros_like(y)
    for t in range(items.shape[1]):
        rows = np.nonzero(mask[:, t])[0]
        preds[rows, t] = tracker.observe(rows, kcs[rows, t], y[rows, t])
    _score(report, y[mask], preds[mask])
    _score_after_first(report, y, preds, mask)
    if timed:
        total = OPEN_LOOP_OBSERVED + OPEN_LOOP_PREDICTED
        rows_all = _open_loop_rows(mask)
        if len(rows_all):
            tr = BKTTracker(params, len(rows_all))
            local = np.arange(len(rows_all))
            for t in range(OPEN_LOOP_OBSERVED):
                tr.observe(local, kcs[rows_all, t], y[rows_all, t])
            hits = []
            for t in range(OPEN_LOOP_OBSERVED, total):
                hits.append((tr.predict(local, kcs[rows_all, t]) >= 0.5) == (y[rows_all, t] > 0))
                tr.practise(local, kcs[rows_all, t])
            report.open_loop_accuracy, report.open_loop_n = float(np.mean(hits)), int(np.size(hits))
    _tracker_latency(report, BKTTracker(params, 1), kcs, y, mask)
    return report


def run_dkt(train: Dataset, test: Dataset, *, timed: bool, seed: int) -> ModelReport:
    """Deep Knowledge Tracing (an LSTM; ``tracing/benchmarks/baselines/dkt.py``), the deep reference."""
    from tracing.benchmarks.baselines.dkt import DKTConfig, DKTTracker, fit_dkt, predict

    report = ModelReport("dkt")
    config = DKTConfig(seed=seed)

    def progress(epoch: int, score: float) -> None:
        print(f"  dkt epoch {epoch} validation AUC {score:.4f}", file=sys.stderr)

    result = fit_dkt(train, config, progress=progress)
    report.fit_seconds = result.seconds
    net = result.net
    n_kcs = net.n_kcs
    _, kcs, y, _, mask = _padded_steps(test, n_kcs)
    preds = np.zeros_like(y)
    for i, p in enumerate(predict(net, test.seqs)):
        preds[i, : len(p)] = p
    _score(report, y[mask], preds[mask])
    _score_after_first(report, y, preds, mask)
    if timed:
        total = OPEN_LOOP_OBSERVED + OPEN_LOOP_PREDICTED
        rows_all = _open_loop_rows(mask)
        if len(rows_all):
            tracker = DKTTracker(net, len(rows_all))
            local = np.arange(len(rows_all))
            for t in range(OPEN_LOOP_OBSERVED):
                tracker.observe(local, kcs[rows_all, t], y[rows_all, t])
            # No answer is read in: every prediction comes from the state after the observed ten.
            hits = [
                (tracker.predict(local, kcs[rows_all, t]) >= 0.5) == (y[rows_all, t] > 0)
                for t in range(OPEN_LOOP_OBSERVED, total)
            ]
            report.open_loop_accuracy, report.open_loop_n = float(np.mean(hits)), int(np.size(hits))
    _tracker_latency(report, DKTTracker(net, 1), kcs, y, mask)
    report.extra.update(epochs=result.epochs, best_epoch=result.best_epoch, val_auc=result.val_auc)
    report.note = (
        f"DKT (Piech et al. 2015): LSTM with {net.hidden} units over (KC, answer) pairs, trained on windows of "
        f"{config.window} answers, epoch {result.best_epoch} of {result.epochs} kept by the AUC of "
        f"{config.val_fraction:.0%} held-out training learners; a reference only (no traits, no real-time "
        "forgetting, no graph)"
    )
    return report


def run_pybkt(train: Dataset, test: Dataset, *, python: str | None = None) -> ModelReport:
    """pyBKT 1.4.3 in its own environment (it needs numpy<2), scored here like the other models."""
    from tracing.benchmarks.baselines import pybkt_bridge

    report = ModelReport("pybkt")
    interpreter = pybkt_bridge.find_python(python)
    if interpreter is None:
        report.note = (
            f"skipped: no pyBKT environment; create it with `bash {pybkt_bridge.SETUP_SCRIPT}` "
            "(or give --pybkt-python / PYBKT_PYTHON)"
        )
        return report
    try:
        result = pybkt_bridge.run_pybkt_worker(interpreter, train, test)
    except pybkt_bridge.PybktError as exc:
        report.note = f"failed: {exc}"
        return report
    # The bridge returns predictions in the learner-major order of the padded mask, as run_bkt scores.
    _, _, y, _, mask = _padded_steps(test, len(test.kcs))
    preds = np.zeros_like(y)
    preds[mask] = result.preds
    _score(report, y[mask], preds[mask])
    _score_after_first(report, y, preds, mask)
    report.fit_seconds = result.info["fit_seconds"]
    report.peak_rss_mb = result.info["peak_rss_mb"]
    report.extra.update(result.info, wall_seconds=result.wall_seconds, answers_unfitted=result.n_unfitted)
    report.note = (
        f"pyBKT {result.info['versions']['pyBKT']} via {interpreter}, its defaults (best of "
        f"{result.info['num_fits']} EM fits, no forgetting); batch prediction, so no update latency; "
        f"a multi-KC answer is one row per KC, predicted by their mean (as our bkt); "
        f"{result.n_unfitted} answers on KCs absent from training predicted 0.5 (pyBKT's default)"
    )
    return report


def _scored(reports: list[ModelReport]) -> list[tuple[ModelReport, np.ndarray]]:
    """The reports that predicted the test answers, with their predictions."""
    return [(r, r.preds) for r in reports if r.preds is not None]


def run_ensemble(reports: list[ModelReport], test: Dataset) -> ModelReport:
    """The mean logit of the scored models' predictions, scored like a model. A diagnostic, not a
    tracker: when the average beats each of its members, each member reads something in the history
    that the others miss, which tells how much a single model of either kind leaves on the table."""
    scored = _scored(reports)
    report = ModelReport("+".join(r.name for r, _ in scored) or "ensemble")
    if len(scored) < 2:
        report.note = "skipped: --ensemble needs two or more models that predicted the test answers"
        return report
    _, _, y, _, mask = _padded_steps(test, len(test.kcs))
    p = np.clip(np.stack([preds for _, preds in scored]), 1e-7, 1 - 1e-7)
    preds = np.zeros_like(y)
    preds[mask] = 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)).mean(0)))
    _score(report, y[mask], preds[mask])
    _score_after_first(report, y, preds, mask)
    report.fit_seconds = sum(r.fit_seconds for r, _ in scored)
    report.note = (
        f"diagnostic: the mean logit of {', '.join(r.name for r, _ in scored)}; fit seconds are their sum; "
        "not a learner model of its own (no online tracker, no latency)"
    )
    return report


def write_predictions(path: str, test: Dataset, reports: list[ModelReport]) -> int:
    """Every test answer with each model's p(correct) before it, as CSV; returns the rows written.
    The order is the test learners' in the log, then the position in each learner's sequence."""
    scored = _scored(reports)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["learner", "position", "kcs", "correct", *(f"p_{r.name}" for r, _ in scored)])
        row = 0
        for seq in test.seqs:
            learner = test.learners[seq.learner]
            for t in range(len(seq)):
                kcs = "_".join(test.kcs[k] for k in seq.kcs[t] if k >= 0)
                out.writerow([learner, t, kcs, int(seq.correct[t]), *(f"{float(c[row]):.10g}" for _, c in scored)])
                row += 1
    return row


def run_recovery(
    *,
    seed: int,
    steps: int,
    n_learners: int,
    n_answers: int,
    n_kcs: int,
    practice_gain: tuple[float, float] = (0.0, 0.0),
    gap_spread: float = 0.0,
    edges_per_kc: float = 1.5,
    sigma_spread: float | None = None,
) -> dict[str, Any]:
    """Simulate learners with known traits and graph, fit, and compare with the truth.

    ``practice_gain`` (after a wrong, a correct answer) makes simulated practice raise knowledge;
    ``gap_spread`` mixes short and long breaks between sessions; ``edges_per_kc`` sets how much
    prerequisite structure there is (the prerequisite sensitivity acts only through edges);
    ``sigma_spread`` is the population's sd of log sigma (default: the simulator's).

    A correlation depends on how widely the population spreads a trait as well as on how well it is
    estimated, so the report also gives each trait's true spread and the RMSE of its estimate."""
    from tracing.benchmarks.simulate import Population, make_items, random_graph, random_policy, simulate
    from tracing.psikt.fit import FitConfig, fit

    rng = np.random.default_rng(seed)
    graph = random_graph(n_kcs, round(n_kcs * edges_per_kc), rng)
    items = make_items(n_kcs, 3, rng)
    population = Population()
    if sigma_spread is not None:
        population.log_sigma = (population.log_sigma[0], sigma_spread)
    sim = simulate(
        graph,
        n_learners,
        items,
        n_answers=n_answers,
        seed=seed,
        policy=random_policy(items, gap_spread=gap_spread),
        practice_gain=practice_gain,
        population=population,
    )
    truth = graph.matrix()
    # The teacher's graph is imperfect: a third of the true edges are missing, as many wrong ones
    # are drawn, so edge recovery has to come from the data.
    true_edges = [(j, k) for j, k, _ in graph.edges]
    n_drop = len(true_edges) // 3
    drop = set(rng.choice(len(true_edges), size=n_drop, replace=False).tolist())
    teacher = [(graph.kcs[j], graph.kcs[k], 1.0) for i, (j, k) in enumerate(true_edges) if i not in drop]
    absent = [(j, k) for j in range(n_kcs) for k in range(n_kcs) if j != k and truth[j, k] == 0]
    for c in rng.choice(len(absent), size=n_drop, replace=False):
        j, k = absent[c]
        teacher.append((graph.kcs[j], graph.kcs[k], 1.0))
    result = fit(
        sim.dataset,
        prior_edges=teacher,
        config=FitConfig(steps=steps, seed=seed, max_prereq_candidates=n_kcs - 1),
    )
    p = result.params
    order = [p.index("learners")[key] for key in sim.dataset.learners]
    loc = p.learner_loc[order]
    true = np.array(
        [[math.log(t.alpha), t.mu, math.log(t.sigma), math.log(t.gamma / (1 - t.gamma))] for t in sim.traits]
    )
    est = np.column_stack([loc[:, 0], p.mu_mean[order], loc[:, 1], loc[:, 2]])
    names = ["log_alpha", "mu", "log_sigma", "logit_gamma"]
    corr = {n: float(np.corrcoef(true[:, i], est[:, i])[0, 1]) for i, n in enumerate(names)}
    rmse = {n: float(np.sqrt(np.mean((true[:, i] - est[:, i]) ** 2))) for i, n in enumerate(names)}
    spread = {n: float(true[:, i].std()) for i, n in enumerate(names)}
    w = p.strengths()
    off = ~np.eye(n_kcs, dtype=bool)
    teacher_set = {(graph.kcs.index(a), graph.kcs.index(b)) for a, b, _ in teacher}
    disputed = np.zeros_like(off)
    for j in range(n_kcs):
        for k in range(n_kcs):
            if j != k and ((j, k) in teacher_set) != (truth[j, k] > 0):
                disputed[j, k] = True
    gains = p.gains()
    return {
        "n_learners": n_learners,
        "n_answers_each": n_answers,
        "n_kcs": n_kcs,
        "n_true_edges": len(true_edges),
        "gap_spread": gap_spread,
        "practice_gain_true": list(practice_gain),
        "practice_gain_fitted_mean": [float(x) for x in gains.mean(0)],
        "fit_seconds": result.seconds,
        "trait_correlation": corr,
        "trait_rmse": rmse,
        "trait_true_sd": spread,
        "edge_auc_all_pairs": auc(truth[off] > 0, w[off]),
        "edge_auc_teacher_prior_only": auc(
            truth[off] > 0,
            np.array([(j, k) in teacher_set for j in range(n_kcs) for k in range(n_kcs) if j != k], dtype=float),
        ),
        "edge_auc_disputed_pairs": auc(truth[disputed] > 0, w[disputed]) if disputed.any() else None,
        "population": p.population,
    }


def run_predict_latency(*, n_kcs: int, seed: int, repeats: int = 200) -> dict[str, Any]:
    """Time one learner's forecast over every KC of a large course (the progress page and the
    planner ask for this): a model with ``n_kcs`` KCs, as many learned prerequisites each as a fit
    keeps (``FitConfig.max_prereq_candidates``), 5 items per KC,
    and a learner who has already answered 2 items per KC, so every state is a practised one. The
    model carries a history encoder of the default size (random weights: the cost is the same), and
    the answers' update latency is timed as well."""
    from tracing.psikt.encoder import Encoder, EncoderConfig
    from tracing.psikt.fit import FitConfig
    from tracing.psikt.online import LearnerStates, OnlineModel, forecast, observe
    from tracing.psikt.params import PsiktParams

    rng = np.random.default_rng(seed)
    width = FitConfig().max_prereq_candidates
    edge_index = np.full((n_kcs, width), -1, dtype=np.int64)
    for k in range(1, n_kcs):
        pre = rng.choice(k, size=min(width, k), replace=False)
        edge_index[k, : len(pre)] = pre
    n_items = 5 * n_kcs
    params = PsiktParams(
        kcs=[f"kc{k}" for k in range(n_kcs)],
        items=[f"item{i}" for i in range(n_items)],
        learners=[],
        item_kcs=[[i % n_kcs] for i in range(n_items)],
        population={
            "mu_loc": 0.5,
            "mu_scale": 0.7,
            "item_scale": 0.8,
            "log_alpha_loc": -2.0,
            "log_sigma_loc": -0.5,
            "logit_gamma_loc": -1.0,
            "log_alpha_scale": 0.4,
            "log_sigma_scale": 0.4,
            "logit_gamma_scale": 0.4,
        },
        item_offset=rng.normal(0, 0.8, n_items),
        item_offset_sd=np.full(n_items, 0.1),
        edge_index=edge_index,
        edge_logit=rng.normal(-1.0, 1.5, (n_kcs, width)),
        learner_loc=np.zeros((0, 3)),
        learner_sd=np.zeros((0, 3)),
        mu_mean=np.zeros(0),
        mu_sd=np.zeros(0),
        kc_gain=np.column_stack([rng.normal(0.2, 0.1, n_kcs), rng.normal(0.5, 0.2, n_kcs)]),
    )
    enc = EncoderConfig()
    m, h = enc.members, enc.hidden

    def weights(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.1, shape)

    encoder = Encoder(
        embed=weights(m, 2 * n_kcs + 1, h),
        feat_w=weights(m, h, 2),
        feat_b=weights(m, h),
        w_ih=weights(m, 4 * h, h),
        w_hh=weights(m, 4 * h, h),
        b=weights(m, 4 * h),
        out_w=weights(m, n_kcs, h),
        out_b=weights(m, n_kcs),
    )
    model = replace(OnlineModel.from_params(params), encoder=encoder)
    st = LearnerStates.new(model, model.population_traits()[None, :])
    row0 = np.zeros(1, dtype=np.int64)
    updates = []
    for step, item in enumerate(rng.permutation(np.arange(2 * n_kcs))):
        t0 = time.perf_counter()
        observe(
            model,
            st,
            row0,
            np.array([[item % n_kcs]]),
            model.item_offset[[item]],
            np.array([float(rng.random() < 0.6)]),
            np.array([float(step)]),
        )
        updates.append((time.perf_counter() - t0) * 1000.0)
    kcs = np.arange(n_kcs)
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        forecast(model, st, 0, kcs, 2.0 * n_kcs + i)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "n_kcs": n_kcs,
        "repeats": repeats,
        "forecast_ms_p50": float(np.percentile(times, 50)),
        "forecast_ms_p95": float(np.percentile(times, 95)),
        "forecast_ms_max": float(np.max(times)),
        "update_ms_p50": float(np.percentile(updates, 50)),
        "update_ms_p95": float(np.percentile(updates, 95)),
        "encoder": f"{m} x {h} units",
    }


def _table(reports: list[ModelReport]) -> str:
    width = max([8, *(len(r.name) + 2 for r in reports)])
    head = (
        f"{'model':<{width}}{'answers':>9}{'AUC':>8}{'acc':>8}{'logloss':>9}{'open10':>8}"
        f"{'fit s':>8}{'upd p50':>9}{'upd p95':>9}{'RSS MB':>8}"
    )
    lines = [head, "-" * len(head)]

    def ms(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:.3f}m"

    for r in reports:
        if r.note and r.n_test_answers == 0:
            lines.append(f"{r.name:<{width}}{r.note}")
            continue
        ol = f"{r.open_loop_accuracy:.4f}" if r.open_loop_accuracy is not None else "-"
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else "-"
        lines.append(
            f"{r.name:<{width}}{r.n_test_answers:>9}{r.auc:>8.4f}{r.accuracy:>8.4f}{r.log_loss:>9.4f}{ol:>8}"
            f"{r.fit_seconds:>8.1f}{ms(r.update_ms_p50):>9}{ms(r.update_ms_p95):>9}{rss:>8}"
        )
    return "\n".join(lines)


def _pair(text: str) -> tuple[float, float]:
    wrong, correct = (float(x) for x in text.split(","))
    return wrong, correct


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracing.benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=["pykt", "tsv"])
    parser.add_argument("file", nargs="?", help="TSV log (with --format tsv)")
    parser.add_argument("--train")
    parser.add_argument("--test")
    parser.add_argument("--models", default="psikt,bkt,pybkt")
    parser.add_argument("--pybkt-python", help="Python of the pyBKT env (else $PYBKT_PYTHON, .venv-pybkt)")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument(
        "--ensemble",
        action="store_true",
        help="Also score the mean logit of the models' predictions (a diagnostic of what each model misses)",
    )
    parser.add_argument("--predictions", help="Write every test answer with each model's prediction to this CSV")
    parser.add_argument("--max-learners", type=int, default=None)
    parser.add_argument("--steps", type=int, default=600, help="SVI steps (minibatches) for PSI-KT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-fit-seconds", type=float, default=None, help="Stop the PSI-KT fit early")
    parser.add_argument("--window", type=int, default=None, help="PSI-KT: answers per training window")
    parser.add_argument("--batch-windows", type=int, default=None, help="PSI-KT: windows per SVI step")
    parser.add_argument("--lr", type=float, default=None, help="PSI-KT: Adam learning rate")
    parser.add_argument(
        "--no-encoder", action="store_true", help="PSI-KT without the history encoder (the filter alone)"
    )
    parser.add_argument(
        "--mu-drift",
        default="",
        help="PSI-KT: also score the filter with the learner's level μ drifting by each of these "
        "variances per answer (comma-separated, e.g. 0,0.002,0.01), against the fixed μ",
    )
    parser.add_argument("--recovery", action="store_true")
    parser.add_argument("--recovery-learners", type=int, default=400)
    parser.add_argument("--recovery-answers", type=int, default=150)
    parser.add_argument("--recovery-kcs", type=int, default=10)
    parser.add_argument(
        "--recovery-gain",
        default="0,0",
        help="Simulated practice gain of a KC's state after a wrong,correct answer (e.g. 0.1,0.3)",
    )
    parser.add_argument(
        "--recovery-gap-spread", type=float, default=0.0, help="Log-sd of the mean break between sessions"
    )
    parser.add_argument("--recovery-edges-per-kc", type=float, default=1.5)
    parser.add_argument(
        "--recovery-sigma-spread", type=float, default=None, help="Population sd of log sigma (default 0.3)"
    )
    parser.add_argument(
        "--predict-kcs", type=int, default=None, help="Time one learner's forecast over this many KCs (e.g. 1000)"
    )
    args = parser.parse_args(argv)
    # Output paths are checked before a fit that may take minutes, not after it.
    for flag, path in (("--json", args.json_out), ("--predictions", args.predictions)):
        if path and not Path(path).resolve().parent.is_dir():
            parser.error(f"{flag} {path}: the folder {Path(path).resolve().parent} does not exist")
    out: dict[str, Any] = {"argv": sys.argv[1:] if argv is None else argv}

    if args.predict_kcs:
        lat = run_predict_latency(n_kcs=args.predict_kcs, seed=args.seed)
        out["predict_latency"] = lat
        print(
            f"forecast of {lat['n_kcs']} KCs for one learner over {lat['repeats']} calls: "
            f"p50 {lat['forecast_ms_p50']:.2f} ms, p95 {lat['forecast_ms_p95']:.2f} ms, "
            f"max {lat['forecast_ms_max']:.2f} ms; an answer's update p50 {lat['update_ms_p50']:.2f} ms, "
            f"p95 {lat['update_ms_p95']:.2f} ms (history encoder {lat['encoder']})"
        )
    elif args.recovery:
        rec = run_recovery(
            seed=args.seed,
            steps=args.steps,
            n_learners=args.recovery_learners,
            n_answers=args.recovery_answers,
            n_kcs=args.recovery_kcs,
            practice_gain=_pair(args.recovery_gain),
            gap_spread=args.recovery_gap_spread,
            edges_per_kc=args.recovery_edges_per_kc,
            sigma_spread=args.recovery_sigma_spread,
        )
        out["recovery"] = rec
        print(json.dumps(rec, indent=2))
    elif args.format:
        if args.format == "pykt":
            if not (args.train and args.test):
                parser.error("--format pykt needs --train and --test")
            both = load_pykt_csv([args.train, args.test], max_learners=args.max_learners)
            test, train = split_by_source(both, Path(args.test).stem)
            timed = False
        else:
            if not args.file:
                parser.error("--format tsv needs a FILE")
            data = load_tsv(args.file, max_learners=args.max_learners)
            train, test = split_learners(data, test_fraction=0.2, seed=args.seed)
            timed = True
        out["data"] = {
            "train_learners": len(train.seqs),
            "train_answers": train.n_observations,
            "test_learners": len(test.seqs),
            "test_answers": test.n_observations,
            "kcs": len(train.kcs),
            "items": len(train.items),
        }
        print(f"data: {out['data']}", file=sys.stderr)
        reports = []
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            print(f"running {name} ...", file=sys.stderr)
            if name == "psikt":
                reports.append(
                    run_psikt(
                        train,
                        test,
                        steps=args.steps,
                        timed=timed,
                        seed=args.seed,
                        max_seconds=args.max_fit_seconds,
                        encoder=not args.no_encoder,
                        window=args.window,
                        batch_windows=args.batch_windows,
                        lr=args.lr,
                        mu_drifts=[float(x) for x in args.mu_drift.split(",") if x.strip()],
                    )
                )
            elif name == "bkt":
                reports.append(run_bkt(train, test, timed=timed))
            elif name == "pybkt":
                reports.append(run_pybkt(train, test, python=args.pybkt_python))
            elif name == "dkt":
                reports.append(run_dkt(train, test, timed=timed, seed=args.seed))
            else:
                parser.error(f"unknown model {name!r}")
        members = list(reports)
        if args.ensemble:
            reports.append(run_ensemble(members, test))
        print(_table(reports))
        for r in reports:
            if r.note:
                print(f"note ({r.name}): {r.note}")
        out["models"] = [r.summary() for r in reports]
        if args.predictions:
            rows = write_predictions(args.predictions, test, members)
            print(f"predictions: {rows} test answers written to {args.predictions}", file=sys.stderr)
    else:
        parser.error("give --format, --recovery or --predict-kcs")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(out, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
