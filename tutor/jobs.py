"""Job workers: long jobs run in Celery workers (Redis broker), not in a web worker.

    python -m celery -A tutor.jobs worker        # deploy/ runs it under supervisor

A minimal app for the production set-up (deploy/, docs/deploy.md); the learner model's background
work may grow it. Tasks call services and return a small JSON summary.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tutor")
# CELERY_* settings (config/settings.py, deployment block): broker and results on Redis.
app.config_from_object("django.conf:settings", namespace="CELERY")
# The apps' own tasks (``shared_task``): the learner model's fits (tracing/tasks.py).
app.autodiscover_tasks(["tracing"])


@app.task(name="tracing.fit")
def tracing_fit(course_slug: str, steps: int = 500, max_seconds: float | None = None) -> dict[str, Any]:
    """Refit one course's learner model (what ``manage.py fit_tracing --course`` does)."""
    # Models are imported here: the worker imports this module before Django is set up.
    from content.models import Course
    from tracing import services

    course = Course.objects.filter(slug=course_slug).first()
    if course is None:
        raise ValueError(f"no course with slug {course_slug!r}")
    # fit_run refuses a course with nothing to fit (a ValueError that says so): the task fails with it.
    fit = services.fit_run(course=course, steps=steps, max_seconds=max_seconds)
    return {"course": course_slug, "fitted": True, "version": fit.version, "observations": fit.n_observations,
            "seconds": round(fit.seconds, 1)}
