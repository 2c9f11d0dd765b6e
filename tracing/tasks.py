"""The learner model's background jobs, written against Celery's ``shared_task`` so they join
whichever Celery app the project configures (its broker, its workers).

``fit_job`` runs a :class:`~tracing.models.FitJob` that ``tracing.services.fit_job_create`` queued
(the admin's "Add fit job" does): a full fit or a continual refit, with progress and the outcome on
the job's row. The task body is ``tracing.services.fit_job_run``; nothing else happens here.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="tracing.fit_job", acks_late=True, ignore_result=False)
def fit_job(job_id: int) -> dict[str, Any]:
    from tracing import services

    job = services.fit_job_run(job_id=job_id)
    return {"job": job.pk, "status": job.status, "kept": job.kept, "figures": job.figures}


def fit_job_enqueue(job_id: int) -> None:
    """Send the job to the workers (the one place that does, so tests and callers share it)."""
    fit_job.delay(job_id)
