"""The reward model: four ordinal heads (No / To some extent / Yes) on frozen MiniLM embeddings.

Features for one (context, response): the response embedding r, the context-tail embedding c, r*c and
r-c (1,536 numbers). A shared hidden layer feeds one 3-way head per MRBench dimension. The guard's
answer-reveal verdict is a hard constraint on top (``reward``): a reply that states the answer before
its release gets reward 0 whatever the heads say, because the guard knows the answer and the heads do
not.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.alignment.mrbench import DIMENSIONS, LABELS, Example

CONTEXT_TAIL_CHARS = 500  # MiniLM reads 128 tokens here; the latest turns are what the reply answers
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "reward_heads.pt"


@dataclass(frozen=True)
class HeadSettings:
    hidden: int = 128
    dropout: float = 0.2
    epochs: int = 200
    lr: float = 3e-3
    weight_decay: float = 1e-2
    seed: int = 0


def context_tail(context: str) -> str:
    return context[-CONTEXT_TAIL_CHARS:]


def features(encoder: Any, contexts: Sequence[str], responses: Sequence[str]) -> Any:
    import torch

    r = encoder.encode(list(responses))
    # Many replies share one context (MRBench: about 8 per conversation): encode each context once.
    unique = list(dict.fromkeys(context_tail(x) for x in contexts))
    index = {text: i for i, text in enumerate(unique)}
    c = encoder.encode(unique)[torch.tensor([index[context_tail(x)] for x in contexts], dtype=torch.long)]
    return torch.cat([r, c, r * c, r - c], dim=-1)  # (N, 1536)


def _heads(in_dim: int, settings: HeadSettings) -> Any:
    import torch
    from torch import nn

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Dropout(settings.dropout), nn.Linear(in_dim, settings.hidden), nn.GELU(),
                                      nn.Dropout(settings.dropout))
            self.out = nn.Linear(settings.hidden, len(DIMENSIONS) * len(LABELS))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.body(x)).view(-1, len(DIMENSIONS), len(LABELS))  # (N, 4, 3) logits

    return Heads()


def fit_heads(x: Any, y: Any, settings: HeadSettings = HeadSettings()) -> Any:
    """Full-batch training; each dimension's loss weighs classes by inverse frequency (for macro-F1)."""
    import torch

    torch.manual_seed(settings.seed)
    model = _heads(x.shape[1], settings)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    weights = []
    for d in range(len(DIMENSIONS)):
        counts = torch.bincount(y[:, d], minlength=len(LABELS)).float().clamp(min=1)
        weights.append(counts.sum() / (len(LABELS) * counts))
    model.train()
    for _ in range(settings.epochs):
        logits = model(x)
        loss = torch.stack([
            torch.nn.functional.cross_entropy(logits[:, d], y[:, d], weight=weights[d]) for d in range(len(DIMENSIONS))
        ]).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    return model


def predict_proba(model: Any, x: Any) -> Any:
    import torch

    with torch.inference_mode():
        return torch.softmax(model(x), dim=-1)  # (N, 4, 3)


def macro_f1(truth: Sequence[int], predicted: Sequence[int], n_classes: int = len(LABELS)) -> float:
    scores = []
    for k in range(n_classes):
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == k and p == k)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != k and p == k)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == k and p != k)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / n_classes


def group_folds(groups: Sequence[str], k: int, seed: int = 0) -> list[list[int]]:
    """Indices per fold; every example of one conversation lands in the same fold."""
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    fold_of = {g: i % k for i, g in enumerate(unique)}
    folds: list[list[int]] = [[] for _ in range(k)]
    for i, g in enumerate(groups):
        folds[fold_of[g]].append(i)
    return folds


