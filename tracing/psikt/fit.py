"""Fitting: minibatch SVI over learners, warm-started from a previous fit, and the fitted parameters
as a plain, JSON-serialisable object that the online filter and the Django side read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyro
import torch

from tracing.psikt.data import Dataset, LearnerSeq
from tracing.psikt.encoder import EncoderConfig
from tracing.psikt.guide import POSITIVE_SITES, REAL_SITES, PsiktGuide
from tracing.psikt.model import (
    ModelSpec,
    PopulationPrior,
    PsiktModel,
    TensorBatch,
    candidate_prior,
    run_filter,
)
from tracing.psikt.params import PsiktParams

ProgressCallback = Callable[[int, int, float], None]  # (step, total steps, loss per answer)


@dataclass
class FitConfig:
    steps: int = 300
    batch_learners: int = 256
    # Caps learners x padded length per batch, which bounds autograd memory for long sequences.
    batch_answers: int = 40_000
    lr: float = 0.03
    seed: int = 0
    # Learnable prerequisites per KC (teacher edges plus the KCs most often practised before it):
    # keeps a filter step O(D) instead of O(K) and the edge count linear in the number of KCs. On
    # ASSISTments 2015 (100 KCs) next-answer AUC was 0.7224 / 0.7233 / 0.7248 / 0.7254 / 0.7257 with
    # 2 / 8 / 24 / 48 / all 99 candidates.
    max_prereq_candidates: int = 48
    max_seconds: float | None = None
    # The history encoder trained after SVI (``tracing.psikt.encoder``); None: the filter alone.
    encoder: EncoderConfig | None = field(default_factory=EncoderConfig)


@dataclass
class FitResult:
    params: PsiktParams
    losses: list[float]  # negative ELBO per answer, one per step
    seconds: float
    steps: int
    # Whether the encoder was kept, and its held-out figures (empty when none was configured).
    encoder: dict[str, Any] = field(default_factory=dict)


def make_batches(
    seqs: Sequence[LearnerSeq],
    learner_pos: Sequence[int],
    n_kcs: int,
    *,
    batch_learners: int,
    batch_answers: int,
    plate_size: int | None = None,
) -> list[TensorBatch]:
    """Pad sequences of similar length together so little compute goes to padding."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = max(len(seqs[i]), 1)
        if current and (len(current) >= batch_learners or (len(current) + 1) * longest > batch_answers):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    batches = [_tensorise([seqs[i] for i in g], [learner_pos[i] for i in g], n_kcs) for g in groups]
    for batch, group in zip(batches, groups, strict=True):
        # pyro scales by plate_size / len(group); together: every batch stands for all learners.
        batch.local_scale = len(groups) * len(group) / max(plate_size or len(seqs), 1)
    return batches


def _tensorise(seqs: Sequence[LearnerSeq], pos: Sequence[int], n_kcs: int) -> TensorBatch:
    bsz = len(seqs)
    n_steps = max(max(len(s) for s in seqs), 1)
    width = max(s.kcs.shape[1] for s in seqs)
    items = np.zeros((bsz, n_steps), dtype=np.int64)
    kcs = np.full((bsz, n_steps, width), n_kcs, dtype=np.int64)
    y = np.zeros((bsz, n_steps), dtype=np.float32)
    times = np.zeros((bsz, n_steps), dtype=np.float32)
    mask = np.zeros((bsz, n_steps), dtype=bool)
    for b, s in enumerate(seqs):
        n = len(s)
        items[b, :n] = s.items
        kc = s.kcs.copy()
        kc[kc < 0] = n_kcs
        kcs[b, :n, : kc.shape[1]] = kc
        y[b, :n] = s.correct
        # Times relative to the learner's first answer keep float32 precise for epoch-based clocks.
        if n:
            times[b, :n] = s.times - s.times[0]
            times[b, n:] = times[b, n - 1]
        mask[b, :n] = True
    real = kcs < n_kcs
    count = np.maximum(real.sum(-1, keepdims=True), 1)
    weights = real / count
    return TensorBatch(
        idx=torch.as_tensor(np.asarray(pos, dtype=np.int64)),
        items=torch.as_tensor(items),
        kcs=torch.as_tensor(kcs),
        weights=torch.as_tensor(weights.astype(np.float32)),
        y=torch.as_tensor(y),
        times=torch.as_tensor(times),
        mask=torch.as_tensor(mask),
    )


