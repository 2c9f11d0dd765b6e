"""The history encoder: numpy request path equals the torch it was trained with, it is kept only
when it beats the filter on held-out learners, and its shift fades like knowledge."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from tracing.benchmarks.metrics import auc
from tracing.psikt.data import Dataset, DatasetBuilder
from tracing.psikt.encoder import Encoder, EncoderConfig
from tracing.psikt.encoder_fit import _Net, _pad, _val_loss, filter_tracks, held_out_loss
from tracing.psikt.fit import FitConfig, fit
from tracing.psikt.online import LearnerStates, OnlineModel, forecast, forecast_learners, observe


def _alternating(n_learners: int, n_answers: int, seed: int, n_kcs: int = 2) -> Dataset:
    """Each learner alternates right and wrong answers from a random start: a pattern in the order
    of answers that no setting of the filter can follow, and a recurrent encoder can."""
    rng = np.random.default_rng(seed)
    builder = DatasetBuilder(kcs=[f"k{k}" for k in range(n_kcs)], time_unit="day")
    for learner in range(n_learners):
        first = int(rng.integers(2))
        for n in range(n_answers):
            k = int(rng.integers(n_kcs))
            builder.add(f"s{seed}-{learner}", f"i{k}", [f"k{k}"], (first + n) % 2, n * 0.01)
    return builder.build()


def _random_encoder(n_kcs: int, hidden: int, seed: int) -> Encoder:
    torch.manual_seed(seed)
    net = _Net(n_kcs, hidden, 0.0)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
        net.embed.weight[2 * n_kcs] = 0.0  # padding row, as training keeps it
    return net.export()


def test_request_path_predicts_what_training_scored() -> None:
    data = _alternating(3, 12, seed=1, n_kcs=3)
    model = replace(OnlineModel.default(data.kcs), item_offset=np.zeros(len(data.items)))
    tracks = filter_tracks(model, data)
    enc = _random_encoder(len(data.kcs), 8, seed=2)
    net = _Net(len(data.kcs), 8, 0.0)
    net.load_state_dict(
        {
            "embed.weight": torch.as_tensor(enc.embed[0], dtype=torch.float32),
            "feat.weight": torch.as_tensor(enc.feat_w[0], dtype=torch.float32),
            "feat.bias": torch.as_tensor(enc.feat_b[0], dtype=torch.float32),
            "lstm.weight_ih_l0": torch.as_tensor(enc.w_ih[0], dtype=torch.float32),
            "lstm.weight_hh_l0": torch.as_tensor(enc.w_hh[0], dtype=torch.float32),
            "lstm.bias_ih_l0": torch.as_tensor(enc.b[0], dtype=torch.float32),
            "lstm.bias_hh_l0": torch.zeros(4 * 8),
            "out.weight": torch.as_tensor(enc.out_w[0], dtype=torch.float32),
            "out.bias": torch.as_tensor(enc.out_b[0], dtype=torch.float32),
        }
    )
    net.eval()
    with torch.no_grad():
        ll = net.log_lik(*_pad(tracks, len(data.kcs))).numpy()
    # The held-out figure that decides whether the encoder is kept is computed the same way.
    torch_loss = _val_loss(net, tracks, use_encoder=True)
    assert held_out_loss(enc, tracks, len(data.kcs)) == pytest.approx(torch_loss, abs=1e-5)
    with_enc = replace(model, encoder=enc)
    for i, seq in enumerate(data.seqs):
        st = LearnerStates.new(with_enc, with_enc.population_traits()[None, :])
        row = np.zeros(1, dtype=np.int64)
        for t in range(len(seq)):
            p = observe(with_enc, st, row, seq.kcs[t][None, :], np.zeros(1), seq.correct[t][None], seq.times[t][None])
            p_answer = p[0] if seq.correct[t] else 1 - p[0]
            assert math.log(p_answer) == pytest.approx(ll[i, t], abs=1e-4)


def test_members_average_their_shifts() -> None:
    one, two = _random_encoder(3, 4, seed=0), _random_encoder(3, 4, seed=1)
    both = Encoder.stack([one, two])
    assert both.members == 2 and both.state_shape == (2, 4)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(5, 2, 4))
    kcs = np.array([[0, 3], [1, 2], [2, 3], [0, 1], [3, 3]])  # 3 is padding
    expected = (one.correction(h[:, :1], kcs) + two.correction(h[:, 1:], kcs)) / 2
    np.testing.assert_allclose(both.correction(h, kcs), expected)
    y, logit = rng.integers(0, 2, 5), rng.normal(size=5)
    h2, c2 = both.step(h, h, kcs, y, logit, 1 / (1 + np.exp(-logit)))
    h1, c1 = two.step(h[:, 1:], h[:, 1:], kcs, y, logit, 1 / (1 + np.exp(-logit)))
    np.testing.assert_allclose(h2[:, 1:], h1)
    np.testing.assert_allclose(c2[:, 1:], c1)


def test_weights_round_trip_through_json() -> None:
    enc = Encoder.stack([_random_encoder(4, 6, seed=0), _random_encoder(4, 6, seed=1)])
    enc.metrics = {"used": True}
    back = Encoder.from_dict(enc.to_dict())
    assert back.metrics == {"used": True}
    for name in ("embed", "w_ih", "w_hh", "b", "out_w", "out_b", "feat_w", "feat_b"):
        np.testing.assert_allclose(getattr(back, name), getattr(enc, name), rtol=1e-6, atol=1e-6)


def test_learns_what_the_filter_cannot_and_only_then_is_kept() -> None:
    train, test = _alternating(300, 20, seed=3), _alternating(60, 20, seed=4)
    result = fit(train, config=FitConfig(steps=40, encoder=EncoderConfig(hidden=16, min_learners=100, lr=0.01)))
    assert result.encoder["used"], result.encoder
    assert result.encoder["held_out_log_loss_with_encoder"] < result.encoder["held_out_log_loss_filter"] - 0.1
    # Two members, trained in their own processes on the same held-out split.
    assert [m["seed"] for m in result.encoder["members"]] == [0, 1]
    assert all(m["held_out_log_loss"] < result.encoder["held_out_log_loss_filter"] for m in result.encoder["members"])
    model = OnlineModel.from_params(result.params)
    assert model.encoder is not None and model.encoder.members == 2
    bare = replace(model, encoder=None)
    scores = {}
    for name, m in (("encoder", model), ("filter", bare)):
        # Test learners are unseen: their keys are not in the fit.
        st = LearnerStates.new(m, np.tile(m.population_traits(), (len(test.seqs), 1)))
        y, p = [], []
        for t in range(20):
            rows = np.arange(len(test.seqs))
            kcs = np.stack([s.kcs[t] for s in test.seqs])
            yt = np.array([s.correct[t] for s in test.seqs], dtype=float)
            p.append(observe(m, st, rows, kcs, np.zeros(len(rows)), yt, np.full(len(rows), t * 0.01)))
            y.append(yt)
        scores[name] = auc(np.concatenate(y[1:]), np.concatenate(p[1:]))
    assert scores["encoder"] > 0.95 and scores["encoder"] > scores["filter"] + 0.2, scores


def test_not_trained_without_enough_learners() -> None:
    data = _alternating(30, 10, seed=5)
    result = fit(data, config=FitConfig(steps=5))
    assert result.params.encoder is None
    assert result.encoder["used"] is False and "fewer than 500" in result.encoder["reason"]
    off = fit(data, config=FitConfig(steps=5, encoder=None))
    assert off.encoder == {} and off.params.encoder is None


def test_shift_fades_at_the_forgetting_rate_and_state_survives_storage() -> None:
    model = replace(OnlineModel.default(["a", "b"]), encoder=_random_encoder(2, 5, seed=7))
    bare = replace(model, encoder=None)
    st = LearnerStates.new(model, model.population_traits()[None, :])
    st_bare = LearnerStates.new(bare, bare.population_traits()[None, :])
    row = np.zeros(1, dtype=np.int64)
    for s in (st, st_bare):
        for n, y in enumerate([1, 0, 1]):
            observe(model if s is st else bare, s, row, np.array([[n % 2]]), np.zeros(1), np.array([y]), np.array([n]))
    alpha = float(st.alpha[0])
    assert model.encoder is not None and st.enc_h is not None
    shift = model.encoder.correction(st.enc_h[[0, 0]], np.array([[0], [1]]))
    assert np.abs(shift).max() > 0.05
    for dt in (0.0, 1.0, 10.0):
        with_enc = forecast(model, st, 0, np.array([0, 1]), 2.0 + dt)
        alone = forecast(bare, st_bare, 0, np.array([0, 1]), 2.0 + dt)
        np.testing.assert_allclose(with_enc.mean - alone.mean, shift * math.exp(-alpha * dt), atol=1e-9)
    # The filter's own state is the model's posterior, whatever the encoder says.
    np.testing.assert_allclose(st.rho, st_bare.rho)
    np.testing.assert_allclose(st.m, st_bare.m)
    saved = st.encoder_state(0)
    fresh = LearnerStates.new(model, model.population_traits()[None, :])
    fresh.set_encoder_state(0, saved)
    assert fresh.encoder_state(0) == saved
    other = LearnerStates.new(model, model.population_traits()[None, :])
    other.set_encoder_state(0, {"h": [0.0] * 3, "c": [0.0] * 3, "t": 1.0})  # another encoder's size
    assert other.encoder_state(0) == {"h": [0.0] * 5, "c": [0.0] * 5, "t": None}


@pytest.mark.parametrize("with_encoder", [False, True])
def test_forecast_for_many_learners_is_each_learners_own(with_encoder: bool) -> None:
    # Three KCs, one with items (so a non-zero typical offset), learned edges and gains; learners
    # with different histories and traits, one who never answered.
    base = OnlineModel.default(["a", "b", "c"])
    model = replace(
        base,
        kc_offset=np.array([0.4, -0.3, 0.0, 0.0]),
        pre_index=np.array([[3], [0], [1], [3]]),
        pre_weight=np.array([[0.0], [0.8], [0.5], [0.0]]),
        kc_gain=np.array([[0.05, 0.2], [0.1, 0.3], [0.0, 0.1], [0.0, 0.0]]),
        encoder=_random_encoder(3, 5, seed=3) if with_encoder else None,
    )
    rng = np.random.default_rng(0)
    traits = model.population_traits()[None, :] + rng.normal(0, 0.4, (4, 3))
    st = LearnerStates.new(model, traits, np.array([0.0, 1.0, -1.0, 0.3]), 0.7)
    for row, n_answers in enumerate([6, 3, 9, 0]):
        for n in range(n_answers):
            kc, y = np.array([[rng.integers(3)]]), rng.integers(0, 2, 1)
            observe(model, st, np.array([row]), kc, np.zeros(1), y, np.array([n * 0.5]))
    kcs = np.array([2, 0, 1])
    for t in (5.0, 12.0):
        many = forecast_learners(model, st, kcs, t, mastery_p=0.8)
        assert many.p_correct.shape == (4, 3)
        for row in range(4):
            own = forecast(model, st, row, kcs, t, mastery_p=0.8)
            for name in ("p_correct", "p_correct_sd", "mastery", "mean", "sd"):
                np.testing.assert_allclose(getattr(many, name)[row], getattr(own, name), rtol=0, atol=1e-12)
    # The learners differ, so the equality is not the prior's.
    assert np.ptp(many.mastery[:, 1]) > 0.05


def test_learners_are_filtered_in_chunks_of_similar_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracing.psikt import encoder_fit as encoder_mod

    builder = DatasetBuilder(kcs=["a", "b"], time_unit="day")
    rng = np.random.default_rng(0)
    for learner, length in enumerate([7, 1, 30, 2, 12]):
        for n in range(length):
            k = "ab"[int(rng.integers(2))]
            builder.add(f"l{learner}", f"i{k}", [k], int(rng.integers(2)), n * 0.5)
    data = builder.build()
    model = replace(OnlineModel.default(data.kcs), item_offset=np.zeros(len(data.items)))
    whole = filter_tracks(model, data)
    monkeypatch.setattr(encoder_mod, "_CHUNK", 2)
    chunked = filter_tracks(model, data)
    assert [len(t) for t in chunked] == [len(s) for s in data.seqs]
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a.mx, b.mx)
        np.testing.assert_allclose(a.vx, b.vx)
        np.testing.assert_allclose(a.r, b.r)
    enc = _random_encoder(2, 4, seed=3)
    scored_in_chunks = held_out_loss(enc, whole, 2)
    monkeypatch.setattr(encoder_mod, "_CHUNK", 1024)
    assert scored_in_chunks == pytest.approx(held_out_loss(enc, whole, 2))
