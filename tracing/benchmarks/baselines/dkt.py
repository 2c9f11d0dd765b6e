"""Deep Knowledge Tracing (Piech et al., NeurIPS 2015) as a reference baseline for the benchmark.

An LSTM reads a learner's (KC, answer) pairs and predicts, for every KC, the probability that the
next answer on it is right. It is the deep model the published ASSISTments figures are quoted
against, run here on exactly the benchmark's split and scoring, so the learner model is compared
with it on equal terms. It is a baseline only: it has no interpretable traits, no forgetting in real
time and no prerequisite graph, and the tutor never uses it. Its network is the learner model's
sequence network (``tracing/psikt/sequence_net.py``), which the history encoder
(``tracing/psikt/encoder.py``) also extends to read the filter's predictions beside the answers.

Choices, all generic (no dataset-specific constants):

* inputs: one embedding per (KC, right/wrong); an answer on several KCs averages their embeddings,
  and its prediction averages their logits, as the Bayesian model and BKT combine KCs;
* the first answer is predicted from the initial (zero) state, so every answer is scored, as for the
  other models; pyKT's rule (no first answers) is reported beside it by the benchmark;
* training on windows of at most ``window`` answers (pyKT cuts sequences the same way), Adam,
  early stopping on the AUC of held-out training learners; test learners are read whole.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tracing.benchmarks.metrics import auc
from tracing.psikt.data import Dataset, LearnerSeq
from tracing.psikt.sequence_net import SequenceNet, kc_weights


@dataclass
class DKTConfig:
    hidden: int = 100
    dropout: float = 0.2
    lr: float = 1e-3
    batch: int = 64
    window: int = 200
    max_epochs: int = 20
    patience: int = 3  # epochs without a better validation AUC before stopping
    val_fraction: float = 0.05
    seed: int = 0
    max_seconds: float | None = None


class DKTNet(SequenceNet):
    """DKT: the learner model's sequence network, each answer predicted from the answers before it."""

    def forward(self, kcs: torch.Tensor, weights: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logit of every answer ``[B, T]`` given the answers before it."""
        h, _ = self.lstm(self.inputs(kcs, weights, y))
        before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], 1)
        return self.read_out(before, kcs, weights)


@dataclass
class DKTResult:
    net: DKTNet
    seconds: float
    epochs: int
    best_epoch: int
    val_auc: float


def _windows(seqs: list[LearnerSeq], window: int) -> list[LearnerSeq]:
    out = []
    for s in seqs:
        for a in range(0, len(s), window):
            cut = slice(a, a + window)
            part = LearnerSeq(s.learner, s.items[cut], s.kcs[cut], s.correct[cut], s.times[cut])
            if len(part):
                out.append(part)
    return out


def pad(seqs: list[LearnerSeq], n_kcs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """KCs ``[B, T, S]`` (padding K), their weights, answers ``[B, T]`` and the mask of real steps."""
    n_steps = max(len(s) for s in seqs)
    width = max(s.kcs.shape[1] for s in seqs)
    kcs = np.full((len(seqs), n_steps, width), n_kcs, dtype=np.int64)
    y = np.zeros((len(seqs), n_steps), dtype=np.float32)
    mask = np.zeros((len(seqs), n_steps), dtype=bool)
    for b, s in enumerate(seqs):
        kc = np.where(s.kcs >= 0, s.kcs, n_kcs)
        kcs[b, : len(s), : kc.shape[1]] = kc
        y[b, : len(s)] = s.correct
        mask[b, : len(s)] = True
    kcs_t = torch.as_tensor(kcs)
    return kcs_t, kc_weights(kcs_t, n_kcs), torch.as_tensor(y), torch.as_tensor(mask)


def predict(net: DKTNet, seqs: list[LearnerSeq], batch: int = 128) -> list[np.ndarray]:
    """p(correct) of every answer of every sequence, each from the answers before it."""
    net.eval()
    out = [np.zeros(0) for _ in seqs]
    # Similar lengths together, so little work goes to padding.
    order = [i for i in sorted(range(len(seqs)), key=lambda i: len(seqs[i])) if len(seqs[i])]
    with torch.no_grad():
        for a in range(0, len(order), batch):
            idx = order[a : a + batch]
            kcs, weights, y, _ = pad([seqs[i] for i in idx], net.n_kcs)
            p = torch.sigmoid(net(kcs, weights, y)).numpy()
            for row, i in enumerate(idx):
                out[i] = p[row, : len(seqs[i])].astype(np.float64)
    return out


def fit_dkt(
    train: Dataset, config: DKTConfig | None = None, progress: Callable[[int, float], None] | None = None
) -> DKTResult:
    """Train on ``train``'s learners, holding out ``val_fraction`` of them for early stopping;
    ``progress(epoch, validation AUC)`` is called after every epoch."""
    config = config or DKTConfig()
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: extra threads only add synchronisation
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        seqs = [s for s in train.seqs if len(s)]
        perm = rng.permutation(len(seqs))
        n_val = max(1, round(config.val_fraction * len(seqs))) if len(seqs) > 1 else 0
        val = [seqs[i] for i in perm[:n_val]]
        fit_windows = _windows([seqs[i] for i in perm[n_val:]], config.window)
        net = DKTNet(len(train.kcs), config.hidden, config.dropout)
        optim = torch.optim.Adam(net.parameters(), lr=config.lr)
        best_auc, best_epoch, best_state, epochs = -1.0, 0, copy.deepcopy(net.state_dict()), 0
        for epoch in range(config.max_epochs):
            net.train()
            order = rng.permutation(len(fit_windows))
            for a in range(0, len(order), config.batch):
                kcs, weights, y, mask = pad([fit_windows[i] for i in order[a : a + config.batch]], net.n_kcs)
                logits = net(kcs, weights, y)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask])
                optim.zero_grad()
                loss.backward()
                optim.step()
            epochs = epoch + 1
            if val:
                preds = predict(net, val)
                score = auc(np.concatenate([s.correct for s in val]), np.concatenate(preds))
            else:
                score = 0.0
            if progress is not None:
                progress(epoch + 1, score)
            if score > best_auc:
                best_auc, best_epoch, best_state = score, epoch + 1, copy.deepcopy(net.state_dict())
            elif epoch + 1 - best_epoch >= config.patience:
                break
            if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
                break
        net.load_state_dict(best_state)
        net.eval()
        return DKTResult(net, time.perf_counter() - started, epochs, best_epoch, best_auc)
    finally:
        torch.set_num_threads(threads)


class DKTTracker:
    """One-step filtering for ``n`` learners at once: the LSTM state after the answers seen so far."""

    def __init__(self, net: DKTNet, n: int) -> None:
        self.net = net
        self.h = torch.zeros(1, n, net.hidden)
        self.c = torch.zeros(1, n, net.hidden)

    def predict(self, rows: np.ndarray, kcs: np.ndarray) -> np.ndarray:
        k = torch.as_tensor(kcs)[:, None, :]
        w = kc_weights(k, self.net.n_kcs)
        with torch.no_grad():
            state = self.h[0, torch.as_tensor(rows)].unsqueeze(1)  # [n, 1, H]
            return torch.sigmoid(self.net.read_out(state, k, w))[:, 0].numpy()

    def observe(self, rows: np.ndarray, kcs: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Predict the answers of learners ``rows`` on ``kcs`` ``[n, S]``, then read them in."""
        p = self.predict(rows, kcs)
        k = torch.as_tensor(kcs)[:, None, :]
        r = torch.as_tensor(rows)
        with torch.no_grad():
            x = self.net.inputs(k, kc_weights(k, self.net.n_kcs), torch.as_tensor(y, dtype=torch.float32)[:, None])
            _, (h, c) = self.net.lstm(x, (self.h[:, r].contiguous(), self.c[:, r].contiguous()))
        self.h[:, r] = h
        self.c[:, r] = c
        return p