def default_prior(dataset: Dataset) -> PopulationPrior:
    """Population prior with the forgetting rate's location set from the data's own clock.

    The time unit differs between logs (answers, days), so the initial forgetting rate is chosen so
    that half of a state's deviation survives the typical (75th percentile) gap between two
    practices of the same KC; the fit moves it from there.
    """
    gaps: list[np.ndarray] = []
    for s in dataset.seqs[:2000]:
        first = s.kcs[:, 0]
        order = np.lexsort((s.times, first))
        same = first[order][1:] == first[order][:-1]
        gaps.append(np.diff(s.times[order])[same])
    flat = np.concatenate(gaps) if gaps else np.zeros(0)
    flat = flat[flat > 0]
    typical = float(np.percentile(flat, 75)) if flat.size else 1.0
    return PopulationPrior(log_alpha_loc=math.log(math.log(2.0) / typical))


def candidate_prereqs(dataset: Dataset, teacher: Iterable[tuple[int, int]], max_candidates: int) -> np.ndarray:
    """``[K, D]`` candidate prerequisites per KC (-1 padded): teacher edges, then the KCs that
    learners most often start before it. Prerequisites are usually practised first, so this ranks
    plausible edges without looking at correctness."""
    n_kcs = len(dataset.kcs)
    width = max(1, min(max_candidates, n_kcs - 1))
    before = np.zeros((n_kcs, n_kcs))
    for s in dataset.seqs:
        flat = s.kcs[s.kcs >= 0]
        _, first = np.unique(flat, return_index=True)
        order = flat[np.sort(first)]
        if len(order) > 1:
            # Every KC started earlier counts once as a possible prerequisite of the later one.
            rank = np.empty(n_kcs, dtype=np.int64)
            rank[order] = np.arange(len(order))
            j, k = np.meshgrid(order, order, indexing="ij")
            keep = rank[j] < rank[k]
            np.add.at(before, (j[keep], k[keep]), 1.0)
    teacher_by_dep: dict[int, list[int]] = {}
    for j, k in teacher:
        if j != k:
            teacher_by_dep.setdefault(k, []).append(j)
    out = np.full((n_kcs, width), -1, dtype=np.int64)
    for k in range(n_kcs):
        chosen = list(dict.fromkeys(teacher_by_dep.get(k, [])))
        scores = before[:, k].copy()
        scores[k] = -1.0
        for j in np.argsort(-scores, kind="stable"):
            if len(chosen) >= width:
                break
            if j != k and j not in chosen:
                chosen.append(int(j))
        # Teacher edges are never dropped, even past the cap.
        if len(chosen) > out.shape[1]:
            out = np.pad(out, ((0, 0), (0, len(chosen) - out.shape[1])), constant_values=-1)
        out[k, : len(chosen)] = chosen
    return out


def fit(
    dataset: Dataset,
    *,
    prior_edges: Iterable[tuple[str, str, float]] = (),
    item_prior: dict[str, float] | None = None,
    config: FitConfig | None = None,
    warm_start: PsiktParams | None = None,
    progress: ProgressCallback | None = None,
    encoder_progress: Callable[[int, int, float, float], None] | None = None,
) -> FitResult:
    """Fit the model to ``dataset`` with SVI; ``prior_edges`` is the teacher's graph as KC keys.
    Then, unless ``config.encoder`` is None, train the history encoder on the fitted model
    (``encoder_progress(member, epoch, held-out log-loss, the filter's)`` after each epoch)."""
    config = config or FitConfig()
    started = time.perf_counter()
    threads = torch.get_num_threads()
    # Every filter step works on small tensors, so intra-op threads only add OpenMP barriers; on a
    # shared machine those barriers made steps 30-60x slower than one thread (measured).
    torch.set_num_threads(1)
    try:
        result = _fit(dataset, prior_edges, item_prior, config, warm_start, progress, started)
    finally:
        torch.set_num_threads(threads)
    if config.encoder is not None:
        from tracing.psikt.encoder_fit import fit_encoder
        from tracing.psikt.online import OnlineModel

        encoder, result.encoder = fit_encoder(
            OnlineModel.from_params(result.params), dataset, config.encoder, progress=encoder_progress
        )
        result.params.encoder = encoder.to_dict() if encoder is not None else None
        result.seconds = time.perf_counter() - started
    return result


