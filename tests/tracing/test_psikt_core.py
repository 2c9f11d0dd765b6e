"""The learner model without Django: loaders, filter math, fit, simulator."""

# ruff: noqa: RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tracing.benchmarks.simulate import (
    Population,
    SimGraph,
    SimItem,
    Simulator,
    Traits,
    make_items,
    random_graph,
    simulate,
)
from tracing.psikt.data import (
    AssistmentsFormatError,
    assistments_answer,
    assistments_columns,
    load_pykt_csv,
    load_tsv,
    read_assistments,
    split_by_source,
    split_learners,
)
from tracing.psikt.online import MU_DRIFT, LearnerStates, OnlineModel, forecast, observe, practise
from tracing.psikt.params import PsiktParams

ROOT = Path(__file__).resolve().parents[2]


def _import_without_django_settings(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_learner_model_imports_no_django_and_no_benchmark() -> None:
    # Every module of tracing.psikt, found on disk so that a new one is covered too.
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import tracing.psikt as pkg\n"
        "names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__, 'tracing.psikt.'))\n"
        "for name in names: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'django' or m.startswith('tracing.benchmarks'))\n"
        "print(json.dumps({'imported': names, 'bad': bad}))\n"
    )
    out = _import_without_django_settings(code)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"tracing.psikt.online", "tracing.psikt.fit", "tracing.psikt.encoder", "tracing.psikt.data"} <= set(
        result["imported"]
    )
    assert result["bad"] == []


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_runtime_code_names_no_benchmark_even_in_a_late_import() -> None:
    # The subprocess test above sees what importing runs; an import inside a function is only
    # seen in the source.
    runtime = [p for p in (ROOT / "tracing").rglob("*.py") if "benchmarks" not in p.relative_to(ROOT).parts]
    assert ROOT / "tracing" / "services.py" in runtime and ROOT / "tracing" / "psikt" / "online.py" in runtime
    offending = {
        str(p.relative_to(ROOT)): sorted(m for m in _imported_modules(p) if m.startswith("tracing.benchmarks"))
        for p in runtime
    }
    assert {k: v for k, v in offending.items() if v} == {}
    psikt = sorted((ROOT / "tracing" / "psikt").glob("*.py"))
    assert {str(p.name): sorted(m for m in _imported_modules(p) if m.split(".")[0] == "django") for p in psikt} == {
        str(p.name): [] for p in psikt
    }


def test_benchmarks_run_without_django() -> None:
    code = (
        "import sys; import tracing.benchmarks.bench, tracing.benchmarks.simulate, tracing.benchmarks.baselines.dkt,"
        " tracing.benchmarks.baselines.pybkt_bridge;"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'"
    )
    out = _import_without_django_settings(code)
    assert out.returncode == 0, out.stderr


def test_online_filter_imports_no_torch() -> None:
    code = "import sys; import tracing.psikt.online; assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_load_pykt_csv_keeps_train_and_test_apart(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    train.write_text('fold,uid,concepts,responses\n0,1,"3,3,4_5","1,0,1"\n1,2,"4,-1","0,-1"\n')
    test.write_text('fold,uid,concepts,responses,cidxs\n-1,1,"5,3","1,1","0,1"\n')
    both = load_pykt_csv([train, test])
    te, tr = split_by_source(both, "test")
    assert [len(s) for s in tr.seqs] == [3, 1]  # pyKT padding -1 dropped
    assert [len(s) for s in te.seqs] == [2]
    first = tr.seqs[0]
    assert first.kcs.shape == (3, 2)
    assert [both.kcs[k] for k in first.kcs[2] if k >= 0] == ["4", "5"]  # multi-concept answer
    assert first.times.tolist() == [0.0, 1.0, 2.0]  # order is time


def test_load_tsv_sorts_by_time_and_uses_days(tmp_path: Path) -> None:
    path = tmp_path / "log.tsv"
    path.write_text(
        "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n7\ta\t172800\t1\t1\n7\tb\t86400\t0\t2\n8\ta\t0\t1\t1\n"
    )
    data = load_tsv(path)
    seq = data.seqs[0]
    assert [data.items[i] for i in seq.items] == ["b", "a"]
    assert seq.times.tolist() == [1.0, 2.0]
    train, test = split_learners(data, test_fraction=0.5, seed=0)
    assert len(train.seqs) + len(test.seqs) == 2


