from __future__ import annotations

import numpy as np

from tracing.benchmarks.baselines.bkt import BKTTracker, fit_bkt
from tracing.benchmarks.metrics import auc
from tracing.psikt.data import DatasetBuilder


def _bkt_data(n_learners: int, rng: np.random.Generator, prior=0.2, learn=0.25, guess=0.15, slip=0.1):
    builder = DatasetBuilder()
    for u in range(n_learners):
        known = rng.random() < prior
        for t in range(15):
            p = (1 - slip) if known else guess
            builder.add(str(u), "i", ["k"], int(rng.random() < p), float(t))
            known = known or rng.random() < learn
    return builder.build()


def test_bkt_em_recovers_parameters() -> None:
    data = _bkt_data(600, np.random.default_rng(0))
    p = fit_bkt(data, iterations=40)
    assert abs(p.prior[0] - 0.2) < 0.08
    assert abs(p.learn[0] - 0.25) < 0.08
    assert abs(p.guess[0] - 0.15) < 0.06
    assert abs(p.slip[0] - 0.1) < 0.06


def test_bkt_tracker_updates_towards_answers() -> None:
    data = _bkt_data(200, np.random.default_rng(1))
    tracker = BKTTracker(fit_bkt(data, iterations=10), 2)
    rows = np.array([0, 1])
    kcs = np.array([[0], [0]])
    for _ in range(3):
        tracker.observe(rows, kcs, np.array([1.0, 0.0]))
    p = tracker.predict(rows, kcs)
    assert p[0] > 0.8 and p[1] < p[0]


def test_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    p = np.round(rng.random(200) + 0.3 * y, 1)  # ties included
    pos, neg = p[y], p[~y]
    pairwise = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert auc(y, p) == pytest_approx(pairwise)


def pytest_approx(x: float) -> object:
    import pytest

    return pytest.approx(x, abs=1e-12)