def _fit(
    dataset: Dataset,
    prior_edges: Iterable[tuple[str, str, float]],
    item_prior: dict[str, float] | None,
    config: FitConfig,
    warm_start: PsiktParams | None,
    progress: ProgressCallback | None,
    started: float,
) -> FitResult:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    kc_index = {k: i for i, k in enumerate(dataset.kcs)}
    n_kcs = len(dataset.kcs)
    teacher = {(kc_index[j], kc_index[k]): s for j, k, s in prior_edges if j in kc_index and k in kc_index}
    cand = candidate_prereqs(dataset, teacher, config.max_prereq_candidates)
    cand_index = torch.as_tensor(np.where(cand >= 0, cand, n_kcs))
    cand_loc, cand_scale = candidate_prior(n_kcs, cand_index, teacher)
    item_prior = item_prior or {}
    spec = ModelSpec(
        n_learners=len(dataset.learners),
        n_items=len(dataset.items),
        n_kcs=n_kcs,
        item_prior_loc=torch.tensor([float(item_prior.get(i, 0.0)) for i in dataset.items]),
        cand_index=cand_index,
        cand_prior_loc=cand_loc,
        cand_prior_scale=cand_scale,
        prior=default_prior(dataset),
    )
    seqs = [s for s in dataset.seqs if len(s)]
    batches = make_batches(
        seqs,
        [s.learner for s in seqs],
        spec.n_kcs,
        batch_learners=config.batch_learners,
        batch_answers=config.batch_answers,
        plate_size=spec.n_learners,
    )
    n_answers = max(sum(len(s) for s in seqs), 1)
    losses: list[float] = []
    # Module-local parameters: this fit's parameters live in its own modules, never in pyro's global
    # param store, so concurrent or successive fits cannot leak state into each other.
    with pyro.settings.context(module_local_params=True):
        model = PsiktModel(spec)
        guide = PsiktGuide(spec)
        if warm_start is not None:
            _warm_start(guide, warm_start, dataset)
        elbo = pyro.infer.Trace_ELBO()(model, guide)
        if batches:
            elbo(batches[0])  # materialise parameters
            optim = torch.optim.Adam(elbo.parameters(), lr=config.lr)
            order: list[int] = []
            step = 0
            for step in range(config.steps):
                if not order:
                    order = rng.permutation(len(batches)).tolist()
                batch = batches[order.pop()]
                optim.zero_grad()
                loss = elbo(batch) / n_answers
                loss.backward()
                torch.nn.utils.clip_grad_norm_(elbo.parameters(), 10.0)
                optim.step()
                losses.append(float(loss.detach()))
                if progress is not None:
                    progress(step + 1, config.steps, losses[-1])
                if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
                    break
        params = _extract(guide, dataset, batches)
    return FitResult(params=params, losses=losses, seconds=time.perf_counter() - started, steps=len(losses))


