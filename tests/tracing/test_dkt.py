from __future__ import annotations

import numpy as np
import pytest

from tracing.benchmarks.baselines.dkt import DKTConfig, DKTTracker, fit_dkt, predict
from tracing.benchmarks.metrics import auc
from tracing.psikt.data import Dataset, DatasetBuilder, split_learners


def _dataset(n_learners: int = 240, n_answers: int = 40, multi: bool = False) -> Dataset:
    """Learners of differing ability on 5 KCs of differing difficulty; with ``multi`` every third
    answer touches two KCs."""
    rng = np.random.default_rng(1)
    kcs = [f"kc{k}" for k in range(5)]
    builder = DatasetBuilder(kcs=kcs, items=[f"i{k}" for k in range(5)] + ["pair"], time_unit="step")
    for u in range(n_learners):
        ability = rng.normal(0, 1.2)
        for t in range(n_answers):
            k = int(rng.integers(5))
            touched = [kcs[k], kcs[(k + 1) % 5]] if multi and t % 3 == 0 else [kcs[k]]
            p = 1 / (1 + np.exp(-(ability + 0.6 * (k - 2))))
            builder.add(f"u{u}", "pair" if len(touched) == 2 else f"i{k}", touched, bool(rng.random() < p), float(t))
    return builder.build()


def test_stepwise_tracker_matches_whole_sequence_prediction() -> None:
    data = _dataset(n_learners=40, n_answers=25, multi=True)
    net = fit_dkt(data, DKTConfig(hidden=16, max_epochs=1, seed=0)).net
    seqs = data.seqs[:6]
    whole = predict(net, seqs)
    n_kcs = len(data.kcs)
    tracker = DKTTracker(net, len(seqs))
    longest = max(len(s) for s in seqs)
    for t in range(longest):
        rows = np.array([i for i, s in enumerate(seqs) if len(s) > t])
        width = max(s.kcs.shape[1] for s in seqs)
        kcs = np.full((len(rows), width), n_kcs, dtype=np.int64)
        for r, i in enumerate(rows):
            kc = seqs[i].kcs[t]
            kcs[r, : len(kc)] = np.where(kc >= 0, kc, n_kcs)
        y = np.array([seqs[i].correct[t] for i in rows], dtype=np.float64)
        stepped = tracker.observe(rows, kcs, y)
        np.testing.assert_allclose(stepped, [whole[i][t] for i in rows], atol=1e-5)


@pytest.mark.slow
def test_dkt_learns_ability_and_difficulty() -> None:
    data = _dataset()
    train, test = split_learners(data, test_fraction=0.25, seed=0)
    result = fit_dkt(train, DKTConfig(hidden=32, lr=0.01, max_epochs=12, patience=3, seed=0))
    assert 1 <= result.best_epoch <= result.epochs <= 12
    preds = predict(result.net, test.seqs)
    y = np.concatenate([s.correct for s in test.seqs])
    p = np.concatenate(preds)
    assert len(p) == len(y) and np.all((p > 0) & (p < 1))
    # Ability differs strongly between learners and difficulty between KCs: well above chance.
    assert auc(y, p) > 0.7


def test_untrained_network_predicts_every_answer_once() -> None:
    data = _dataset(n_learners=10, n_answers=7, multi=True)
    net = fit_dkt(data, DKTConfig(hidden=8, max_epochs=1)).net
    preds = predict(net, data.seqs)
    assert [len(p) for p in preds] == [len(s) for s in data.seqs]
