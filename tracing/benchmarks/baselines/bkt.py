"""Standard Bayesian knowledge tracing (Corbett & Anderson 1995), fitted per KC with EM.

Two hidden states per (learner, KC): not known / known; learning ``P(T)`` at each practice, no
forgetting; guess ``P(G)`` and slip ``P(S)`` emissions; prior ``P(L0)``. Baum-Welch runs over all
(learner, KC) subsequences at once, bucketed by length so padding stays small. Guess and slip are
capped at 0.4 (a common BKT safeguard: above it "known" and "not known" swap meaning). An answer
on several KCs updates each of them and is predicted by the mean of their predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracing.psikt.data import Dataset

MAX_GUESS_SLIP = 0.4
EPS = 1e-6


@dataclass
class BKTParams:
    prior: np.ndarray  # [K+1] P(L0); the last entry is the all-KC average for unseen KCs
    learn: np.ndarray  # [K+1] P(T)
    guess: np.ndarray  # [K+1] P(G)
    slip: np.ndarray  # [K+1] P(S)

    @property
    def n_kcs(self) -> int:
        return len(self.prior) - 1


def _subsequences(dataset: Dataset) -> list[tuple[int, np.ndarray]]:
    """(KC, answers in order) for every learner x KC."""
    out: list[tuple[int, np.ndarray]] = []
    for s in dataset.seqs:
        by_kc: dict[int, list[int]] = {}
        for t in range(len(s)):
            for k in s.kcs[t]:
                if k >= 0:
                    by_kc.setdefault(int(k), []).append(int(s.correct[t]))
        out.extend((k, np.asarray(ys, dtype=np.int8)) for k, ys in by_kc.items())
    return out


def _buckets(subseqs: list[tuple[int, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pad subsequences into power-of-two length buckets: (kc [n], y [n, T], mask [n, T])."""
    groups: dict[int, list[tuple[int, np.ndarray]]] = {}
    for kc_id, ys in subseqs:
        width = 1 << max(len(ys) - 1, 0).bit_length()  # next power of two
        groups.setdefault(width, []).append((kc_id, ys))
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for width, rows in groups.items():
        kc = np.array([r[0] for r in rows])
        y = np.zeros((len(rows), width), dtype=np.float64)
        mask = np.zeros((len(rows), width), dtype=bool)
        for i, (_, ys) in enumerate(rows):
            y[i, : len(ys)] = ys
            mask[i, : len(ys)] = True
        out.append((kc, y, mask))
    return out