def _warm_start(guide: PsiktGuide, previous: PsiktParams, dataset: Dataset) -> None:
    """Copy a previous fit's estimates for every learner, item, KC pair and population scalar."""
    with torch.no_grad():
        for name in (*REAL_SITES, *POSITIVE_SITES):
            if name in previous.population:
                _set_population(guide, name, previous.population[name])
        items = previous.index("items")
        for i, key in enumerate(dataset.items):
            if key in items:
                guide.item_loc[i] = float(previous.item_offset[items[key]])  # type: ignore[index]
                guide.item_sd[i] = float(max(previous.item_offset_sd[items[key]], 1e-3))  # type: ignore[index]
        learners = previous.index("learners")
        for i, key in enumerate(dataset.learners):
            if key in learners:
                guide.learner_loc[i] = torch.as_tensor(previous.learner_loc[learners[key]])  # type: ignore[index]
                guide.learner_sd[i] = torch.as_tensor(np.maximum(previous.learner_sd[learners[key]], 1e-3))  # type: ignore[index]
        kcs = previous.index("kcs")
        old_gains = previous.gains()
        for k, key in enumerate(dataset.kcs):
            if key in kcs:
                guide.gain_loc[k] = torch.as_tensor(old_gains[kcs[key]])  # type: ignore[index]
        # Edges are matched by their (prerequisite, dependent) keys, since candidates may change.
        old_logit: dict[tuple[str, str], float] = {}
        for k_old, row in enumerate(previous.edge_index):
            for d, j_old in enumerate(row):
                if j_old >= 0:
                    old_logit[(previous.kcs[j_old], previous.kcs[k_old])] = float(previous.edge_logit[k_old, d])
        cand = guide.cand_index
        for k in range(cand.shape[0]):
            for d in range(cand.shape[1]):
                j = int(cand[k, d])
                if j < len(dataset.kcs) and dataset.kcs[k] in kcs:
                    pair = (dataset.kcs[j], dataset.kcs[k])
                    if pair in old_logit:
                        guide.edge_logit_map[k, d] = old_logit[pair]  # type: ignore[index]


def _set_population(guide: PsiktGuide, name: str, value: float) -> None:
    # Assigning a tensor to a PyroParam attribute re-creates the (constrained) parameter.
    setattr(guide, "q_" + name, torch.tensor(float(value)))


def _extract(guide: PsiktGuide, dataset: Dataset, batches: list[TensorBatch]) -> PsiktParams:
    with torch.no_grad():
        population = {name: float(value) for name, value in guide.population().items()}
        learner_loc = guide.learner_loc.detach().clone()
        item_loc = guide.item_loc.detach().clone()
        edge_logit = guide.edge_logit_map.detach().clone()
        gains = guide.gain_loc.detach().clone()
        n = len(dataset.learners)
        n_kcs = len(dataset.kcs)
        mu_mean = torch.full((n,), population["mu_loc"])
        mu_sd = torch.full((n,), population["mu_scale"])
        # Replay every learner's history with the posterior-mean traits: the end state of μ is the
        # learner's fitted ability, which the online filter starts from.
        for batch in batches:
            _, _, (m, v) = run_filter(
                batch,
                learner_loc[batch.idx],
                torch.tensor(population["mu_loc"]),
                torch.tensor(population["mu_scale"]),
                item_loc,
                edge_logit,
                guide.cand_index,
                gains=gains,
            )
            mu_mean[batch.idx] = m
            mu_sd[batch.idx] = v.sqrt()
        return PsiktParams(
            kcs=list(dataset.kcs),
            items=list(dataset.items),
            learners=list(dataset.learners),
            item_kcs=[list(x) for x in dataset.item_kcs],
            population=population,
            item_offset=item_loc.numpy().astype(np.float64),
            item_offset_sd=guide.item_sd.detach().numpy().astype(np.float64),
            edge_index=torch.where(guide.cand_index < n_kcs, guide.cand_index, -1).numpy(),
            edge_logit=edge_logit.numpy().astype(np.float64),
            learner_loc=learner_loc.numpy().astype(np.float64),
            learner_sd=guide.learner_sd.detach().numpy().astype(np.float64),
            mu_mean=mu_mean.numpy().astype(np.float64),
            mu_sd=mu_sd.numpy().astype(np.float64),
            time_unit=dataset.time_unit,
            kc_gain=gains.numpy().astype(np.float64),
        )
