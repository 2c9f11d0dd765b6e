from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tracing.benchmarks import bench
from tracing.benchmarks.baselines import pybkt_bridge
from tracing.psikt.data import Dataset, DatasetBuilder


def _small(n_learners: int = 6, n_answers: int = 9, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    builder = DatasetBuilder()
    for u in range(n_learners):
        for t in range(n_answers):
            kcs = [["a"], ["b"], ["a", "c"], ["c", "c"]][int(rng.integers(4))]
            # Answers added out of time order, with ties: the dataset orders them, rows must follow.
            builder.add(f"u{u}", f"i{t % 3}", kcs, int(rng.random() < 0.6), float((t * 7) % n_answers // 2))
    return builder.build()


def _read_as_pybkt(path: Path) -> list[dict[str, str]]:
    """Rows in the order pyBKT puts them: by order_id, then stably by user."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: int(r["order_id"]))
    rows.sort(key=lambda r: int(r["user_id"]))
    return rows


def test_rows_round_trip_through_pybkt_csv(tmp_path: Path) -> None:
    data = _small()
    rows = pybkt_bridge.dataset_rows(data, first_user=100)
    path = tmp_path / "rows.csv"
    pybkt_bridge.write_rows(rows, path, order_offset=1000)
    read = _read_as_pybkt(path)
    assert list(read[0]) == list(pybkt_bridge.COLUMNS)
    # pyBKT's sorting leaves the rows as written, so each (learner, KC) sequence is in time order.
    assert [int(r["order_id"]) for r in read] == list(range(1000, 1000 + len(read)))
    # Rebuild each learner's answers from the CSV and the row -> answer map.
    by_kc = {pybkt_bridge.skill_name(k): k for k in range(len(data.kcs))}
    answers: dict[int, tuple[int, set[int], int]] = {}
    for r, a in zip(read, rows.answer, strict=True):
        user, kcs, correct = answers.setdefault(int(a), (int(r["user_id"]), set(), int(r["correct"])))
        assert (user, correct) == (int(r["user_id"]), int(r["correct"]))
        kcs.add(by_kc[r["skill_name"]])
    assert rows.n_answers == data.n_observations == len(answers)
    flat = [
        (100 + u, {int(k) for k in s.kcs[t] if k >= 0}, int(s.correct[t]))
        for u, s in enumerate(data.seqs)
        for t in range(len(s))
    ]
    assert [answers[i] for i in range(rows.n_answers)] == flat
    # A KC listed twice on one answer is one row; two KCs are two rows.
    per_answer = np.bincount(rows.answer, minlength=rows.n_answers)
    assert per_answer.tolist() == [len(kcs) for _, kcs, _ in flat]


def test_answer_predictions_average_rows_and_fall_back_to_pybkt_default() -> None:
    rows = pybkt_bridge.PybktRows(
        order_id=np.arange(5),
        user_id=np.zeros(5, dtype=np.int64),
        kc=np.array([0, 0, 1, 2, 3]),
        correct=np.ones(5, dtype=np.int64),
        answer=np.array([0, 1, 1, 2, 3]),
        n_answers=4,
    )
    preds, n_unfitted = pybkt_bridge.answer_predictions(rows, np.array([0.9, 0.2, 0.6, np.nan, 0.3]))
    np.testing.assert_allclose(preds, [0.9, 0.4, pybkt_bridge.UNFITTED_PREDICTION, 0.3])
    assert n_unfitted == 1


def test_find_python_prefers_option_then_env_then_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pybkt_bridge, "DEFAULT_PYTHON", tmp_path / "missing" / "python")
    monkeypatch.delenv("PYBKT_PYTHON", raising=False)
    assert pybkt_bridge.find_python() is None
    monkeypatch.setenv("PYBKT_PYTHON", "/env/python")
    assert pybkt_bridge.find_python() == Path("/env/python")
    assert pybkt_bridge.find_python("/opt/python") == Path("/opt/python")


def test_setup_script_worker_and_default_env_are_found_from_the_repo_root() -> None:
    root = Path(__file__).resolve().parents[2]
    assert root == pybkt_bridge.REPO_ROOT
    assert root / ".venv-pybkt" / "bin" / "python" == pybkt_bridge.DEFAULT_PYTHON
    assert (root / pybkt_bridge.SETUP_SCRIPT).is_file()
    assert pybkt_bridge.WORKER.is_file()
    # The script finds the repository root from its own folder, as the bridge does.
    script = (root / pybkt_bridge.SETUP_SCRIPT).read_text()
    depth = len(Path(pybkt_bridge.SETUP_SCRIPT).parent.parts)
    assert '$(dirname "$0")/' + "/".join([".."] * depth) + '"' in script


def test_bench_row_says_how_to_set_up_pybkt_when_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pybkt_bridge, "DEFAULT_PYTHON", tmp_path / "missing" / "python")
    monkeypatch.delenv("PYBKT_PYTHON", raising=False)
    data = _small()
    report = bench.run_pybkt(data, data)
    assert report.n_test_answers == 0
    assert report.note.startswith("skipped") and pybkt_bridge.SETUP_SCRIPT in report.note


def test_bench_row_reports_a_broken_interpreter(tmp_path: Path) -> None:
    data = _small()
    report = bench.run_pybkt(data, data, python=str(tmp_path / "no-such-python"))
    assert report.n_test_answers == 0 and report.note.startswith("failed")


_PYTHON = pybkt_bridge.find_python()


@pytest.mark.skipif(
    _PYTHON is None or not _PYTHON.exists(),
    reason=f"no pyBKT environment (create it with `bash {pybkt_bridge.SETUP_SCRIPT}` or set PYBKT_PYTHON)",
)
def test_pybkt_end_to_end_predicts_each_answer_from_its_past() -> None:
    assert _PYTHON is not None
    train, test = _small(30, 12, seed=1), _small(4, 10, seed=2)
    result = pybkt_bridge.run_pybkt_worker(_PYTHON, train, test, num_fits=1)
    assert result.preds.shape == (test.n_observations,)
    assert np.all((result.preds > 0) & (result.preds < 1))
    assert result.n_unfitted == 0 and result.info["compiled_e_step"]
    # One step ahead: flipping a learner's last answer changes no prediction (the fit is on train).
    flipped = test.subset(range(len(test.seqs)))
    last = flipped.seqs[0]
    flipped.seqs[0] = type(last)(last.learner, last.items, last.kcs, last.correct.copy(), last.times)
    flipped.seqs[0].correct[-1] ^= 1
    again = pybkt_bridge.run_pybkt_worker(_PYTHON, train, flipped, num_fits=1)
    np.testing.assert_allclose(again.preds, result.preds)
    # ... while flipping its first answer changes the predictions after it on the same KC.
    flipped.seqs[0].correct[-1] ^= 1
    flipped.seqs[0].correct[0] ^= 1
    moved = pybkt_bridge.run_pybkt_worker(_PYTHON, train, flipped, num_fits=1)
    assert moved.preds[0] == pytest.approx(result.preds[0])
    assert not np.allclose(moved.preds[1 : len(last)], result.preds[1 : len(last)])
