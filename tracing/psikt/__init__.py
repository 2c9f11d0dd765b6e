"""PSI-KT-style Bayesian knowledge tracing: OU knowledge states over real time, per-learner traits
under population priors, prerequisite edges learned from the teacher's graph. Imports no Django.

Modules: ``data`` (logs), ``model`` (pyro model and the differentiable filter), ``guide``, ``fit``
(SVI), ``online`` (numpy filter and predictions for requests), ``simulate`` (generative process).
"""