def test_assistments_rows_are_read_one_way(tmp_path: Path) -> None:
    # Header in another case and order, with a column of its own; a BOM, as spreadsheet exports add.
    path = tmp_path / "log.tsv"
    path.write_text(
        "\ufeffSkill_ID\tuser_id\tExtra\titem_id\tcorrect\ttimestamp\n"
        "3_5\t7\tx\ta\t1\t86400\n"
        "nan\t7\tx\tb\t0\t172800\n"
        "\t8\tx\ta\t1.0\t0\n"
        "\n"
        "4,NULL\t8\tx\tc\t0\t43200.5\n",
        encoding="utf-8",
    )
    rows = list(read_assistments(path))
    assert [(r.line, r.learner, r.item, r.correct, r.kcs) for r in rows] == [
        (2, "7", "a", True, ("3", "5")),
        (3, "7", "b", False, ()),
        (4, "8", "a", True, ()),
        (6, "8", "c", False, ("4",)),
    ]
    assert rows[0].at == datetime(1970, 1, 2, tzinfo=UTC) and rows[0].days == 1.0
    assert rows[3].days == pytest.approx(43200.5 / 86400)
    assert rows[0].key == "\x1f".join(["7", "a", "86400", "1", "3_5"])
    # The benchmark's loader sees exactly these answers and KCs.
    data = load_tsv(path)
    by_learner = {data.learners[s.learner]: s for s in data.seqs}
    assert sorted(data.kcs) == ["3", "4", "5"]
    first = by_learner["7"]
    assert [data.kcs[k] for k in first.kcs[0] if k >= 0] == ["3", "5"] and list(first.kcs[1]) == [-1, -1]
    assert by_learner["8"].times.tolist() == [0.0, pytest.approx(43200.5 / 86400)]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("7\ta\tsoon\t1\t3", "line 2: timestamp 'soon' is not a number of seconds."),
        ("7\ta\tnan\t1\t3", "line 2: timestamp 'nan' is not a number of seconds."),
        ("7\ta\t5\t0.5\t3", "line 2: correct must be 0 or 1, got '0.5'."),
        ("7\ta\t5\tyes\t3", "line 2: correct must be 0 or 1, got 'yes'."),
        ("\ta\t5\t1\t3", "line 2: user_id and item_id must not be empty."),
        ("7\ta\t5\t1", "line 2: expected 5 tab-separated fields, got 4."),
    ],
)
def test_assistments_problems_name_the_line(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "log.tsv"
    path.write_text("user_id\titem_id\ttimestamp\tcorrect\tskill_id\n" + row + "\n")
    with pytest.raises(AssistmentsFormatError) as err:
        load_tsv(path)
    assert str(err.value) == problem


def test_assistments_header_names_missing_columns() -> None:
    with pytest.raises(AssistmentsFormatError, match=r"^line 1: missing ASSISTments column\(s\): timestamp, skill_id "):
        assistments_columns(["user_id", "item_id", "correct"])
    columns = assistments_columns([" CORRECT ", "skill_id", "timestamp", "item_id", "user_id"])
    answer = assistments_answer(["1", "9", "60", "i", "u"], columns, line=12)
    read = (answer.line, answer.learner, answer.item, answer.seconds, answer.correct, answer.kcs)
    assert read == (12, "u", "i", 60.0, True, ("9",))


def _one_kc_model(
    alpha: float, sigma: float, mu: float = 0.0, mu_sd: float = 1e-3
) -> tuple[OnlineModel, LearnerStates]:
    model = OnlineModel.default(["k"])
    model.population.update(mu_loc=mu, mu_scale=mu_sd)
    model.mu_drift = 0.0  # μ known and fixed: the KC's own OU process alone
    traits = np.array([[math.log(alpha), math.log(sigma), 0.0]])
    return model, LearnerStates.new(model, traits)


def test_forgetting_curve_is_the_exact_ou_step() -> None:
    alpha, sigma = 0.5, 0.8
    model, st = _one_kc_model(alpha, sigma)
    observe(model, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
    after = forecast(model, st, 0, np.array([0]), 0.0)
    z0, v0 = float(after.mean[0]), float(after.sd[0] ** 2)
    assert z0 > 0.0  # a correct answer raises the state above μ = 0
    for dt in (0.5, 2.0, 10.0):
        fc = forecast(model, st, 0, np.array([0]), dt)
        r = math.exp(-alpha * dt)
        assert fc.mean[0] == pytest.approx(r * z0, abs=1e-4)
        assert fc.sd[0] ** 2 == pytest.approx(r * r * v0 + sigma**2 * (1 - r * r) / (2 * alpha), abs=1e-4)
    # Far in the future only the stationary law around μ is left: mastery decays towards it.
    far = forecast(model, st, 0, np.array([0]), 1e4)
    assert far.mean[0] == pytest.approx(0.0, abs=1e-6)
    assert forecast(model, st, 0, np.array([0]), 1.0).mastery[0] > far.mastery[0]


def test_negative_elapsed_time_counts_as_zero() -> None:
    model, st = _one_kc_model(0.5, 0.8)
    observe(model, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([1.0]), np.array([5.0]))
    now = forecast(model, st, 0, np.array([0]), 5.0)
    past = forecast(model, st, 0, np.array([0]), 1.0)
    assert past.mean[0] == pytest.approx(now.mean[0])
    assert past.sd[0] == pytest.approx(now.sd[0])


def test_answers_move_ability_and_so_other_kcs() -> None:
    model = OnlineModel.default(["a", "b"])
    st = LearnerStates.new(model, model.population_traits()[None, :])
    before = forecast(model, st, 0, np.array([0, 1]), 0.0)
    for t in range(5):
        observe(model, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([1.0]), np.array([float(t)]))
    after = forecast(model, st, 0, np.array([0, 1]), 5.0)
    assert after.mean[0] > before.mean[0]
    # KC "b" was never practised, but the learner's level μ rose, and with it the belief about b.
    assert after.mean[1] > before.mean[1]
    assert after.mean[0] > after.mean[1]


def test_multi_kc_item_updates_each_kc() -> None:
    model = OnlineModel.default(["a", "b", "c"])
    st = LearnerStates.new(model, model.population_traits()[None, :])
    observe(model, st, np.array([0]), np.array([[0, 1]]), np.array([0.0]), np.array([0.0]), np.array([0.0]))
    assert st.seen[0, :3].tolist() == [True, True, False]
    fc = forecast(model, st, 0, np.array([0, 1, 2]), 0.0)
    assert fc.mean[0] < fc.mean[2] and fc.mean[1] < fc.mean[2]


@pytest.mark.parametrize("dynamics", ["plain", "practice"])
def test_torch_and_numpy_filters_agree(dynamics: str) -> None:
    torch = pytest.importorskip("torch")
    from tracing.psikt.fit import make_batches
    from tracing.psikt.model import run_filter

    rng = np.random.default_rng(3)
    graph = random_graph(5, 5, rng)
    sim = simulate(graph, 6, make_items(5, 2, rng), n_answers=25, seed=3)
    data = sim.dataset
    n_kcs = len(data.kcs)
    cand = np.array([[j for j in range(n_kcs) if j != k] for k in range(n_kcs)])
    edge_logit = rng.normal(-1, 1, cand.shape)
    offsets = rng.normal(0, 0.5, len(data.items))
    traits = np.column_stack([rng.normal(-1, 0.3, 6), rng.normal(-0.3, 0.2, 6), rng.normal(0, 1, 6)])
    plain = dynamics == "plain"
    gains = None if plain else rng.normal([0.1, 0.4], 0.2, (n_kcs, 2))
    params = PsiktParams(
        kcs=data.kcs,
        items=data.items,
        learners=data.learners,
        item_kcs=[list(x) for x in data.item_kcs],
        population={
            "mu_loc": 0.2,
            "mu_scale": 0.9,
            "log_alpha_loc": -1.0,
            "log_sigma_loc": -0.3,
            "logit_gamma_loc": 0.0,
        },
        item_offset=offsets,
        item_offset_sd=np.full(len(offsets), 0.1),
        edge_index=cand,
        edge_logit=edge_logit,
        learner_loc=traits,
        learner_sd=np.full((6, 3), 0.1),
        mu_mean=np.zeros(6),
        mu_sd=np.ones(6),
        kc_gain=gains,
    )
    batch = make_batches(data.seqs, [s.learner for s in data.seqs], n_kcs, batch_learners=16, batch_answers=10**6)[0]
    with torch.no_grad():
        _, p_torch, _ = run_filter(
            batch,
            torch.as_tensor(traits[batch.idx.numpy()], dtype=torch.float32),
            torch.tensor(0.2),
            torch.tensor(0.9),
            torch.as_tensor(offsets, dtype=torch.float32),
            torch.as_tensor(edge_logit, dtype=torch.float32),
            torch.as_tensor(cand),
            gains=None if gains is None else torch.as_tensor(gains, dtype=torch.float32),
        )
    mask = batch.mask.numpy()

    def replay(model: OnlineModel) -> np.ndarray:
        """The online filter's predictions, answer by answer through the batch."""
        st = LearnerStates.new(model, traits[batch.idx.numpy()], 0.2, 0.9)
        p = np.zeros(mask.shape)
        for t in range(mask.shape[1]):
            rows = np.nonzero(mask[:, t])[0]
            p[rows, t] = observe(
                model,
                st,
                rows,
                batch.kcs[rows, t].numpy(),
                offsets[batch.items[rows, t].numpy()],
                batch.y[rows, t].numpy(),
                batch.times[rows, t].numpy().astype(float),
            )
        return p

    # The fit's model holds μ fixed; the serving filter's drift of μ (MU_DRIFT) is off here.
    p_np = replay(replace(OnlineModel.from_params(params), mu_drift=0.0))
    assert np.abs(p_np[mask] - p_torch.numpy()[mask]).max() < 1e-4
    if not plain:
        # The practice term is live: without it the predictions differ.
        p_bare = replay(replace(OnlineModel.from_params(
            PsiktParams.from_dict({**params.to_dict(), "kc_gain": np.zeros((n_kcs, 2))})), mu_drift=0.0))
        assert np.abs(p_bare[mask] - p_np[mask]).max() > 0.05


def test_practice_gain_raises_the_practised_kc_only() -> None:
    model = OnlineModel.default(["a", "b"])
    model.population.update(mu_scale=1e-3)  # μ known: only the practised KC's own state can move
    learned = OnlineModel.default(["a", "b"])
    learned.population.update(mu_scale=1e-3)
    learned.kc_gain = np.array([[0.2, 0.5], [0.2, 0.5], [0.0, 0.0]])
    out = {}
    for name, m in (("none", model), ("gain", learned)):
        st = LearnerStates.new(m, m.population_traits()[None, :])
        observe(m, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
        out[name] = forecast(m, st, 0, np.array([0, 1]), 0.0)
    # A correct attempt raises KC a by its gain on top of what the answer revealed; b is untouched.
    assert out["gain"].mean[0] - out["none"].mean[0] == pytest.approx(0.5, abs=1e-6)
    assert out["gain"].mean[1] == pytest.approx(out["none"].mean[1], abs=1e-6)
    # ... and the gain is forgotten at the learner's rate α like any deviation from the target.
    st = LearnerStates.new(learned, learned.population_traits()[None, :])
    observe(learned, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([0.0]), np.array([0.0]))
    alpha = math.exp(learned.population["log_alpha_loc"])
    z0 = forecast(learned, st, 0, np.array([0]), 0.0).mean[0]
    assert forecast(learned, st, 0, np.array([0]), 3.0).mean[0] == pytest.approx(z0 * math.exp(-3 * alpha), abs=1e-4)


def test_unseen_practice_moves_by_the_expected_gain() -> None:
    model = OnlineModel.default(["a"])
    model.kc_gain = np.array([[0.2, 0.6], [0.0, 0.0]])
    model.mu_drift = 0.0  # the variance below is the gain's alone
    st = LearnerStates.new(model, model.population_traits()[None, :])
    before = forecast(model, st, 0, np.array([0]), 0.0)
    p = practise(model, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([0.0]))
    after = forecast(model, st, 0, np.array([0]), 0.0)
    assert p[0] == pytest.approx(before.p_correct[0], abs=1e-6)  # the attempt's own prediction
    expected = p[0] * 0.6 + (1 - p[0]) * 0.2
    assert after.mean[0] - before.mean[0] == pytest.approx(expected, abs=1e-6)
    # Not knowing the answer leaves the gain uncertain: the variance grows by p(1-p)(0.6-0.2)².
    assert after.sd[0] ** 2 - before.sd[0] ** 2 == pytest.approx(p[0] * (1 - p[0]) * 0.16, abs=1e-6)
    assert st.seen[0, 0] and not st.seen[0, 1]


def test_params_round_trip_keeps_gains_and_reads_old_fits() -> None:
    params = PsiktParams(
        kcs=["a", "b"],
        items=["i"],
        learners=[],
        item_kcs=[[0]],
        population={"mu_loc": 0.0},
        item_offset=np.zeros(1),
        item_offset_sd=np.ones(1),
        edge_index=np.full((2, 1), -1),
        edge_logit=np.zeros((2, 1)),
        learner_loc=np.zeros((0, 3)),
        learner_sd=np.zeros((0, 3)),
        mu_mean=np.zeros(0),
        mu_sd=np.zeros(0),
        kc_gain=np.array([[0.1, 0.3], [-0.2, 0.6]]),
    )
    data = params.to_dict()
    assert np.allclose(PsiktParams.from_dict(data).gains(), [[0.1, 0.3], [-0.2, 0.6]])
    del data["kc_gain"]  # a fit stored before practice was modelled
    assert np.array_equal(PsiktParams.from_dict(data).gains(), np.zeros((2, 2)))


def test_simulator_steps_one_answer_at_a_time() -> None:
    graph = SimGraph(["a", "b"], [(0, 1, 1.0)])
    items = [SimItem("ia", (0,), 0.0), SimItem("ib", (1,), 0.0)]
    sim = Simulator(graph, items, seed=1)
    strong = sim.new_learner(Traits(alpha=0.1, mu=3.0, sigma=0.3, gamma=0.5))
    weak = sim.new_learner(Traits(alpha=0.1, mu=-3.0, sigma=0.3, gamma=0.5))
    assert sim.p_correct(strong, 0, 0.0) > 0.9 > 0.1 > sim.p_correct(weak, 0, 0.0)
    answers = [sim.answer(strong, i % 2, float(i)) for i in range(20)]
    assert sum(answers) >= 15
    assert len(sim.learners[strong].history) == 20
    # The prerequisite edge raises b's target by γ·w·z_a: b's state sits above μ for this learner.
    assert sim.states(strong)[1] > 3.0


def test_simulated_practice_truly_improves_the_learner() -> None:
    graph = SimGraph(["a", "b"], [])
    items = [SimItem("ia", (0,), 0.0), SimItem("ib", (1,), 0.0)]
    traits = Traits(alpha=0.01, mu=-1.0, sigma=0.01, gamma=0.5)
    gained, still = Simulator(graph, items, seed=2, practice_gain=(0.2, 0.4)), Simulator(graph, items, seed=2)
    for sim in (gained, still):
        lid = sim.new_learner(traits)
        for t in range(10):
            sim.answer(lid, 0, 0.1 * t)
    # Ten attempts at 0.2-0.4 each lift KC a by 2-4 (barely forgotten at α = 0.01); b is untouched.
    assert 2.0 - 0.3 < gained.states(0)[0] - traits.mu < 4.0 + 0.3
    assert abs(still.states(0)[0] - traits.mu) < 0.3  # the default: practice only reveals
    assert gained.p_correct(0, 0, 1.0) > still.p_correct(0, 0, 1.0) + 0.3
    assert gained.p_correct(0, 1, 1.0) == pytest.approx(still.p_correct(0, 1, 1.0), abs=0.05)
    # The gain is forgotten over time like any deviation from the learner's level.
    assert gained.p_correct(0, 0, 1000.0) < gained.p_correct(0, 0, 1.0) - 0.3


def test_simulate_records_true_traits() -> None:
    rng = np.random.default_rng(0)
    res = simulate(random_graph(4, 3, rng), 5, make_items(4, 2, rng), n_answers=12, seed=0, population=Population())
    assert len(res.traits) == 5
    assert res.dataset.n_observations == 60
    assert all(np.all(np.diff(s.times) >= 0) for s in res.dataset.seqs)


@pytest.mark.slow
def test_fit_learns_and_warm_starts() -> None:
    from tracing.psikt.fit import FitConfig, fit

    rng = np.random.default_rng(0)
    graph = random_graph(4, 3, rng)
    res = simulate(graph, 60, make_items(4, 2, rng), n_answers=30, seed=0)
    teacher = [(graph.kcs[j], graph.kcs[k], 1.0) for j, k, _ in graph.edges]
    first = fit(res.dataset, prior_edges=teacher, config=FitConfig(steps=40, batch_windows=32, lr=0.05))
    assert first.steps == 40
    early = float(np.mean(first.losses[:5]))
    late = float(np.mean(first.losses[-5:]))
    assert late < early
    p = first.params
    # Ability is learned per learner: the filter's μ tracks the true μ.
    order = [p.index("learners")[k] for k in res.dataset.learners]
    true_mu = np.array([t.mu for t in res.traits])
    assert np.corrcoef(true_mu, p.mu_mean[order])[0, 1] > 0.6
    # Teacher edges start strong and are readable.
    assert {(a, b) for a, b, _ in p.learned_edges(0.5)} >= {(a, b) for a, b, _ in teacher[:1]}
    restored = PsiktParams.from_dict(p.to_dict())
    assert np.allclose(restored.strengths(), p.strengths(), atol=1e-4)
    warm = fit(res.dataset, config=FitConfig(steps=5, batch_windows=32), warm_start=restored)
    # Warm start continues from the previous optimum instead of the prior.
    assert np.mean(warm.losses) < early
    assert warm.params.population["mu_loc"] == pytest.approx(p.population["mu_loc"], abs=0.3)


@pytest.mark.slow
def test_fit_learns_practice_gains() -> None:
    from tracing.psikt.fit import FitConfig, fit

    rng = np.random.default_rng(1)
    graph = random_graph(4, 3, rng)
    items = make_items(4, 2, rng)
    truth = (0.1, 0.6)
    res = simulate(graph, 80, items, n_answers=40, seed=1, practice_gain=truth)
    out = fit(res.dataset, config=FitConfig(steps=80, batch_windows=40, lr=0.05))
    wrong, correct = out.params.gains().mean(0)
    # Learning from a correct attempt is found, and is larger than from a wrong one (as simulated).
    assert 0.25 < correct < 1.2
    assert wrong < correct - 0.15
    assert out.params.population["gain_correct_loc"] > 0.25


def test_mu_drift_widens_the_level_after_each_answer_only() -> None:
    fixed = replace(OnlineModel.default(["a", "b"]), mu_drift=0.0)
    moving = replace(fixed, mu_drift=0.05)
    out = {}
    for name, m in (("fixed", fixed), ("moving", moving)):
        st = LearnerStates.new(m, m.population_traits()[None, :])
        p = observe(m, st, np.array([0]), np.array([[0]]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
        out[name] = (p[0], st)
    # The first prediction is the same (the prior is the fit's); the answer's update is the same;
    # only afterwards does the level's variance grow by the drift, and every KC's with it.
    assert out["moving"][0] == pytest.approx(out["fixed"][0])
    assert out["moving"][1].m[0] == pytest.approx(out["fixed"][1].m[0])
    assert out["moving"][1].v[0] - out["fixed"][1].v[0] == pytest.approx(0.05)
    fc_fixed = forecast(fixed, out["fixed"][1], 0, np.array([1]), 0.0)
    fc_moving = forecast(moving, out["moving"][1], 0, np.array([1]), 0.0)
    assert fc_moving.sd[0] ** 2 - fc_fixed.sd[0] ** 2 == pytest.approx(0.05)
    # An unseen attempt moves it too.
    st = out["moving"][1]
    v = float(st.v[0])
    practise(moving, st, np.array([0]), np.array([[1]]), np.array([0.0]), np.array([1.0]))
    assert st.v[0] == pytest.approx(v + 0.05)
    assert moving.with_kcs(["c"]).mu_drift == 0.05


def test_a_moving_level_follows_a_learner_whose_level_moves() -> None:
    """A simulated learner whose level μ climbs from the population's 0 to 3 over 600 answers (on
    items that test only the level): with the level drifting by the serving default ``MU_DRIFT``,
    the filter's p(correct) ends closer to the truth than with μ fixed, which after hundreds of
    answers barely moves."""
    rng = np.random.default_rng(0)
    fixed = replace(OnlineModel.default(["k"]), mu_drift=0.0)
    fixed.population.update(mu_loc=0.0, mu_scale=1.0)
    moving = replace(fixed, mu_drift=MU_DRIFT)
    n = 600
    level = np.linspace(0.0, 3.0, n)
    truth = 1 / (1 + np.exp(-level))
    y = (rng.random(n) < truth).astype(float)
    preds = {}
    for name, m in (("fixed", fixed), ("moving", moving)):
        # Fast forgetting, small volatility: the KC state is the level plus a little noise.
        st = LearnerStates.new(m, np.array([[math.log(50.0), math.log(0.5), 0.0]]))
        one = (np.array([0]), np.array([[0]]), np.array([0.0]))
        preds[name] = np.array([observe(m, st, *one, np.array([y[i]]), np.array([float(i)]))[0] for i in range(n)])
    last = slice(n - 200, n)
    err = {name: float(np.mean(np.abs(p[last] - truth[last]))) for name, p in preds.items()}
    assert err["moving"] < 0.7 * err["fixed"], err
