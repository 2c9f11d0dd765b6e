"""Learner-model data: the answers it learns from, each learner's current knowledge state and
traits, and the fits that produced the population parameters.

The numbers here are written by ``tracing.services`` only; the model itself lives in
``tracing.psikt`` and never sees the ORM.
"""

# ruff: noqa: RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

from django.conf import settings
from django.db import models


class TracingFit(models.Model):
    """One SVI fit of a course's learner model (versions increase per course)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="tracing_fits")
    version = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    metrics = models.JSONField(default=dict, blank=True)
    # PsiktParams.to_dict(): population, item offsets, edge strengths, per-learner traits, keyed by
    # KC/item/learner ids as strings. Loaded once per process per fit (see services).
    params = models.JSONField(default=dict, blank=True)
    n_observations = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["course", "-version"]
        constraints = [models.UniqueConstraint(fields=["course", "version"], name="unique_fit_version")]

    def __str__(self) -> str:
        return f"{self.course} fit v{self.version} ({self.status})"


class Observation(models.Model):
    """One answer: the learner model's training data. Written once per ``attempt_id``."""

    class Source(models.TextChoices):
        TUTOR = "tutor", "Tutor"
        IMPORT = "import", "Imported log"

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracing_observations")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="tracing_observations")
    item = models.ForeignKey(
        "content.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="tracing_observations"
    )
    item_ref = models.CharField(
        max_length=200, blank=True, help_text="Item identifier in an imported log (when there is no Item)."
    )
    kcs = models.JSONField(default=list, blank=True, help_text="Ids of the knowledge components answered.")
    correct = models.BooleanField()
    at = models.DateTimeField(db_index=True)
    attempt_id = models.CharField(max_length=200, unique=True, help_text="Idempotency key.")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.TUTOR)
    # The outcome returned when the answer was recorded, so a repeated call returns it unchanged.
    p_correct_before = models.FloatField(null=True, blank=True)
    mastery_after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["course", "learner", "at"], name="tracing_obs_course_learner_at")]

    def __str__(self) -> str:
        return (
            f"{self.learner} {'✓' if self.correct else '✗'} {self.item_ref or self.item_id} @ {self.at:%Y-%m-%d %H:%M}"
        )


class LearnerTraits(models.Model):
    """A learner's traits in one course, in natural units, with posterior standard deviations.

    α, σ and γ are held at the last fit; μ (the learner's long-term level) is also refined by every
    answer through the online filter, so ``mu_mean``/``mu_sd`` are always current.
    """

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracing_traits")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="tracing_traits")
    fit = models.ForeignKey(TracingFit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    alpha_mean = models.FloatField(help_text="Forgetting (mean-reversion) rate per day.")
    alpha_sd = models.FloatField()
    mu_mean = models.FloatField(help_text="Long-term level (logit scale).")
    mu_sd = models.FloatField()
    sigma_mean = models.FloatField(help_text="Volatility.")
    sigma_sd = models.FloatField()
    gamma_mean = models.FloatField(help_text="Prerequisite sensitivity in (0, 1).")
    gamma_sd = models.FloatField()
    # Unconstrained posterior (log α, log σ, logit γ) loc/sd, which the filter uses.
    raw = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "learner traits"
        constraints = [models.UniqueConstraint(fields=["learner", "course"], name="unique_traits_per_course")]

    def __str__(self) -> str:
        return f"{self.learner} in {self.course}"


class LearnerKCState(models.Model):
    """The filter's Gaussian belief about one learner's knowledge of one KC.

    ``mean``/``var`` are the state as of ``updated_at`` (for reading and admin); the filter itself
    keeps the state's loading ``beta`` on the learner's level μ and the independent residual
    ``N(rho, eps)``, so that an answer on one KC also informs every other KC through μ.
    """

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracing_kc_states")
    kc = models.ForeignKey("content.KnowledgeComponent", on_delete=models.CASCADE, related_name="learner_states")
    mean = models.FloatField()
    var = models.FloatField()
    beta = models.FloatField(default=1.0)
    rho = models.FloatField(default=0.0)
    eps = models.FloatField(default=0.0)
    practised_at = models.DateTimeField(help_text="Time of the last answer on this KC.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "learner KC state"
        constraints = [models.UniqueConstraint(fields=["learner", "kc"], name="unique_learner_kc_state")]

    def __str__(self) -> str:
        return f"{self.learner} / {self.kc}: {self.mean:.2f} ± {self.var**0.5:.2f}"


class FitJob(models.Model):
    """A learner-model fit run as a background job (``tracing.tasks.fit_job``): who asked, how far
    it is, and what came of it. A job that fails leaves the course's previous fit in service."""

    class Kind(models.TextChoices):
        FULL = "full", "Full fit"
        REFIT = "refit", "Continual refit (new answers only)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="tracing_fit_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REFIT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    steps = models.PositiveIntegerField(
        null=True, blank=True, help_text="SVI steps; empty: 500 for a full fit, 100 for a refit."
    )
    progress = models.FloatField(default=0.0, help_text="Share of the fit's steps done, 0 to 1.")
    message = models.TextField(blank=True, help_text="What happened: the outcome, or the error of a failed job.")
    # Seconds, steps, answers, learners touched, loss per answer, the fit's version.
    figures = models.JSONField(default=dict, blank=True)
    kept = models.BooleanField(null=True, help_text="Whether the new fit was put in service (empty while running).")
    fit = models.ForeignKey(TracingFit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.course} ({self.status})"
