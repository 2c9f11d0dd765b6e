"""Training the history encoder (:mod:`tracing.psikt.encoder`) on the filter's own predictions.

Kept apart from the encoder itself: training runs the filter (:mod:`tracing.psikt.online`), while
the filter only steps a trained encoder, so the two modules do not import each other.
"""

# ruff: noqa: RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tracing.psikt.encoder import Encoder, EncoderConfig, decay
from tracing.psikt.normal import log_ndtr, ndtr
from tracing.psikt.params import PROBIT_C

if TYPE_CHECKING:
    from tracing.psikt.data import Dataset
    from tracing.psikt.online import OnlineModel


@dataclass
class _Track:
    """One learner's history with the filter's moments before each answer."""

    kcs: np.ndarray  # [T, S], padding K
    y: np.ndarray  # [T]
    mx: np.ndarray  # [T]
    vx: np.ndarray  # [T]
    r: np.ndarray  # [T] decay of the correction since the previous answer

    def __len__(self) -> int:
        return len(self.y)

    def cut(self, sl: slice) -> _Track:
        return _Track(self.kcs[sl], self.y[sl], self.mx[sl], self.vx[sl], self.r[sl])


# Learners filtered (or scored) at once: similar lengths together, so one long history does not pad
# every other learner's arrays to its length.
_CHUNK = 1024


def _chunks(lengths: list[int]) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[a : a + _CHUNK] for a in range(0, len(order), _CHUNK)]


def filter_tracks(model: OnlineModel, dataset: Dataset) -> list[_Track]:
    """Run the filter over every learner of ``dataset`` as a new learner (population traits), as the
    encoder will meet them, recording each answer's predicted logit moments."""
    seqs = [s for s in dataset.seqs if len(s)]
    tracks: list[_Track | None] = [None] * len(seqs)
    for chunk in _chunks([len(s) for s in seqs]):
        for i, track in zip(chunk, _filter_chunk(model, [seqs[i] for i in chunk]), strict=True):
            tracks[i] = track
    return [t for t in tracks if t is not None]


def _filter_chunk(model: OnlineModel, seqs: list[Any]) -> list[_Track]:
    from tracing.psikt.online import LearnerStates, answer_moments, observe

    n, k = len(seqs), model.n_kcs
    width = max(len(s) for s in seqs)
    slots = max(s.kcs.shape[1] for s in seqs)
    kcs = np.full((n, width, slots), k, dtype=np.int64)
    items = np.zeros((n, width), dtype=np.int64)
    y = np.zeros((n, width))
    t = np.zeros((n, width))
    mask = np.zeros((n, width), dtype=bool)
    for i, s in enumerate(seqs):
        length = len(s)
        kcs[i, :length, : s.kcs.shape[1]] = np.where(s.kcs >= 0, s.kcs, k)
        items[i, :length] = s.items
        y[i, :length] = s.correct
        t[i, :length] = s.times
        mask[i, :length] = True
    st = LearnerStates.new(model, np.tile(model.population_traits(), (n, 1)))
    mx, vx = np.zeros((n, width)), np.zeros((n, width))
    for step in range(width):
        rows = np.nonzero(mask[:, step])[0]
        offsets = model.item_offset[items[rows, step]]
        mx[rows, step], vx[rows, step] = answer_moments(model, st, rows, kcs[rows, step], offsets, t[rows, step])
        observe(model, st, rows, kcs[rows, step], offsets, y[rows, step], t[rows, step])
    alpha = math.exp(model.population_traits()[0])
    dt = np.diff(t, axis=1, prepend=t[:, :1])
    r = decay(np.asarray(alpha), dt)
    return [
        _Track(kcs[i, : len(s)], y[i, : len(s)], mx[i, : len(s)], vx[i, : len(s)], r[i, : len(s)])
        for i, s in enumerate(seqs)
    ]


def fit_encoder(
    model: OnlineModel,
    dataset: Dataset,
    config: EncoderConfig | None = None,
    progress: Callable[[int, int, float, float], None] | None = None,
) -> tuple[Encoder | None, dict[str, Any]]:
    """Train the encoder's members on ``dataset`` under the fitted ``model``. Returns the encoder,
    or None with the reason in the metrics when it was not trained or did not beat the filter on
    the held-out learners. ``progress(member, epoch, held-out log-loss, the filter's)`` is called
    after each member's epoch."""
    config = config or EncoderConfig()
    started = time.perf_counter()
    n_learners = sum(1 for s in dataset.seqs if len(s))
    if n_learners < config.min_learners:
        return None, {"used": False, "reason": f"{n_learners} learners, fewer than {config.min_learners}"}
    tracks = filter_tracks(model, dataset)
    perm = np.random.default_rng(config.seed).permutation(len(tracks))
    n_val = max(1, round(config.val_fraction * len(tracks)))
    val = [tracks[i] for i in perm[:n_val]]
    train = [tracks[i] for i in perm[n_val:]]
    # Every member is held out on the same learners, so the average is judged on unseen learners too.
    jobs = [_Job(train, val, model.n_kcs, config, config.seed + m, m) for m in range(config.members)]
    workers = min(config.members, os.cpu_count() or 1)
    results = _run_parallel(jobs, workers, progress) if workers > 1 else [_train_member(j, progress) for j in jobs]
    members = [enc for enc, _ in results if enc is not None]
    encoder = None
    baseline = held_out_loss(None, val, model.n_kcs)
    metrics: dict[str, Any] = {
        "used": False,
        "members": [m for _, m in results],
        "held_out_learners": n_val,
        "held_out_log_loss_filter": round(baseline, 6),
    }
    if not members:
        metrics.update(reason="no member beat the filter alone on held-out learners")
    else:
        encoder = Encoder.stack(members)
        encoder.metrics = metrics
        loss = held_out_loss(encoder, val, model.n_kcs)
        metrics["held_out_log_loss_with_encoder"] = round(loss, 6)
        if loss < baseline:
            metrics["used"] = True
        else:
            metrics["reason"] = "the members' average did not beat the filter alone on held-out learners"
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return (encoder if metrics["used"] else None), metrics