def cross_validate(examples: Sequence[Example], x: Any, *, k: int = 5,
                   settings: HeadSettings = HeadSettings()) -> dict[str, Any]:
    """Macro-F1 per dimension (3-way, and the shared task's lenient 2-way: Yes+To some extent vs No),
    over out-of-fold predictions of a group k-fold split by conversation."""
    import torch

    y = torch.tensor([e.labels for e in examples])
    predicted = torch.zeros_like(y)
    for fold in group_folds([e.conversation_id for e in examples], k, settings.seed):
        test = torch.tensor(fold)
        train = torch.tensor(sorted(set(range(len(examples))) - set(fold)))
        model = fit_heads(x[train], y[train], settings)
        predicted[test] = predict_proba(model, x[test]).argmax(-1)
    result: dict[str, Any] = {"folds": k, "examples": len(examples),
                              "conversations": len({e.conversation_id for e in examples})}
    for d, name in enumerate(DIMENSIONS):
        truth, guess = y[:, d].tolist(), predicted[:, d].tolist()
        result[name] = {
            "macro_f1_3way": round(macro_f1(truth, guess), 4),
            "macro_f1_lenient": round(macro_f1([min(t, 1) for t in truth], [min(p, 1) for p in guess], 2), 4),
            "accuracy": round(sum(t == p for t, p in zip(truth, guess, strict=True)) / len(truth), 4),
            "majority_macro_f1": round(macro_f1(truth, [max(set(truth), key=truth.count)] * len(truth)), 4),
        }
    return result


class RewardModel:
    """Encoder + trained heads. ``scores`` gives per-dimension probabilities; ``reward`` one number."""

    def __init__(self, encoder: Any, heads: Any, settings: HeadSettings) -> None:
        self.encoder = encoder
        self.heads = heads
        self.settings = settings

    @classmethod
    def train(cls, encoder: Any, examples: Sequence[Example], settings: HeadSettings = HeadSettings(),
              x: Any = None) -> RewardModel:
        import torch

        if x is None:
            x = features(encoder, [e.context for e in examples], [e.response for e in examples])
        heads = fit_heads(x, torch.tensor([e.labels for e in examples]), settings)
        return cls(encoder, heads, settings)

    def save(self, path: Path = DEFAULT_WEIGHTS) -> None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"settings": self.settings.__dict__, "state": self.heads.state_dict(),
                    "in_dim": 4 * self.encoder.dim}, path)

    @classmethod
    def load(cls, encoder: Any, path: Path = DEFAULT_WEIGHTS) -> RewardModel:
        import torch

        if not Path(path).is_file():
            raise FileNotFoundError(f"no reward-model weights at {path}: run `python -m tutor.alignment reward`")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        settings = HeadSettings(**saved["settings"])
        heads = _heads(saved["in_dim"], settings)
        heads.load_state_dict(saved["state"])
        heads.eval()
        return cls(encoder, heads, settings)

    def probabilities(self, contexts: Sequence[str], responses: Sequence[str]) -> Any:
        return predict_proba(self.heads, features(self.encoder, contexts, responses))  # (N, 4, 3)

    def score(self, contexts: Sequence[str], responses: Sequence[str]) -> list[dict[str, Any]]:
        probs = self.probabilities(contexts, responses)
        out = []
        for row in probs.tolist():
            out.append({
                "labels": {d: LABELS[max(range(len(LABELS)), key=p.__getitem__)] for d, p in zip(DIMENSIONS, row,
                                                                                               strict=True)},
                "scores": {d: {label: round(v, 4) for label, v in zip(LABELS, p, strict=True)}
                           for d, p in zip(DIMENSIONS, row, strict=True)},
            })
        return out


def expected_values(probs: Any) -> Any:
    """Per-dimension expected label on a 0..1 scale (No 0, To some extent .5, Yes 1): (N, 4)."""
    import torch

    return (probs * torch.tensor([0.0, 0.5, 1.0])).sum(-1)


def reward(probs: Any, reveals: Sequence[bool]) -> list[float]:
    """One number per reply: the mean expected label, 0 for a reply that reveals the answer early."""
    values = expected_values(probs).mean(-1).tolist()
    return [0.0 if leak else round(v, 4) for v, leak in zip(values, reveals, strict=True)]


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
