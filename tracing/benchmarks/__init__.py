"""Benchmarks, baselines and the simulator of the learner model: plain numpy/torch, no Django.

Nothing that runs in the tutor imports this package (a test proves ``tracing.psikt`` does not):

* ``bench``: the benchmark command, ``python -m tracing.benchmarks`` (or ``python -m
  tracing.benchmarks.bench``): next-answer AUC on public logs against BKT, pyBKT and DKT,
  parameter recovery on simulated learners, forecast latency;
* ``metrics``: AUC and log-loss as the benchmark scores them;
* ``baselines``: BKT, the pyBKT bridge and its worker, DKT;
* ``simulate``: learners drawn from the model's own generative process (recovery, tests, the
  planner's simulations).
"""
