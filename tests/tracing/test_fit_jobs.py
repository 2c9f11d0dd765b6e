"""Continual refits and fits as background jobs (tracing.services, tracing.tasks, the admin)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
from celery import current_app
from django.contrib.auth import get_user_model
from django.utils import timezone

from content.models import Course, Item
from tracing import services, tasks
from tracing.learner_state import latest_fit
from tracing.models import FitJob, LearnerTraits, TracingFit

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    """Celery runs a task in the calling process, as a worker would, without a broker."""
    conf = current_app.conf
    old = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = old


def _answers(course: Course, users, *, start, per_user: int, tag: str, seed: int) -> list[services.ImportedAnswer]:
    items = list(Item.objects.filter(course=course).order_by("slug"))
    rng = np.random.default_rng(seed)
    out = []
    for u_i, user in enumerate(users):
        for n in range(per_user):
            item = items[n % 3]
            out.append(
                services.ImportedAnswer(
                    learner_id=user.pk,
                    item_ref=item.slug,
                    item_id=item.pk,
                    kc_ids=list(item.kcs.values_list("id", flat=True)),
                    correct=bool(rng.random() < 0.6),
                    at=start + timedelta(hours=n, minutes=u_i),
                    attempt_id=f"{tag}-{u_i}-{n}",
                )
            )
    return out


def test_refit_touches_only_learners_with_new_answers(course: Course) -> None:
    users = [get_user_model().objects.create_user(username=f"u{i}") for i in range(8)]
    start = timezone.now() - timedelta(days=5)
    services.observations_import(
        course=course, answers=_answers(course, users, start=start, per_user=10, tag="a", seed=0)
    )
    first = services.fit_run(course=course, steps=10)
    before = {t.learner_id: (t.alpha_mean, t.mu_mean, t.fit_id) for t in LearnerTraits.objects.filter(course=course)}
    # A day later: two of them answer again, and a newcomer arrives.
    newcomer = get_user_model().objects.create_user(username="new")
    later = start + timedelta(days=1)
    fresh = _answers(course, [users[0], users[1], newcomer], start=later, per_user=5, tag="b", seed=1)
    services.observations_import(course=course, answers=fresh)
    again = services.fit_refit_run(course=course, steps=10)
    assert again.status == TracingFit.Status.DONE and again.version == first.version + 1
    assert again.metrics["kind"] == "refit"
    assert again.metrics["learners_refitted"] == 3
    assert again.metrics["answers_new"] == len(fresh)
    # Read: the whole histories of the three, nobody else's.
    assert again.metrics["answers_read"] == 2 * 10 + 3 * 5
    assert again.n_observations == 8 * 10 + len(fresh)
    after = {t.learner_id: (t.alpha_mean, t.mu_mean, t.fit_id) for t in LearnerTraits.objects.filter(course=course)}
    for user in users[2:]:
        assert after[user.pk] == before[user.pk]
    for user in users[:2]:
        assert after[user.pk][2] == again.pk and after[user.pk][1] != before[user.pk][1]
    assert after[newcomer.pk][2] == again.pk
    assert latest_fit(course.pk).pk == again.pk
    # Nothing new since: the next refit reads no answers.
    idle = services.fit_refit_run(course=course, steps=10)
    assert idle.metrics["learners_refitted"] == 0 and idle.metrics["answers_read"] == 0


def test_fit_job_runs_in_the_background_and_reports(course: Course, eager, django_capture_on_commit_callbacks) -> None:
    users = [get_user_model().objects.create_user(username=f"u{i}") for i in range(6)]
    services.observations_import(
        course=course,
        answers=_answers(course, users, start=timezone.now() - timedelta(days=2), per_user=8, tag="a", seed=0),
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = tasks.fit_job_start(course=course, kind=FitJob.Kind.FULL, steps=5)
    job.refresh_from_db()
    assert job.status == FitJob.Status.DONE and job.kept is True and job.progress == 1.0
    assert job.fit == latest_fit(course.pk)
    assert job.figures["answers"] == 48 and job.figures["version"] == 1
    assert job.started_at is not None and job.finished_at is not None


def test_a_failed_job_leaves_the_previous_fit_in_service(
    course: Course, eager, django_capture_on_commit_callbacks
) -> None:
    users = [get_user_model().objects.create_user(username=f"u{i}") for i in range(6)]
    start = timezone.now() - timedelta(days=2)
    services.observations_import(
        course=course, answers=_answers(course, users, start=start, per_user=8, tag="a", seed=0)
    )
    served = services.fit_run(course=course, steps=5)
    services.observations_import(
        course=course, answers=_answers(course, users[:1], start=start + timedelta(days=1), per_user=3, tag="b", seed=1)
    )
    with (
        mock.patch("tracing.psikt.fit.refit", side_effect=RuntimeError("worker ran out of memory")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        job = tasks.fit_job_start(course=course, kind=FitJob.Kind.REFIT, steps=5)
    job.refresh_from_db()
    assert job.status == FitJob.Status.FAILED and job.kept is False
    assert "worker ran out of memory" in job.message
    assert latest_fit(course.pk).pk == served.pk
    assert TracingFit.objects.filter(course=course, status=TracingFit.Status.FAILED).count() == 1


def test_admin_starts_a_job(course: Course, admin_client, eager, django_capture_on_commit_callbacks) -> None:
    users = [get_user_model().objects.create_user(username=f"u{i}") for i in range(4)]
    services.observations_import(
        course=course,
        answers=_answers(course, users, start=timezone.now() - timedelta(days=2), per_user=6, tag="a", seed=0),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/tracing/fitjob/add/", {"course": course.pk, "kind": FitJob.Kind.REFIT, "steps": 5}, follow=True
        )
    assert response.status_code == 200
    job = FitJob.objects.get()
    # No fit yet: the refit falls back to a full fit, and the job says what came of it.
    assert job.status == FitJob.Status.DONE and job.kept is True
    assert job.requested_by is not None and job.requested_by.is_superuser
    listing = admin_client.get("/admin/tracing/fitjob/")
    assert b"100%" in listing.content
