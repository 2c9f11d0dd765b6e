from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tracing.benchmarks import bench
from tracing.benchmarks.metrics import auc
from tracing.psikt.online import MU_DRIFT


def _write_tsv(path: Path, n_learners: int = 30, n_answers: int = 24) -> None:
    rng = np.random.default_rng(0)
    lines = ["user_id\titem_id\ttimestamp\tcorrect\tskill_id"]
    for u in range(n_learners):
        ability = rng.normal()
        t = 1_000_000
        for _ in range(n_answers):
            skill = int(rng.integers(4))
            t += int(rng.exponential(3600))
            p = 1 / (1 + np.exp(-(ability + 0.5 * skill - 0.7)))
            lines.append(f"{u}\t{skill * 10 + int(rng.integers(3))}\t{t}\t{int(rng.random() < p)}\t{skill}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_bench_tsv_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "log.tsv"
    _write_tsv(data)
    out = tmp_path / "out.json"
    models = "psikt,bkt,pybkt,dkt"
    assert bench.main(["--format", "tsv", str(data), "--models", models, "--steps", "15", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    by_name = {m["name"]: m for m in report["models"]}
    assert set(by_name) == {"psikt", "bkt", "pybkt", "dkt"}
    for name in ("psikt", "bkt", "dkt"):
        m = by_name[name]
        assert m["n_test_answers"] == report["data"]["test_answers"]
        assert 0.0 <= m["auc"] <= 1.0
        assert m["open_loop_n"] > 0 and 0.0 <= m["open_loop_accuracy"] <= 1.0
        assert m["update_ms_p95"] > 0
    # Ability differs strongly between simulated learners, so tracing beats chance clearly.
    assert by_name["psikt"]["auc"] > 0.6
    text = capsys.readouterr().out
    assert "AUC" in text and "pybkt" in text


def test_bench_ensemble_and_predictions_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "log.tsv"
    _write_tsv(data)
    out, csv_out = tmp_path / "out.json", tmp_path / "preds.csv"
    argv = ["--format", "tsv", str(data), "--models", "psikt,bkt", "--steps", "10", "--ensemble"]
    assert bench.main([*argv, "--json", str(out), "--predictions", str(csv_out)]) == 0
    report = json.loads(out.read_text())
    by_name = {m["name"]: m for m in report["models"]}
    assert set(by_name) == {"psikt", "bkt", "psikt+bkt"}
    assert "preds" not in by_name["psikt"]
    ens = by_name["psikt+bkt"]
    assert ens["n_test_answers"] == report["data"]["test_answers"]
    assert ens["note"].startswith("diagnostic")
    assert ens["fit_seconds"] == pytest.approx(by_name["psikt"]["fit_seconds"] + by_name["bkt"]["fit_seconds"])

    with csv_out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["learner", "position", "kcs", "correct", "p_psikt", "p_bkt"]
    assert len(rows) == report["data"]["test_answers"]
    # The file lines up with the answers: each column rescored from it gives the model's own AUC,
    # and the mean logit of the two columns gives the ensemble's.
    y = np.array([int(r["correct"]) for r in rows])
    cols = {name: np.array([float(r["p_" + name]) for r in rows]) for name in ("psikt", "bkt")}
    for name, p in cols.items():
        assert auc(y, p) == pytest.approx(by_name[name]["auc"], abs=1e-6)
    logit = {name: np.log(p / (1 - p)) for name, p in cols.items()}
    mean = 1 / (1 + np.exp(-(logit["psikt"] + logit["bkt"]) / 2))
    assert auc(y, mean) == pytest.approx(ens["auc"], abs=1e-6)
    first = [r for r in rows if r["position"] == "0"]
    assert len({r["learner"] for r in first}) == len(first) == report["data"]["test_learners"]
    assert "psikt+bkt" in capsys.readouterr().out


def test_bench_refuses_an_output_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "log.tsv"
    _write_tsv(data, n_learners=5, n_answers=4)
    missing = tmp_path / "no-such-folder" / "preds.csv"
    with pytest.raises(SystemExit) as exc:
        bench.main(["--format", "tsv", str(data), "--models", "bkt", "--predictions", str(missing)])
    assert exc.value.code == 2
    assert "--predictions" in capsys.readouterr().err and not missing.parent.exists()


def test_bench_ensemble_needs_two_models() -> None:
    lone = bench.ModelReport("bkt", preds=np.array([0.5]))
    report = bench.run_ensemble([lone], bench.Dataset([], [], [], []))
    assert report.n_test_answers == 0 and report.note.startswith("skipped")


@pytest.mark.slow
def test_bench_recovery_mode(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    args = [
        "--recovery",
        "--recovery-learners",
        "40",
        "--recovery-answers",
        "30",
        "--recovery-kcs",
        "4",
        "--steps",
        "20",
        "--recovery-gain",
        "0.1,0.4",
        "--recovery-gap-spread",
        "1.0",
        "--recovery-sigma-spread",
        "0.8",
    ]
    assert bench.main([*args, "--json", str(out)]) == 0
    rec = json.loads(out.read_text())["recovery"]
    # The simulated learners learn from practice, and the report says how much.
    assert rec["practice_gain_true"] == [0.1, 0.4]
    assert len(rec["practice_gain_fitted_mean"]) == 2
    assert set(rec["trait_correlation"]) == {"log_alpha", "mu", "log_sigma", "logit_gamma"}
    assert rec["trait_correlation"]["mu"] > 0.5
    # Each trait's error and true spread come with its correlation; the volatility's spread is the
    # one asked for (40 draws of log-sd 0.8), well above the simulator's default of 0.3.
    assert set(rec["trait_rmse"]) == set(rec["trait_true_sd"]) == set(rec["trait_correlation"])
    assert all(v >= 0.0 for v in rec["trait_rmse"].values())
    assert 0.55 < rec["trait_true_sd"]["log_sigma"] < 1.1
    assert 0.0 <= rec["edge_auc_all_pairs"] <= 1.0


def test_bench_forecast_latency_includes_the_encoder(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--predict-kcs", "30", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "forecast of 30 KCs" in out and "history encoder 2 x 64 units" in out
    lat = bench.run_predict_latency(n_kcs=30, seed=1, repeats=5)
    assert 0 < lat["forecast_ms_p50"] <= lat["forecast_ms_max"]
    assert 0 < lat["update_ms_p50"] <= lat["update_ms_p95"]


def test_bench_scores_a_moving_level_against_the_fixed_one(tmp_path: Path) -> None:
    data = tmp_path / "log.tsv"
    _write_tsv(data, n_learners=20, n_answers=30)
    out = tmp_path / "out.json"
    args = ["--format", "tsv", str(data), "--models", "psikt", "--no-encoder", "--steps", "5"]
    assert bench.main([*args, "--mu-drift", "0,0.05", "--json", str(out)]) == 0
    psikt = json.loads(out.read_text())["models"][0]
    fixed, moving = psikt["extra"]["mu_drift"]
    # Drift 0 (the fit's own model) is the reference; a drift changes the predictions, and the
    # difference is measured on the same answers.
    assert fixed["mu_drift"] == 0.0 and moving["mu_drift"] == 0.05
    assert fixed["log_loss_diff"] == 0.0 and fixed["log_loss_diff_se"] == 0.0
    assert moving["log_loss"] - fixed["log_loss"] == pytest.approx(moving["log_loss_diff"], abs=1e-6)
    assert moving["log_loss_diff"] != 0.0 and moving["log_loss_diff_se"] > 0.0
    # The report's own row is the serving filter's: the level drifts by default.
    assert psikt["extra"]["mu_drift_default"] == MU_DRIFT > 0.0
    assert bench.main([*args, "--mu-drift", f"0,{MU_DRIFT}", "--json", str(out)]) == 0
    psikt = json.loads(out.read_text())["models"][0]
    assert psikt["extra"]["mu_drift"][1]["auc"] == pytest.approx(psikt["auc"])
    assert psikt["extra"]["mu_drift"][1]["log_loss"] == pytest.approx(psikt["log_loss"], abs=1e-6)
