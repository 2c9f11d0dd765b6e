"""PSI-KT-style Bayesian knowledge tracing: OU knowledge states over real time, per-learner traits
under population priors, prerequisite edges learned from the teacher's graph. Imports no Django and
nothing from ``tracing.benchmarks`` (a test proves both).

Modules: ``data`` (logs), ``model`` (pyro model and the differentiable filter), ``guide``, ``fit``
(SVI), ``online`` (numpy filter and predictions for requests), ``encoder`` (the history encoder) and
``sequence_net`` (its torch network), ``params`` (fitted parameters), ``normal`` (the normal cdf),
``timeunit`` (days). The generative process is simulated in ``tracing.benchmarks.simulate``.
"""
