#!/usr/bin/env bash
# Create the optional, separate environment in which the benchmark runs pyBKT 1.4.3.
#
#   bash tracing/benchmarks/baselines/setup_pybkt_env.sh [DIR]      # DIR defaults to .venv-pybkt at the repo root
#
# pyBKT 1.4.3 needs numpy<2 and scikit-learn<1.6 while the project pins numpy 2, so it cannot live
# in .venv. `python -m tracing.benchmarks --models pybkt` finds DIR/bin/python (or --pybkt-python /
# PYBKT_PYTHON) and runs tracing/benchmarks/baselines/pybkt_worker.py in it.
#
# pyBKT is built from its source release so that its C++/OpenMP E-step is compiled (the published
# wheel is the slow pure-Python fallback, and setup.py falls back to it silently when the compile
# fails, so the last step checks that the compiled modules are the ones imported). Needs gcc/g++ and
# the Python headers. Not part of CI: it takes minutes and the bench reports pyBKT as "not set up"
# without it.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../../.." && pwd)"
dir="${1:-$repo/.venv-pybkt}"
python="${PYTHON:-python3}"

start=$(date +%s)
"$python" -m venv "$dir"
# Keep the environment out of git whatever the repo's .gitignore says (venv does this itself from 3.13).
printf '*\n' >"$dir/.gitignore"
pip=("$dir/bin/python" -m pip install --disable-pip-version-check --no-input)
# Build tools and numpy first: pyBKT's setup.py imports numpy for its headers, so it is built
# without build isolation against exactly this numpy.
"${pip[@]}" "setuptools==75.8.0" "wheel==0.45.1" "numpy==1.26.4"
"${pip[@]}" "scipy==1.13.1" "scikit-learn==1.5.2" "pandas==2.2.3"
"${pip[@]}" --no-build-isolation --no-binary pyBKT "pyBKT==1.4.3"

# Check: the compiled E-step is used, and a toy fit and predict work.
"$dir/bin/python" - <<'EOF'
import numpy as np
import pandas as pd
from pyBKT.fit import E_step, predict_onestep_states
from pyBKT.models import Model

for mod in (E_step, predict_onestep_states):
    assert mod.__file__.endswith(".so"), f"{mod.__name__} is not the compiled extension: {mod.__file__}"
rng = np.random.default_rng(0)
rows = []
for user in range(40):
    known = False
    for step in range(12):
        known = known or rng.random() < 0.2
        correct = int(rng.random() < (0.9 if known else 0.25))
        rows.append({"order_id": len(rows), "user_id": user, "skill_name": "s", "correct": correct})
df = pd.DataFrame(rows)
model = Model(seed=0, num_fits=1)
model.fit(data=df)
pred = model.predict(data=df)["correct_predictions"].to_numpy()
assert len(pred) == len(df) and np.all((pred > 0) & (pred < 1)), pred
from importlib.metadata import version
print(*(f"{p} {version(p)}" for p in ("pyBKT", "numpy", "scikit-learn", "pandas")), sep=", ")
print("toy fit:", model.params().round(3).to_dict()["value"])
EOF
echo "pyBKT environment ready in $dir ($(( $(date +%s) - start )) s)"