def held_out_loss(encoder: Encoder | None, tracks: list[_Track], n_kcs: int) -> float:
    """Mean log-loss over ``tracks``, each answer predicted before it is read, by the request
    path's numpy code (the filter alone when ``encoder`` is None)."""
    total, count = 0.0, 0
    for chunk in _chunks([len(t) for t in tracks]):
        kcs, y, mx, vx, r, mask = _pad_np([tracks[i] for i in chunk], n_kcs)
        scale = PROBIT_C / np.sqrt(1 + PROBIT_C**2 * vx)
        logit = scale * mx
        shift = np.zeros_like(mx)
        if encoder is not None:
            h = np.zeros((len(chunk), *encoder.state_shape))
            c = np.zeros_like(h)
            for t in range(mx.shape[1]):
                shift[:, t] = encoder.correction(h, kcs[:, t]) * r[:, t]
                h, c = encoder.step(h, c, kcs[:, t], y[:, t], logit[:, t], ndtr(logit[:, t]))
        total -= float(log_ndtr((2 * y - 1) * scale * (mx + shift))[mask].sum())
        count += int(mask.sum())
    return total / max(count, 1)


@dataclass
class _Job:
    train: list[_Track]
    val: list[_Track]
    n_kcs: int
    config: EncoderConfig
    seed: int
    member: int


