"""The identifiability benchmark measures what a history tells about the traits."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")


def test_few_kcs_tell_the_forgetting_rate_better_than_many() -> None:
    """With the same answers (300 each), 10 KCs are practised at gaps near 1/alpha and 100 KCs
    mostly after everything was forgotten: the Laplace bound must see the difference, and the gap
    shares add up."""
    from tracing.benchmarks.identifiability import gap_stats, laplace, oracle_params
    from tracing.benchmarks.scaling import simulate_long

    out = {}
    for kcs in (10, 100):
        sim, graph, population, gain, truth = simulate_long(6000, 300, kcs, 1)
        data = sim.dataset
        gaps = gap_stats(data, truth)
        shares = gaps["share_r_below_0.1"] + gaps["share_r_0.1_to_0.9"] + gaps["share_r_above_0.9"]
        assert shares == pytest.approx(1.0)
        params = oracle_params(sim, graph, data, population, gain)
        # The oracle is the truth: its gains, item offsets and edges are the simulator's.
        assert np.allclose(params.gains(), gain)
        assert params.item_offset == pytest.approx([it.offset for it in sim.simulator.items])
        prior_sd = np.array([population.log_alpha[1], population.log_sigma[1], population.logit_gamma[1]])
        out[kcs] = (gaps, laplace(data, params, truth, prior_sd))
    few, many = out[10], out[100]
    assert few[0]["share_r_below_0.1"] < many[0]["share_r_below_0.1"]
    assert few[1]["log_alpha"]["posterior_sd_median"] < many[1]["log_alpha"]["posterior_sd_median"]
    assert few[1]["log_alpha"]["reachable_r"] > many[1]["log_alpha"]["reachable_r"]
    for name in ("log_alpha", "log_sigma", "logit_gamma"):
        assert 0.0 <= many[1][name]["reachable_r"] <= 1.0
        assert many[1][name]["posterior_sd_median"] <= many[1][name]["prior_sd"] + 1e-9