def fit_bkt(dataset: Dataset, *, iterations: int = 30) -> BKTParams:
    n_kcs = len(dataset.kcs)
    prior = np.full(n_kcs, 0.4)
    learn = np.full(n_kcs, 0.1)
    guess = np.full(n_kcs, 0.2)
    slip = np.full(n_kcs, 0.1)
    buckets = _buckets(_subsequences(dataset))
    for _ in range(iterations):
        c_init = np.zeros(n_kcs)
        c_n = np.zeros(n_kcs)
        c_learn = np.zeros(n_kcs)
        c_unknown_trans = np.zeros(n_kcs)
        c_guess = np.zeros(n_kcs)
        c_unknown = np.zeros(n_kcs)
        c_slip = np.zeros(n_kcs)
        c_known = np.zeros(n_kcs)
        for kc, y, mask in buckets:
            p0, pt, pg, ps = prior[kc], learn[kc], guess[kc], slip[kc]
            n, width = y.shape
            # Emission likelihoods [n, T, 2] (state 0 = not known, 1 = known); padding emits 1.
            e1 = np.where(y > 0, 1 - ps[:, None], ps[:, None])
            e0 = np.where(y > 0, pg[:, None], 1 - pg[:, None])
            e0 = np.where(mask, e0, 1.0)
            e1 = np.where(mask, e1, 1.0)
            fwd = np.zeros((n, width, 2))
            scale = np.zeros((n, width))
            a = np.stack([(1 - p0) * e0[:, 0], p0 * e1[:, 0]], -1)
            scale[:, 0] = a.sum(-1)
            fwd[:, 0] = a / scale[:, 0, None]
            for t in range(1, width):
                prev = fwd[:, t - 1]
                # Padding steps do not transition either, so the posterior at the end is unchanged.
                pt_t = np.where(mask[:, t], pt, 0.0)
                known = prev[:, 1] + prev[:, 0] * pt_t
                a = np.stack([(1 - known) * e0[:, t], known * e1[:, t]], -1)
                scale[:, t] = a.sum(-1)
                fwd[:, t] = a / scale[:, t, None]
            bwd = np.ones((n, width, 2))
            for t in range(width - 2, -1, -1):
                pt_t = np.where(mask[:, t + 1], pt, 0.0)
                nb0 = e0[:, t + 1] * bwd[:, t + 1, 0]
                nb1 = e1[:, t + 1] * bwd[:, t + 1, 1]
                b0 = (1 - pt_t) * nb0 + pt_t * nb1
                b1 = nb1
                bwd[:, t] = np.stack([b0, b1], -1) / scale[:, t + 1, None]
            post = fwd * bwd
            post /= post.sum(-1, keepdims=True)
            # Expected unknown -> known transitions between consecutive real steps.
            real_next = mask[:, 1:]
            xi = (fwd[:, :-1, 0] * pt[:, None] * e1[:, 1:] * bwd[:, 1:, 1] / scale[:, 1:]) * real_next
            np.add.at(c_init, kc, post[:, 0, 1])
            np.add.at(c_n, kc, 1.0)
            np.add.at(c_learn, kc, xi.sum(1))
            np.add.at(c_unknown_trans, kc, (post[:, :-1, 0] * real_next).sum(1))
            np.add.at(c_guess, kc, (post[:, :, 0] * y * mask).sum(1))
            np.add.at(c_unknown, kc, (post[:, :, 0] * mask).sum(1))
            np.add.at(c_slip, kc, (post[:, :, 1] * (1 - y) * mask).sum(1))
            np.add.at(c_known, kc, (post[:, :, 1] * mask).sum(1))
        has = c_n > 0
        prior = np.where(has, c_init / np.maximum(c_n, EPS), prior).clip(EPS, 1 - EPS)
        learn = np.where(c_unknown_trans > 0, c_learn / np.maximum(c_unknown_trans, EPS), learn).clip(EPS, 1 - EPS)
        guess = np.where(c_unknown > 0, c_guess / np.maximum(c_unknown, EPS), guess).clip(EPS, MAX_GUESS_SLIP)
        slip = np.where(c_known > 0, c_slip / np.maximum(c_known, EPS), slip).clip(EPS, MAX_GUESS_SLIP)
    return BKTParams(
        prior=np.append(prior, prior.mean()),
        learn=np.append(learn, learn.mean()),
        guess=np.append(guess, guess.mean()),
        slip=np.append(slip, slip.mean()),
    )


class BKTTracker:
    """P(known) per (learner, KC) for ``n_learners`` learners; padding KC index = ``n_kcs``."""

    def __init__(self, params: BKTParams, n_learners: int) -> None:
        self.params = params
        self.known = np.tile(params.prior, (n_learners, 1))  # [L, K+1]

    def predict(self, rows: np.ndarray, kcs: np.ndarray) -> np.ndarray:
        """p(correct) ``[n]`` for answers on ``kcs`` ``[n, S]`` (mean over the answer's KCs)."""
        p = self.params
        known = self.known[rows[:, None], kcs]
        pk = known * (1 - p.slip[kcs]) + (1 - known) * p.guess[kcs]
        real = kcs < p.n_kcs
        return (pk * real).sum(-1) / np.maximum(real.sum(-1), 1)

    def observe(self, rows: np.ndarray, kcs: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Predict, then update with answers ``y`` ``[n]``; returns the prediction."""
        p = self.params
        pred = self.predict(rows, kcs)
        known = self.known[rows[:, None], kcs]
        yy = y[:, None] > 0
        num = np.where(yy, known * (1 - p.slip[kcs]), known * p.slip[kcs])
        den = num + np.where(yy, (1 - known) * p.guess[kcs], (1 - known) * (1 - p.guess[kcs]))
        post = num / np.maximum(den, EPS)
        post = post + (1 - post) * p.learn[kcs]
        real = kcs < p.n_kcs
        self.known[rows[:, None], kcs] = np.where(real, post, self.known[rows[:, None], kcs])
        return pred

    def practise(self, rows: np.ndarray, kcs: np.ndarray) -> None:
        """An unobserved practice opportunity: only the learning transition."""
        p = self.params
        known = self.known[rows[:, None], kcs]
        real = kcs < p.n_kcs
        self.known[rows[:, None], kcs] = np.where(real, known + (1 - known) * p.learn[kcs], known)
