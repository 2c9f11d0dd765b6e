"""The learner model at scale: windowed SVI carries the exact filter state between windows, and the
continual refit moves only what new answers bear on."""

from __future__ import annotations

import numpy as np
import pytest

from tracing.benchmarks.simulate import make_items, random_graph, simulate

torch = pytest.importorskip("torch")


def _params_for(data, rng):  # type: ignore[no-untyped-def]
    from tracing.psikt.fit import ReplayParams

    n_kcs = len(data.kcs)
    cand = torch.as_tensor(np.array([[j for j in range(n_kcs) if j != k] for k in range(n_kcs)]))
    return ReplayParams(
        traits=torch.as_tensor(
            np.column_stack(
                [
                    rng.normal(-1, 0.3, len(data.learners)),
                    rng.normal(-0.3, 0.2, len(data.learners)),
                    rng.normal(0, 1, len(data.learners)),
                ]
            ),
            dtype=torch.float32,
        ),
        mu_loc=torch.tensor(0.2),
        mu_scale=torch.tensor(0.9),
        item_offsets=torch.as_tensor(rng.normal(0, 0.5, len(data.items)), dtype=torch.float32),
        edge_logit=torch.as_tensor(rng.normal(-1, 1, tuple(cand.shape)), dtype=torch.float32),
        cand_index=cand,
        gains=torch.as_tensor(rng.normal([0.1, 0.4], 0.2, (n_kcs, 2)), dtype=torch.float32),
    )


