"""Run the published pyBKT 1.4.3 on a :class:`Dataset` in its own environment.

pyBKT 1.4.3 needs numpy<2 and scikit-learn<1.6 while this project pins numpy 2, so pyBKT lives in
a separate venv (made by ``tracing/benchmarks/baselines/setup_pybkt_env.sh``) and runs
``tracing/benchmarks/baselines/pybkt_worker.py`` in a subprocess. This side is plain numpy: it writes the
answers as pyBKT's DataFrame columns to CSV files, runs the worker, and reads back one p(correct)
per row. The caller scores them with the same metric code as the other models.

pyBKT's ``predict`` gives, for each row, p(correct) from the rows of the same learner and skill
before it (the forward pass of the fitted HMM, one step ahead), which is the benchmark's protocol.

Multi-KC answers are treated as our BKT treats them (``tracing/benchmarks/baselines/bkt.py``): the answer
becomes one row per KC, in that KC's sequence, so each KC is trained on it and updated by it, and
the answer is predicted by the mean of its rows' predictions.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tracing.psikt.data import Dataset

COLUMNS = ("order_id", "user_id", "skill_name", "correct")
REPO_ROOT = Path(__file__).resolve().parents[3]
SETUP_SCRIPT = "tracing/benchmarks/baselines/setup_pybkt_env.sh"
DEFAULT_PYTHON = REPO_ROOT / ".venv-pybkt" / "bin" / "python"
WORKER = Path(__file__).with_name("pybkt_worker.py")
# pyBKT's own answer for a row whose skill it has no fit for (Model.predict fills 0.5).
UNFITTED_PREDICTION = 0.5


@dataclass
class PybktRows:
    """A dataset as pyBKT rows: learner-major, in time order, one row per (answer, KC)."""

    order_id: np.ndarray  # [R] int, increasing: pyBKT sorts by it, then stably by user
    user_id: np.ndarray  # [R] int, position of the learner in ``dataset.seqs`` plus an offset
    kc: np.ndarray  # [R] int, index into ``dataset.kcs``
    correct: np.ndarray  # [R] int in {0, 1}
    answer: np.ndarray  # [R] int, the answer's position in the learner-major flattening bench scores
    n_answers: int


def skill_name(kc: int) -> str:
    # Not the dataset's own KC names: pyBKT matches skills with a regex and pandas would read
    # numeric-looking names back as numbers.
    return f"kc{kc}"


def dataset_rows(dataset: Dataset, *, first_user: int = 0) -> PybktRows:
    order: list[int] = []
    user: list[int] = []
    kc: list[int] = []
    correct: list[int] = []
    answer: list[int] = []
    n = 0
    for u, seq in enumerate(dataset.seqs):
        for t in range(len(seq)):
            # A KC listed twice on one answer is still one practice of it.
            for k in dict.fromkeys(int(k) for k in seq.kcs[t] if k >= 0):
                order.append(len(order))
                user.append(first_user + u)
                kc.append(k)
                correct.append(int(seq.correct[t]))
                answer.append(n)
            n += 1
    return PybktRows(
        np.array(order, dtype=np.int64),
        np.array(user, dtype=np.int64),
        np.array(kc, dtype=np.int64),
        np.array(correct, dtype=np.int64),
        np.array(answer, dtype=np.int64),
        n,
    )


def write_rows(rows: PybktRows, path: Path, *, order_offset: int = 0) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for o, u, k, c in zip(rows.order_id, rows.user_id, rows.kc, rows.correct, strict=True):
            out.writerow((int(o) + order_offset, int(u), skill_name(int(k)), int(c)))


def answer_predictions(rows: PybktRows, row_preds: np.ndarray) -> tuple[np.ndarray, int]:
    """Mean prediction per answer over its rows with a prediction (NaN = pyBKT had no fit for
    that KC); answers with none get pyBKT's 0.5. Returns the predictions and how many got 0.5."""
    ok = np.isfinite(row_preds)
    total = np.bincount(rows.answer[ok], weights=row_preds[ok], minlength=rows.n_answers)
    count = np.bincount(rows.answer[ok], minlength=rows.n_answers)
    preds = np.where(count > 0, total / np.maximum(count, 1), UNFITTED_PREDICTION)
    return preds, int((count == 0).sum())


def find_python(explicit: str | None = None) -> Path | None:
    """The pyBKT interpreter: ``explicit``, else ``$PYBKT_PYTHON``, else ``.venv-pybkt`` if present."""
    chosen = explicit or os.environ.get("PYBKT_PYTHON")
    if chosen:
        return Path(chosen)
    return DEFAULT_PYTHON if DEFAULT_PYTHON.exists() else None


@dataclass
class PybktResult:
    preds: np.ndarray  # [n test answers], learner-major like the other models' scoring
    n_unfitted: int  # test answers none of whose KCs pyBKT fitted (predicted 0.5)
    wall_seconds: float
    info: dict[str, Any] = field(default_factory=dict)  # from the worker: fit seconds, versions...


class PybktError(RuntimeError):
    pass


def run_pybkt_worker(
    python: Path,
    train: Dataset,
    test: Dataset,
    *,
    seed: int = 0,
    num_fits: int = 5,
    timeout: float = 3600.0,
) -> PybktResult:
    train_rows = dataset_rows(train)
    test_rows = dataset_rows(test, first_user=len(train.seqs))
    with tempfile.TemporaryDirectory(prefix="pybkt-") as tmp:
        d = Path(tmp)
        write_rows(train_rows, d / "train.csv")
        write_rows(test_rows, d / "test.csv", order_offset=len(train_rows.order_id))
        cmd = [
            str(python),
            str(WORKER),
            "--train",
            str(d / "train.csv"),
            "--test",
            str(d / "test.csv"),
            "--out",
            str(d / "preds.txt"),
            "--info",
            str(d / "info.json"),
            "--seed",
            str(seed),
            "--num-fits",
            str(num_fits),
        ]
        t0 = time.perf_counter()
        try:
            # The worker's progress goes to our stderr, like the other models' progress.
            done = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise PybktError(f"pyBKT worker timed out after {timeout:.0f} s") from exc
        except OSError as exc:
            raise PybktError(f"cannot run {python}: {exc}") from exc
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-5:]
            raise PybktError(f"pyBKT worker exited {done.returncode}: {' | '.join(tail)}")
        row_preds = np.loadtxt(d / "preds.txt", dtype=np.float64, ndmin=1)
        info = json.loads((d / "info.json").read_text())
    if len(row_preds) != len(test_rows.order_id):
        raise PybktError(f"pyBKT worker returned {len(row_preds)} predictions for {len(test_rows.order_id)} rows")
    preds, n_unfitted = answer_predictions(test_rows, row_preds)
    info["train_rows"] = len(train_rows.order_id)
    info["test_rows"] = len(test_rows.order_id)
    return PybktResult(preds, n_unfitted, wall, info)
