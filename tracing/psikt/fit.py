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
    FilterState,
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
    # SVI steps; each step is one minibatch of ``batch_windows`` windows of ``window`` answers.
    steps: int = 300
    # Every history is cut into windows of this many answers; a window starts from the filter
    # state its learner reached at the end of the previous one (carried, detached), so one step
    # loops over ``window`` time steps whatever the length of the histories, and a fit's cost grows
    # with the number of answers rather than with the longest history.
    window: int = 64
    batch_windows: int = 256
    lr: float = 0.03
    seed: int = 0
    # Learnable prerequisites per KC (teacher edges plus the KCs most often practised before it):
    # keeps a filter step O(D) instead of O(K) and the edge count linear in the number of KCs. On
    # ASSISTments 2015 (100 KCs) next-answer AUC was 0.7224 / 0.7233 / 0.7248 / 0.7254 / 0.7257 with
    # 2 / 8 / 24 / 48 / all 99 candidates.
    max_prereq_candidates: int = 48
    max_seconds: float | None = None
    # Start the population's forgetting rate where the data's likelihood is highest
    # (``profile_forgetting``) rather than at ``default_prior``'s guess from the clock alone.
    profile_forgetting: bool = True
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


@dataclass
class Windows:
    """Every learner's history cut into windows of ``length`` answers, all in one padded batch
    (``[Nw, length]``), with the filter state each window starts from."""

    batch: TensorBatch  # idx = learner position of each window
    position: torch.Tensor  # [Nw] long, the window's place in its learner's history (0 = first)
    next: torch.Tensor  # [Nw] long, the learner's next window, -1 after the last
    per_learner: torch.Tensor  # [Nw] float, how many windows its learner has
    states: FilterState  # [Nw] the state each window starts from (carried, detached)
    n_learners: int  # size of the learner plate

    def __len__(self) -> int:
        return int(self.position.shape[0])

    def take(self, rows: torch.Tensor) -> TensorBatch:
        """A minibatch of windows; its scales make every window count once per pass over all of
        them, and every learner's trait terms once in total."""
        b = self.batch
        n_windows = len(self)
        return TensorBatch(
            idx=b.idx[rows],
            items=b.items[rows],
            kcs=b.kcs[rows],
            weights=b.weights[rows],
            y=b.y[rows],
            times=b.times[rows],
            mask=b.mask[rows],
            # pyro's plate scales by n_learners / rows; with these, a window drawn with probability
            # rows / n_windows counts n_windows / rows times.
            local_scale=n_windows / self.n_learners,
            trait_scale=n_windows / (self.n_learners * self.per_learner[rows]),
            init=self.states.take(rows),
            fresh=self.position[rows] == 0,
        )