@pytest.mark.parametrize("length", [1, 7, 64])
def test_windows_carry_the_exact_filter_state(length: int) -> None:
    """Window after window, the carried state ends where one pass over the whole history ends, and
    the windows' log-likelihoods add up to the whole history's."""
    from tracing.psikt.fit import make_batches, make_windows, replay_windows
    from tracing.psikt.model import run_filter

    rng = np.random.default_rng(5)
    graph = random_graph(5, 5, rng)
    data = simulate(graph, 7, make_items(5, 2, rng), n_answers=23, seed=5, practice_gain=(0.1, 0.3)).dataset
    # Uneven lengths: a window boundary falls at a different answer for each learner.
    data.seqs = [s.head(10 + 2 * i) for i, s in enumerate(data.seqs)]
    n_kcs = len(data.kcs)
    p = _params_for(data, rng)
    pos = [s.learner for s in data.seqs]
    full = make_batches(data.seqs, pos, n_kcs, batch_learners=64, batch_answers=10**6)[0]
    with torch.no_grad():
        ll_full, _, end = run_filter(
            full, p.traits[full.idx], p.mu_loc, p.mu_scale, p.item_offsets, p.edge_logit, p.cand_index, gains=p.gains
        )
    windows = make_windows(data.seqs, pos, n_kcs, length=length, n_learners=len(data.learners))
    assert len(windows) == sum(-(-len(s) // length) for s in data.seqs)
    last_rows, final = replay_windows(windows, p)
    by_learner = {int(windows.batch.idx[r]): i for i, r in enumerate(last_rows.tolist())}
    for row, learner in enumerate(full.idx.tolist()):
        assert float(final.m[by_learner[learner]]) == pytest.approx(float(end.m[row]), abs=1e-4)
        assert float(final.v[by_learner[learner]]) == pytest.approx(float(end.v[row]), abs=1e-4)
    # Every window's log-likelihood from its carried state, summed per learner.
    with torch.no_grad():
        batch = windows.take(torch.arange(len(windows)))
        ll_win, _, _ = run_filter(
            batch, p.traits[batch.idx], p.mu_loc, p.mu_scale, p.item_offsets, p.edge_logit, p.cand_index, gains=p.gains
        )
    per_learner = torch.zeros(len(data.learners)).index_add_(0, batch.idx, ll_win)
    assert torch.allclose(per_learner[full.idx], ll_full, atol=1e-3)


@pytest.mark.slow
def test_windowed_fit_learns_across_windows() -> None:
    from tracing.psikt.fit import FitConfig, fit

    rng = np.random.default_rng(2)
    graph = random_graph(4, 3, rng)
    res = simulate(graph, 60, make_items(4, 2, rng), n_answers=40, seed=2)
    # Windows of 8 answers: every history is cut in five, and the ability still comes out.
    out = fit(res.dataset, config=FitConfig(steps=60, window=8, batch_windows=64, lr=0.05, encoder=None))
    p = out.params
    order = [p.index("learners")[k] for k in res.dataset.learners]
    assert np.corrcoef([t.mu for t in res.traits], p.mu_mean[order])[0, 1] > 0.6
    assert np.mean(out.losses[-10:]) < np.mean(out.losses[:10])


@pytest.mark.slow
def test_refit_moves_only_what_the_new_answers_touch() -> None:
    from tracing.psikt.data import DatasetBuilder
    from tracing.psikt.fit import FitConfig, fit, refit

    rng = np.random.default_rng(3)
    graph = random_graph(4, 3, rng)
    items = make_items(4, 2, rng)
    res = simulate(graph, 80, items, n_answers=40, seed=3)
    data = res.dataset
    # Yesterday: the first 60 learners with 30 answers each. Today: 10 of them answered 10 more,
    # 20 learners arrived, and their answers name an item nobody saw yesterday.
    old, returning, new = range(60), range(50, 60), range(60, 80)

    def build(today: bool) -> DatasetBuilder:
        b = DatasetBuilder(kcs=data.kcs, time_unit="day")
        for s in data.seqs:
            if s.learner in new and not today:
                continue
            n = 40 if (today and (s.learner in returning or s.learner in new)) else 30
            for t in range(n):
                item = data.items[s.items[t]]
                if s.learner in new and t % 5 == 0:
                    item = "fresh-item"
                b.add(
                    data.learners[s.learner], item, [data.kcs[k] for k in s.kcs[t] if k >= 0], s.correct[t], s.times[t]
                )
        return b

    yesterday = build(False).build()
    today = build(True).build()
    first = fit(yesterday, config=FitConfig(steps=40, batch_windows=32, lr=0.05, encoder=None)).params
    changed = [data.learners[i] for i in (*returning, *new)]
    out = refit(today, first, learners=changed, config=FitConfig(steps=40, batch_windows=32, lr=0.05, encoder=None))
    p = out.params
    assert out.steps == 40
    assert p.population == pytest.approx(first.population)
    assert np.allclose(p.strengths(), first.strengths())
    old_l, new_l = first.index("learners"), p.index("learners")
    for i in old:
        key = data.learners[i]
        moved = not np.allclose(p.learner_loc[new_l[key]], first.learner_loc[old_l[key]])
        assert moved == (i in returning), key
        if i not in returning:
            assert p.mu_mean[new_l[key]] == first.mu_mean[old_l[key]]
    old_i, new_i = first.index("items"), p.index("items")
    for key, i in old_i.items():
        assert p.item_offset[new_i[key]] == pytest.approx(first.item_offset[i])
    assert p.item_offset[new_i["fresh-item"]] != 0.0
    # The new learners' abilities come from their own answers.
    mu_new = [p.mu_mean[new_l[data.learners[i]]] for i in new]
    assert np.corrcoef([res.traits[i].mu for i in new], mu_new)[0, 1] > 0.5


def test_forgetting_rate_starts_where_the_data_put_it() -> None:
    """Fast forgetters practised days apart: the clock-only guess (half a deviation survives the
    typical gap) starts the forgetting rate far too slow, and a fit started there let the practice gains stand in
    for forgetting (log alpha recovered at r 0.15 on the long-history set). The likelihood profile
    starts it near the truth, and the fit starts from it."""
    import math

    from tracing.benchmarks.simulate import Population, random_policy
    from tracing.psikt.fit import FitConfig, _spec, candidate_prereqs, default_prior, fit, profile_forgetting

    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        graph = random_graph(20, 20, rng)
        items = make_items(20, 2, rng)
        true_loc = math.log(1.0)
        data = simulate(
            graph,
            40,
            items,
            n_answers=200,
            seed=seed,
            population=Population(log_alpha=(true_loc, 0.3)),
            policy=random_policy(items, gap_spread=1.0),
            practice_gain=(0.15, 0.35),
        ).dataset
        guess = default_prior(data).log_alpha_loc
        assert abs(guess - true_loc) > 2.0  # the case this is for
        rate, per_rate = profile_forgetting(data, _spec(data, candidate_prereqs(data, {}, 48), {}, None))
        assert abs(rate - true_loc) < 1.0
        assert len(per_rate) == 6 and max(per_rate) > per_rate[0]
    # A profile that gains too little per answer keeps the guess.
    spec = _spec(data, candidate_prereqs(data, {}, 48), {}, None)
    kept, per_rate = profile_forgetting(data, spec, min_gain=1.0)
    assert kept == pytest.approx(guess) and max(per_rate) - per_rate[0] < 1.0
    out = fit(data, config=FitConfig(steps=0, encoder=None))
    assert out.params.population["log_alpha_loc"] == pytest.approx(rate, abs=1e-5)
    assert np.allclose(out.params.learner_loc[:, 0], rate, atol=1e-5)
    unprofiled = fit(data, config=FitConfig(steps=0, encoder=None, profile_forgetting=False))
    assert unprofiled.params.population["log_alpha_loc"] == pytest.approx(guess, abs=1e-5)
