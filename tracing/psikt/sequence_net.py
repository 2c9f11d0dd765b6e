"""The recurrent network that reads a learner's answers as (KC, right/wrong) pairs, in torch.

An embedding per (KC, answer), an LSTM over the sequence and a per-KC read-out of the state before
each answer. It is the network of Deep Knowledge Tracing (Piech et al., NeurIPS 2015); the history
encoder (:mod:`tracing.psikt.encoder`) extends it to read the filter's predictions too, and the DKT
baseline of the benchmark (``tracing/benchmarks/baselines/dkt.py``) adds DKT's own forward pass.

Imports torch: only training imports this module (a tutor request steps the encoder in numpy).
"""

from __future__ import annotations

import torch


class SequenceNet(torch.nn.Module):
    """KC indices at ``n_kcs`` are padding: they embed to zero and read nothing out."""

    def __init__(self, n_kcs: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.n_kcs = n_kcs
        self.hidden = hidden
        # Index k + K*y is (KC k, answer y); 2K is padding and embeds to zero.
        self.embed = torch.nn.Embedding(2 * n_kcs + 1, hidden, padding_idx=2 * n_kcs)
        self.lstm = torch.nn.LSTM(hidden, hidden, batch_first=True)
        self.drop = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(hidden, n_kcs)

    def inputs(self, kcs: torch.Tensor, weights: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` answer embeddings from KCs ``[B, T, S]`` (padding K), weights, answers ``[B, T]``."""
        idx = torch.where(kcs < self.n_kcs, kcs + self.n_kcs * y.long().unsqueeze(-1), 2 * self.n_kcs)
        return (self.embed(idx) * weights.unsqueeze(-1)).sum(2)

    def read_out(self, states: torch.Tensor, kcs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Logit ``[B, T]`` of answer t from the state *before* it, ``states`` ``[B, T, H]``."""
        logits = self.out(self.drop(states))  # [B, T, K]
        safe = kcs.clamp(max=self.n_kcs - 1)
        return (logits.gather(2, safe) * weights).sum(-1)


def kc_weights(kcs: torch.Tensor, n_kcs: int) -> torch.Tensor:
    """``1/|KCs|`` for each real KC of an answer, 0 on padding: an answer on several KCs averages
    them, as the filter does."""
    real = (kcs < n_kcs).float()
    return real / real.sum(-1, keepdim=True).clamp(min=1.0)
