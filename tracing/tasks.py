"""The learner model's background jobs, written against Celery's ``shared_task`` so they join
whichever Celery app the project configures (its broker, its workers).

``fit_job_start`` (what the admin's "Add fit job" calls) records a :class:`~tracing.models.FitJob`
and sends it to the workers once the row is committed; ``fit_job`` runs it: a full fit or a
continual refit, with progress and the outcome on the job's row. Both bodies are services.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="tracing.fit_job", acks_late=True, ignore_result=False)
def fit_job(job_id: int) -> dict[str, Any]:
    from tracing import services

    job = services.fit_job_run(job_id=job_id)
    return {"job": job.pk, "status": job.status, "kept": job.kept, "figures": job.figures}


def fit_job_start(*, course: Any, kind: str, steps: int | None = None, requested_by: Any = None) -> Any:
    """Queue a fit of ``course`` (``FitJob.Kind``) and return its job; a worker starts it once the
    job's row is committed, so it never looks for a row that is not there yet."""
    from django.db import transaction

    from tracing import services

    job = services.fit_job_create(course=course, kind=kind, steps=steps, requested_by=requested_by)
    transaction.on_commit(lambda: fit_job.delay(job.pk))
    return job
