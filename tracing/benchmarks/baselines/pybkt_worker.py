"""Fit pyBKT on a training CSV and predict a test CSV; runs inside the pyBKT environment.

    .venv-pybkt/bin/python tracing/benchmarks/baselines/pybkt_worker.py --train TRAIN.csv --test TEST.csv \
        --out PREDS.txt --info INFO.json [--seed 0] [--num-fits 5]

Started by ``tracing/benchmarks/baselines/pybkt_bridge.py``; imports nothing from this project, since that
environment has pyBKT, numpy<2 and pandas but not the project's dependencies. CSV columns are
pyBKT's defaults ``order_id,user_id,skill_name,correct``. PREDS.txt has one p(correct) per test row,
in the test file's row order: pyBKT's ``correct_predictions`` (from the rows of the same learner and
skill before it), or ``nan`` for a skill absent from the training data, which pyBKT cannot predict.
INFO.json has the timings and versions.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from importlib import metadata

import numpy as np
import pandas as pd
from pyBKT.fit import E_step
from pyBKT.models import Model


def _peak_rss_mb() -> float:
    # Linux carries ru_maxrss over from the parent through fork and exec, so it would report the
    # benchmark's own peak; VmHWM belongs to this program's memory only.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--info", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-fits", type=int, default=5)
    args = parser.parse_args()

    kinds = {"order_id": np.int64, "user_id": np.int64, "skill_name": str, "correct": np.int64}
    train = pd.read_csv(args.train, dtype=kinds)
    test = pd.read_csv(args.test, dtype=kinds)
    # pyBKT's defaults otherwise: one prior, learn, guess and slip per skill, no forgetting.
    model = Model(seed=args.seed, num_fits=args.num_fits)
    # Progress on stdout, which the bridge passes on; stderr is kept for the error message.
    print(f"  pybkt fitting {len(train)} rows, {train.skill_name.nunique()} skills", flush=True)
    t0 = time.perf_counter()
    model.fit(data=train)
    fit_seconds = time.perf_counter() - t0

    preds = np.full(len(test), np.nan)
    known = test[test.skill_name.isin(set(model.fit_model))]
    t0 = time.perf_counter()
    if len(known):
        # predict() returns the frame re-sorted by user; its index is still the test row number.
        out = model.predict(data=known.copy())
        preds[out.index.to_numpy()] = out["correct_predictions"].to_numpy(dtype=np.float64)
    predict_seconds = time.perf_counter() - t0
    np.savetxt(args.out, preds, fmt="%.17g")
    info = {
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "skills_fitted": len(model.fit_model),
        "test_rows_unfitted_skill": int(len(test) - len(known)),
        "num_fits": args.num_fits,
        "seed": args.seed,
        "compiled_e_step": str(E_step.__file__).endswith(".so"),
        "peak_rss_mb": _peak_rss_mb(),
        "versions": {p: metadata.version(p) for p in ("pyBKT", "numpy", "pandas", "scikit-learn")},
        "python": sys.version.split()[0],
    }
    with open(args.info, "w") as fh:
        json.dump(info, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
