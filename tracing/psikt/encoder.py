"""History encoder: a learned correction to the mean of the answer logit the filter predicts.

The Gaussian filter (:mod:`tracing.psikt.online`) is the exact posterior of the model, but the model
is small: one ability, independent KC residuals, fixed gains. A recurrent network reading the same
history sees patterns it cannot (on ASSISTments 2015 a DKT's predictions averaged with the filter's
beat both). PSI-KT infers its states with a neural encoder; here the encoder sits beside the filter
instead of replacing it:

* the filter is untouched: traits, edges, states and their variances are the model's, and the filter
  updates on its own predictions, never on the corrected ones;
* the encoder reads each answer as (KC, right/wrong) plus the filter's predicted logit and its
  surprise ``y - p``; from its state after the answers so far it proposes a shift ``c_k`` of each
  KC's state mean;
* the shift is knowledge like any other: it fades towards the OU's level at the learner's forgetting
  rate, ``c_k · exp(-α Δt)`` with ``Δt`` the time since the learner's last answer, so forecasts
  further ahead return to the filter's;
* it is trained after the SVI fit, on the filter's own predictions for the training learners (held
  at the population's traits, as a new learner is), as a few members with different seeds, each in
  its own process and each stopped early on the log-loss of the same held-out training learners;
  their shifts are averaged. It is kept only when that average beats the filter alone on them; with
  too few learners to hold some out it is not trained at all.

Training lives in :mod:`tracing.psikt.encoder_fit`. Weights are stored as plain numpy (base64
float32 in the fit's JSON) and stepped in numpy, so a tutor request still never imports torch.
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

_ARRAYS = ("embed", "feat_w", "feat_b", "w_ih", "w_hh", "b", "out_w", "out_b")


@dataclass
class EncoderConfig:
    hidden: int = 64
    # Independently trained members whose shifts are averaged (one process each, in parallel, up to
    # the machine's cores): on ASSISTments 2015 two members scored AUC 0.7312, each alone 0.7302-0.7305.
    members: int = 2
    dropout: float = 0.2
    lr: float = 1e-3
    batch: int = 64
    window: int = 200  # training windows, as DKT and pyKT cut sequences
    max_epochs: int = 10
    patience: int = 2  # epochs without a lower held-out log-loss before stopping
    val_fraction: float = 0.1
    # Below this many learners the held-out set is too small to tell a real gain from noise.
    min_learners: int = 500
    seed: int = 0


@dataclass
class Encoder:
    """Trained weights in numpy, members stacked on the first axis. KC indices at or beyond
    ``n_kcs`` (KCs added after the fit) read and write nothing. A learner's state ``h``/``c`` is
    ``[n, M, H]``."""

    embed: np.ndarray  # [M, 2K+1, H]: row k + K*y is (KC k, answer y); row 2K is zero
    feat_w: np.ndarray  # [M, H, 2]: (filter logit, surprise y - p)
    feat_b: np.ndarray  # [M, H]
    w_ih: np.ndarray  # [M, 4H, H] LSTM gates i, f, g, o as torch lays them out
    w_hh: np.ndarray  # [M, 4H, H]
    b: np.ndarray  # [M, 4H] (both torch biases summed)
    out_w: np.ndarray  # [M, K, H]
    out_b: np.ndarray  # [M, K]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def members(self) -> int:
        return int(self.embed.shape[0])

    @property
    def n_kcs(self) -> int:
        return int(self.out_b.shape[1])

    @property
    def hidden(self) -> int:
        return int(self.embed.shape[2])

    @property
    def state_shape(self) -> tuple[int, int]:
        return self.members, self.hidden

    def correction(self, h: np.ndarray, kcs: np.ndarray) -> np.ndarray:
        """Shift ``[n]`` of the answer logit for KCs ``kcs`` ``[n, S]`` (padding: any index ≥ K)
        from states ``h`` ``[n, M, H]``: the members' mean, the KCs averaged as the filter does."""
        real = kcs < self.n_kcs
        safe = np.where(real, kcs, 0)
        per_kc = np.einsum("mnsh,nmh->nms", self.out_w[:, safe], h) + self.out_b[:, safe].transpose(1, 0, 2)
        w = real / np.maximum(real.sum(-1, keepdims=True), 1)
        return (per_kc.mean(1) * w).sum(-1)

    def kc_corrections(self, h: np.ndarray, kcs: np.ndarray) -> np.ndarray:
        """Shift of each of ``kcs`` ``[m]`` for one learner's state ``h`` ``[M, H]`` (what
        :meth:`correction` gives one KC at a time, without copying the state per KC)."""
        real = kcs < self.n_kcs
        safe = np.where(real, kcs, 0)
        per_kc = np.einsum("mkh,mh->mk", self.out_w[:, safe], h) + self.out_b[:, safe]
        return np.where(real, per_kc.mean(0), 0.0)

    def step(
        self, h: np.ndarray, c: np.ndarray, kcs: np.ndarray, y: np.ndarray, logit: np.ndarray, p: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read one answer per row: KCs ``[n, S]``, answers ``y``, the filter's logit and p before it;
        states ``[n, M, H]``."""
        real = kcs < self.n_kcs
        yy = np.asarray(y, dtype=np.float64)
        idx = np.where(real, kcs + self.n_kcs * yy.astype(np.int64)[:, None], 2 * self.n_kcs)
        w = real / np.maximum(real.sum(-1, keepdims=True), 1)
        x = np.einsum("mnsh,ns->nmh", self.embed[:, idx], w)
        x = x + np.einsum("nf,mhf->nmh", np.stack([logit, yy - p], -1), self.feat_w) + self.feat_b
        gates = np.einsum("nmh,mgh->nmg", x, self.w_ih) + np.einsum("nmh,mgh->nmg", h, self.w_hh) + self.b
        i, f, g, o = np.split(gates, 4, axis=-1)
        c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c_new), c_new

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metrics": self.metrics}
        for name in _ARRAYS:
            arr = np.ascontiguousarray(getattr(self, name), dtype="<f4")
            out[name] = {"shape": list(arr.shape), "f4": base64.b64encode(arr.tobytes()).decode("ascii")}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoder:
        arrays = {
            name: np.frombuffer(base64.b64decode(data[name]["f4"]), dtype="<f4")
            .reshape(data[name]["shape"])
            .astype(np.float64)
            for name in _ARRAYS
        }
        return cls(metrics=dict(data.get("metrics", {})), **arrays)

    @classmethod
    def stack(cls, members: list[Encoder]) -> Encoder:
        arrays: dict[str, Any] = {name: np.concatenate([getattr(m, name) for m in members]) for name in _ARRAYS}
        return cls(**arrays)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def decay(alpha: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """How much of a correction is left after ``dt`` (negative Δt, clock skew, counts as 0)."""
    return np.exp(-alpha * np.maximum(dt, 0.0))


# ---------------------------------------------------------------------------------------------
# Training (torch; imported only by the fit)