def _run_parallel(
    jobs: list[_Job], workers: int, progress: Callable[[int, int, float, float], None] | None
) -> list[tuple[Encoder | None, dict[str, Any]]]:
    """Train members in ``workers`` fresh processes (spawned: no state of this one is shared),
    relaying their epoch reports to ``progress``."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    results: dict[int, tuple[Encoder | None, dict[str, Any]]] = {}
    pending = list(range(len(jobs)))
    running: dict[int, Any] = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                i = pending.pop(0)
                proc = ctx.Process(target=_member_process, args=(messages, i, jobs[i]), daemon=True)
                proc.start()
                running[i] = proc
            try:
                kind, i, payload = messages.get(timeout=5.0)
            except queue_mod.Empty:
                for i, proc in list(running.items()):
                    if not proc.is_alive():  # died without a word (killed, out of memory)
                        raise RuntimeError(f"encoder member {i} stopped with exit code {proc.exitcode}") from None
                continue
            if kind == "epoch":
                if progress is not None:
                    progress(*payload)
            elif kind == "done":
                results[i] = payload
                running.pop(i).join()
            else:
                raise RuntimeError(f"encoder member {i} failed: {payload}")
    finally:
        for proc in running.values():
            proc.terminate()
    return [results[i] for i in range(len(jobs))]


def _member_process(messages: Any, i: int, job: _Job) -> None:
    try:
        result = _train_member(job, lambda *args: messages.put(("epoch", i, args)))
        messages.put(("done", i, result))
    except BaseException as exc:  # reported to the parent, which raises it there
        messages.put(("error", i, f"{type(exc).__name__}: {exc}"))


def _train_member(
    job: _Job, progress: Callable[[int, int, float, float], None] | None = None
) -> tuple[Encoder | None, dict[str, Any]]:
    """One member: Adam on windows of the training tracks, the epoch with the lowest held-out
    log-loss kept; None when no epoch beat the filter alone."""
    import torch

    train, val, n_kcs, config, seed, member = job.train, job.val, job.n_kcs, job.config, job.seed, job.member
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: extra threads only add synchronisation
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        windows = [tr.cut(slice(a, a + config.window)) for tr in train for a in range(0, len(tr), config.window)]
        net = _Net(n_kcs, config.hidden, config.dropout)
        optim = torch.optim.Adam(net.parameters(), lr=config.lr)
        baseline = _val_loss(net, val, use_encoder=False)
        best, best_epoch, best_state, epochs = baseline, 0, copy.deepcopy(net.state_dict()), 0
        for epoch in range(config.max_epochs):
            net.train()
            order = rng.permutation(len(windows))
            for a in range(0, len(order), config.batch):
                batch = _pad([windows[i] for i in order[a : a + config.batch]], n_kcs)
                loss = -net.log_lik(*batch).sum() / batch[-1].sum()
                optim.zero_grad()
                loss.backward()
                optim.step()
            epochs = epoch + 1
            score = _val_loss(net, val, use_encoder=True)
            if progress is not None:
                progress(member, epochs, score, baseline)
            if score < best:
                best, best_epoch, best_state = score, epochs, copy.deepcopy(net.state_dict())
            elif epochs - best_epoch >= config.patience:
                break
        metrics = {
            "seed": seed,
            "epochs": epochs,
            "best_epoch": best_epoch,
            "held_out_log_loss": round(best, 6),
            "seconds": round(time.perf_counter() - started, 1),
        }
        if best_epoch == 0:
            return None, metrics
        net.load_state_dict(best_state)
        return net.export(), metrics
    finally:
        torch.set_num_threads(threads)


def _pad_np(tracks: list[_Track], n_kcs: int) -> tuple[np.ndarray, ...]:
    n, width = len(tracks), max(len(t) for t in tracks)
    slots = max(t.kcs.shape[1] for t in tracks)
    kcs = np.full((n, width, slots), n_kcs, dtype=np.int64)
    y, mx, vx, r = (np.zeros((n, width)) for _ in range(4))
    mask = np.zeros((n, width), dtype=bool)
    for i, t in enumerate(tracks):
        length = len(t)
        kcs[i, :length, : t.kcs.shape[1]] = t.kcs
        y[i, :length], mx[i, :length], vx[i, :length], r[i, :length] = t.y, t.mx, t.vx, t.r
        mask[i, :length] = True
    return kcs, y, mx, vx, r, mask


def _pad(tracks: list[_Track], n_kcs: int) -> tuple[Any, ...]:
    import torch

    kcs, *floats, mask = _pad_np(tracks, n_kcs)
    return (torch.as_tensor(kcs), *(torch.as_tensor(a, dtype=torch.float32) for a in floats), torch.as_tensor(mask))


def _val_loss(net: Any, val: list[_Track], *, use_encoder: bool) -> float:
    import torch

    net.eval()
    total, count = 0.0, 0
    order = sorted(range(len(val)), key=lambda i: len(val[i]))
    with torch.no_grad():
        for a in range(0, len(order), 128):
            kcs, y, mx, vx, r, mask = _pad([val[i] for i in order[a : a + 128]], net.n_kcs)
            if not use_encoder:
                r = torch.zeros_like(r)
            total -= float(net.log_lik(kcs, y, mx, vx, r, mask).sum())
            count += int(mask.sum())
    return total / max(count, 1)


def _net_class() -> Any:
    import torch

    from tracing.psikt.sequence_net import SequenceNet, kc_weights

    class Net(SequenceNet):
        """The DKT network (its (KC, answer) embedding, LSTM and per-KC read-out) reading the
        filter's logit and surprise as well, its read-out a shift of the filter's logit."""

        def __init__(self, n_kcs: int, hidden: int, dropout: float) -> None:
            super().__init__(n_kcs, hidden, dropout)
            self.feat = torch.nn.Linear(2, hidden)
            # Starts as the filter alone.
            torch.nn.init.zeros_(self.out.weight)
            torch.nn.init.zeros_(self.out.bias)

        def log_lik(self, kcs: Any, y: Any, mx: Any, vx: Any, r: Any, mask: Any) -> Any:
            """Log-likelihood ``[B, T]`` (0 on padding) of each answer given those before it."""
            w = kc_weights(kcs, self.n_kcs)
            scale = PROBIT_C / torch.sqrt(1 + PROBIT_C**2 * vx)
            logit = scale * mx
            x = self.inputs(kcs, w, y) + self.feat(torch.stack([logit, y - torch.special.ndtr(logit)], -1))
            h, _ = self.lstm(x)
            before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], 1)
            shift = self.read_out(before, kcs, w) * r
            u = (2 * y - 1) * scale * (mx + shift)
            return torch.special.log_ndtr(u) * mask

        def export(self) -> Encoder:
            """This network as a one-member :class:`Encoder`."""

            def arr(t: Any) -> np.ndarray:
                return t.detach().cpu().numpy().astype(np.float64)[None]

            return Encoder(
                embed=arr(self.embed.weight),
                feat_w=arr(self.feat.weight),
                feat_b=arr(self.feat.bias),
                w_ih=arr(self.lstm.weight_ih_l0),
                w_hh=arr(self.lstm.weight_hh_l0),
                b=arr(cast(torch.Tensor, self.lstm.bias_ih_l0)) + arr(cast(torch.Tensor, self.lstm.bias_hh_l0)),
                out_w=arr(self.out.weight),
                out_b=arr(self.out.bias),
            )

    return Net


def _Net(n_kcs: int, hidden: int, dropout: float) -> Any:
    return _net_class()(n_kcs, hidden, dropout)