def make_windows(
    seqs: Sequence[LearnerSeq], learner_pos: Sequence[int], n_kcs: int, *, length: int, n_learners: int
) -> Windows:
    """Cut every history into windows of ``length`` answers (the last one padded). Times are
    relative to the learner's first answer, as in :func:`make_batches`, in every window."""
    width = max((s.kcs.shape[1] for s in seqs), default=1)
    counts = [max(1, -(-len(s) // length)) for s in seqs]
    n_windows = sum(counts)
    items = np.zeros((n_windows, length), dtype=np.int64)
    kcs = np.full((n_windows, length, width), n_kcs, dtype=np.int64)
    y = np.zeros((n_windows, length), dtype=np.float32)
    times = np.zeros((n_windows, length), dtype=np.float32)
    mask = np.zeros((n_windows, length), dtype=bool)
    idx = np.zeros(n_windows, dtype=np.int64)
    position = np.zeros(n_windows, dtype=np.int64)
    nxt = np.full(n_windows, -1, dtype=np.int64)
    per_learner = np.zeros(n_windows, dtype=np.float32)
    row = 0
    for s, pos, count in zip(seqs, learner_pos, counts, strict=True):
        n = len(s)
        rows = slice(row, row + count)
        padded = count * length
        it = np.zeros(padded, dtype=np.int64)
        it[:n] = s.items
        items[rows] = it.reshape(count, length)
        kc = np.full((padded, width), n_kcs, dtype=np.int64)
        kc[:n, : s.kcs.shape[1]] = np.where(s.kcs < 0, n_kcs, s.kcs)
        kcs[rows] = kc.reshape(count, length, width)
        yy = np.zeros(padded, dtype=np.float32)
        yy[:n] = s.correct
        y[rows] = yy.reshape(count, length)
        tt = np.zeros(padded, dtype=np.float32)
        if n:
            tt[:n] = s.times - s.times[0]
            tt[n:] = tt[n - 1]
        times[rows] = tt.reshape(count, length)
        mm = np.zeros(padded, dtype=bool)
        mm[:n] = True
        mask[rows] = mm.reshape(count, length)
        idx[rows] = pos
        position[rows] = np.arange(count)
        nxt[row : row + count - 1] = np.arange(row + 1, row + count)
        per_learner[rows] = count
        row += count
    real = kcs < n_kcs
    weights = real / np.maximum(real.sum(-1, keepdims=True), 1)
    batch = TensorBatch(
        idx=torch.as_tensor(idx),
        items=torch.as_tensor(items),
        kcs=torch.as_tensor(kcs),
        weights=torch.as_tensor(weights.astype(np.float32)),
        y=torch.as_tensor(y),
        times=torch.as_tensor(times),
        mask=torch.as_tensor(mask),
    )
    states = FilterState.prior(n_windows, n_kcs, torch.tensor(0.0), torch.tensor(1.0))
    return Windows(
        batch=batch,
        position=torch.as_tensor(position),
        next=torch.as_tensor(nxt),
        per_learner=torch.as_tensor(per_learner),
        states=states,
        n_learners=n_learners,
    )


@dataclass
class ReplayParams:
    """What the filter needs to replay histories: posterior means, as tensors."""

    traits: torch.Tensor  # [N, 3]
    mu_loc: torch.Tensor
    mu_scale: torch.Tensor
    item_offsets: torch.Tensor  # [I]
    edge_logit: torch.Tensor  # [K, D]
    cand_index: torch.Tensor  # [K, D]
    gains: torch.Tensor | None  # [K, G]

    @classmethod
    def from_guide(cls, guide: PsiktGuide) -> ReplayParams:
        pop = guide.population()
        return cls(
            traits=guide.learner_loc.detach(),
            mu_loc=pop["mu_loc"].detach(),
            mu_scale=pop["mu_scale"].detach(),
            item_offsets=guide.item_loc.detach(),
            edge_logit=guide.edge_logit_map.detach(),
            cand_index=guide.cand_index,
            gains=guide.gain_loc.detach(),
        )


def replay_windows(windows: Windows, params: ReplayParams, *, chunk: int = 4096) -> tuple[torch.Tensor, FilterState]:
    """Run the exact filter through every history, window after window, with no gradient; store
    the state each window starts from. Returns the rows of every learner's last window and the
    state at its end (``m``, ``v``: the learner's ability after the whole history)."""
    last_rows: list[torch.Tensor] = []
    finals: list[FilterState] = []
    with torch.no_grad():
        n_positions = int(windows.position.max()) + 1 if len(windows) else 0
        for p in range(n_positions):
            at = torch.nonzero(windows.position == p).squeeze(-1)
            for rows in at.split(chunk):
                batch = windows.take(rows)
                _, _, final = run_filter(
                    batch,
                    params.traits[batch.idx],
                    params.mu_loc,
                    params.mu_scale,
                    params.item_offsets,
                    params.edge_logit,
                    params.cand_index,
                    gains=params.gains,
                )
                nxt = windows.next[rows]
                going = nxt >= 0
                windows.states.put(nxt[going], final.take(going))
                if (~going).any():
                    last_rows.append(rows[~going])
                    finals.append(final.take(~going))
    if not last_rows:
        empty = FilterState.prior(0, windows.states.beta.shape[1] - 1, params.mu_loc, params.mu_scale)
        return torch.zeros(0, dtype=torch.long), empty
    merged = FilterState(*(torch.cat(parts) for parts in zip(*(f.fields() for f in finals), strict=True)))
    return torch.cat(last_rows), merged


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


def profile_forgetting(
    dataset: Dataset,
    spec: ModelSpec,
    *,
    learners: int = 256,
    answers: int = 512,
    factors: Sequence[float] = (1.0, 4.0, 16.0, 64.0, 256.0, 1024.0),
    min_gain: float = 1e-3,
) -> tuple[float, list[float]]:
    """The population's forgetting rate to start a fit from: of the rates ``spec.prior``'s times
    ``factors``, the one under which the filter gives the data the highest likelihood, every other
    parameter at its prior (traits at the population's locations, no practice gain), on the first
    ``answers`` answers of at most ``learners`` learners, spread over the log (one pass of the filter
    over 6 * ``learners`` rows and ``answers`` steps: 1-2 s of CPU in one thread, measured on
    the long-history set and on ASSISTments 2017).

    ``default_prior``'s rate (half a deviation survives the typical gap) is a guess from the clock
    alone; on the simulated long histories it was 36 times too slow, and a fit started there spent
    its steps with gains that stood in for the missing forgetting (log alpha recovered at r 0.15). The
    likelihood tells: the rate is what makes answers on one KC a gap apart agree or not.

    The profile may only speed the guess up (``factors`` >= 1). On ASSISTments 2015 it preferred a
    rate 4 times slower than the guess (the grid's edge, with no gains to explain practice), and a
    fit started there lowered the filter's AUC from 0.7264 to 0.7247; on ASSISTments 2017 it also
    leans slower. And it moves the guess only where the best rate is more likely by ``min_gain``
    nats per answer: on the long-history set it was by 0.058; on a log of answers that alternate
    right and wrong (tests/tracing/test_encoder.py), which no memory helps to predict, by 0.0002 for
    a rate that forgets everything between two answers, and such a start would leave the history
    encoder, whose shift fades at the forgetting rate, nothing to carry. Returns the chosen log rate
    and the log-likelihood per answer of every candidate."""
    seqs = [s for s in dataset.seqs if len(s)]
    if not seqs:
        return spec.prior.log_alpha_loc, []
    picks = np.unique(np.linspace(0, len(seqs) - 1, min(learners, len(seqs))).round().astype(int))
    heads = [seqs[i].head(answers) for i in picks]
    p = spec.prior
    rates = [p.log_alpha_loc + math.log(f) for f in factors]
    rows = [h for _ in rates for h in heads]
    batch = _tensorise(rows, list(range(len(rows))), spec.n_kcs)
    traits = torch.tensor([[r, p.log_sigma_loc, p.logit_gamma_loc] for r in rates for _ in heads])
    with torch.no_grad():
        loglik, _, _ = run_filter(
            batch,
            traits,
            torch.tensor(p.mu_loc),
            torch.tensor(p.mu_scale),
            spec.item_prior_loc,
            spec.cand_prior_loc,
            spec.cand_index,
        )
    n_answers = max(int(batch.mask.sum()) // len(rates), 1)
    per_rate = [float(x) / n_answers for x in loglik.reshape(len(rates), len(heads)).sum(-1)]
    best = int(np.argmax(per_rate))
    if per_rate[best] - per_rate[0] < min_gain:
        return rates[0], per_rate
    if 0 < best < len(rates) - 1:
        # The vertex of the parabola through the best rate and its two neighbours (in log rate):
        # the slopes of the two chords, at their midpoints, fix the derivative's zero.
        (x0, x1, x2), (f0, f1, f2) = rates[best - 1 : best + 2], per_rate[best - 1 : best + 2]
        s01, s12 = (f1 - f0) / (x1 - x0), (f2 - f1) / (x2 - x1)
        if s12 < s01:
            vertex = (x0 + x1) / 2 - s01 * (x2 - x0) / 2 / (s12 - s01)
            return float(min(max(vertex, x0), x2)), per_rate
    return rates[best], per_rate


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
    kc_index = {k: i for i, k in enumerate(dataset.kcs)}
    teacher = {(kc_index[j], kc_index[k]): s for j, k, s in prior_edges if j in kc_index and k in kc_index}
    cand = candidate_prereqs(dataset, teacher, config.max_prereq_candidates)
    spec = _spec(dataset, cand, teacher, item_prior)
    if config.profile_forgetting and warm_start is None:
        spec.prior.log_alpha_loc, _ = profile_forgetting(dataset, spec)
    seqs = [s for s in dataset.seqs if len(s)]
    windows = make_windows(
        seqs, [s.learner for s in seqs], spec.n_kcs, length=config.window, n_learners=spec.n_learners
    )
    # Module-local parameters: this fit's parameters live in its own modules, never in pyro's global
    # param store, so concurrent or successive fits cannot leak state into each other.
    with pyro.settings.context(module_local_params=True):
        model = PsiktModel(spec)
        guide = PsiktGuide(spec)
        if warm_start is not None:
            _warm_start(guide, warm_start, dataset)
        losses = _train(model, guide, windows, config, progress, started)
        params = _extract(guide, dataset, windows)
    return FitResult(params=params, losses=losses, seconds=time.perf_counter() - started, steps=len(losses))


def _spec(
    dataset: Dataset, cand: np.ndarray, teacher: dict[tuple[int, int], float], item_prior: dict[str, float] | None
) -> ModelSpec:
    n_kcs = len(dataset.kcs)
    cand_index = torch.as_tensor(np.where(cand >= 0, cand, n_kcs))
    cand_loc, cand_scale = candidate_prior(n_kcs, cand_index, teacher)
    item_prior = item_prior or {}
    return ModelSpec(
        n_learners=len(dataset.learners),
        n_items=len(dataset.items),
        n_kcs=n_kcs,
        item_prior_loc=torch.tensor([float(item_prior.get(i, 0.0)) for i in dataset.items]),
        cand_index=cand_index,
        cand_prior_loc=cand_loc,
        cand_prior_scale=cand_scale,
        prior=default_prior(dataset),
    )


def _train(
    model: PsiktModel,
    guide: PsiktGuide,
    windows: Windows,
    config: FitConfig,
    progress: ProgressCallback | None,
    started: float,
    *,
    only: Callable[[str], bool] | None = None,
    after_backward: Callable[[], None] | None = None,
) -> list[float]:
    """SVI over random minibatches of windows; returns the loss per answer of every step. ``only``
    picks the guide's parameters (by name) that move; ``after_backward`` may edit gradients."""
    rng = np.random.default_rng(config.seed)
    losses: list[float] = []
    if not len(windows):
        return losses
    n_answers = max(int(windows.batch.mask.sum()), 1)
    elbo = pyro.infer.Trace_ELBO()(model, guide)
    elbo(windows.take(torch.arange(min(2, len(windows)))))  # materialise parameters
    # Each window starts from its learner's state under the starting parameters; training then
    # carries every window's end state into the learner's next window.
    replay_windows(windows, ReplayParams.from_guide(guide))
    chosen = [p for name, p in guide.named_parameters() if only is None or only(name)]
    optim = torch.optim.Adam(chosen, lr=config.lr)
    order = torch.zeros(0, dtype=torch.long)
    for step in range(config.steps):
        if not len(order):
            order = torch.as_tensor(rng.permutation(len(windows)))
        rows, order = order[: config.batch_windows], order[config.batch_windows :]
        optim.zero_grad()
        loss = elbo(windows.take(rows)) / n_answers
        loss.backward()
        if after_backward is not None:
            after_backward()
        torch.nn.utils.clip_grad_norm_(chosen, 10.0)
        optim.step()
        assert model.final_state is not None
        nxt = windows.next[rows]
        going = nxt >= 0
        windows.states.put(nxt[going], model.final_state.take(going))
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, config.steps, losses[-1])
        if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
            break
    return losses


def refit(
    dataset: Dataset,
    previous: PsiktParams,
    *,
    learners: Iterable[str],
    prior_edges: Iterable[tuple[str, str, float]] = (),
    item_prior: dict[str, float] | None = None,
    config: FitConfig | None = None,
    progress: ProgressCallback | None = None,
) -> FitResult:
    """Continual refit after new answers: start from ``previous`` and move only what the new answers
    bear on, the traits of ``learners`` (those with new answers, new learners included) and the
    offsets of items the previous fit did not know. The population, the edges, the gains and the
    known items stay as they were; unchanged learners keep their traits and ability.

    With everything else held, this is coordinate ascent on the same ELBO as :func:`fit`: only the
    windows of these learners' histories depend on the moving parameters, so it costs their answers,
    not the course's. A full :func:`fit` now and then lets the shared parameters follow the data."""
    config = config or FitConfig()
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(config.seed)
        kc_index = {k: i for i, k in enumerate(dataset.kcs)}
        teacher = {(kc_index[j], kc_index[k]): s for j, k, s in prior_edges if j in kc_index and k in kc_index}
        spec = _spec(dataset, _previous_candidates(dataset, previous, teacher), teacher, item_prior)
        chosen = set(learners)
        seqs = [s for s in dataset.seqs if len(s) and dataset.learners[s.learner] in chosen]
        windows = make_windows(
            seqs, [s.learner for s in seqs], spec.n_kcs, length=config.window, n_learners=spec.n_learners
        )
        known = previous.index("items")
        new_items = torch.tensor([key not in known for key in dataset.items])
        with pyro.settings.context(module_local_params=True):
            model = PsiktModel(spec)
            guide = PsiktGuide(spec)
            _warm_start(guide, previous, dataset)

            def known_items_stay() -> None:
                for name, p in guide.named_parameters():
                    if name.startswith("item_") and p.grad is not None:
                        p.grad[~new_items] = 0.0

            losses = _train(
                model,
                guide,
                windows,
                config,
                progress,
                started,
                only=lambda name: name.startswith(("learner_", "item_")),
                after_backward=known_items_stay,
            )
            params = _extract(guide, dataset, windows, previous=previous)
            # The encoder reads the filter's predictions; the known part of the model is as it was.
            params.encoder = previous.encoder
    finally:
        torch.set_num_threads(threads)
    return FitResult(params=params, losses=losses, seconds=time.perf_counter() - started, steps=len(losses))


def _previous_candidates(dataset: Dataset, previous: PsiktParams, teacher: dict[tuple[int, int], float]) -> np.ndarray:
    """The previous fit's candidate prerequisites, on this dataset's KC indices (a KC the previous
    fit did not know has the teacher's edges only), so the held edges mean what they meant."""
    kc_index = {k: i for i, k in enumerate(dataset.kcs)}
    rows: list[list[int]] = [[] for _ in dataset.kcs]
    old_kcs = previous.index("kcs")
    for k, key in enumerate(dataset.kcs):
        if key in old_kcs:
            row = previous.edge_index[old_kcs[key]]
            rows[k] = [kc_index[previous.kcs[j]] for j in row if j >= 0 and previous.kcs[j] in kc_index]
    for j, k in teacher:
        if j != k and j not in rows[k]:
            rows[k].append(j)
    width = max(1, max((len(r) for r in rows), default=1))
    out = np.full((len(dataset.kcs), width), -1, dtype=np.int64)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out


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


def _extract(guide: PsiktGuide, dataset: Dataset, windows: Windows, previous: PsiktParams | None = None) -> PsiktParams:
    """The guide's estimates as plain parameters; every learner with windows gets the ability its
    replayed history ends with, the others keep ``previous``'s (or the population's)."""
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
        if previous is not None:
            old = previous.index("learners")
            for i, key in enumerate(dataset.learners):
                if key in old:
                    mu_mean[i] = float(previous.mu_mean[old[key]])
                    mu_sd[i] = float(previous.mu_sd[old[key]])
        # Replay every learner's history with the posterior-mean traits: the end state of μ is the
        # learner's fitted ability, which the online filter starts from.
        if len(windows):
            last_rows, final = replay_windows(windows, ReplayParams.from_guide(guide))
            learners = windows.batch.idx[last_rows]
            mu_mean[learners] = final.m
            mu_sd[learners] = final.v.sqrt()
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
