"""Read-mostly admin for the learner model: data, states and fits are written by services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tracing import tasks
from tracing.models import FitJob, LearnerKCState, LearnerTraits, Observation, TracingFit


@admin.register(TracingFit)
class TracingFitAdmin(admin.ModelAdmin):
    list_display = ["course", "version", "status", "n_observations", "seconds", "created"]
    list_filter = ["status", "course"]
    # The params blob can be megabytes; it is read through selectors.learned_edges instead.
    exclude = ["params"]
    readonly_fields = ["course", "version", "status", "metrics", "n_observations", "seconds", "created"]


@admin.register(Observation)
class ObservationAdmin(admin.ModelAdmin):
    list_display = ["learner", "course", "item", "item_ref", "correct", "at", "source"]
    list_filter = ["source", "correct", "course"]
    search_fields = ["attempt_id", "item_ref", "learner__username"]
    raw_id_fields = ["learner", "item"]
    date_hierarchy = "at"


@admin.register(LearnerTraits)
class LearnerTraitsAdmin(admin.ModelAdmin):
    list_display = ["learner", "course", "mu_mean", "mu_sd", "alpha_mean", "sigma_mean", "gamma_mean", "updated_at"]
    list_filter = ["course"]
    raw_id_fields = ["learner", "fit"]


@admin.register(LearnerKCState)
class LearnerKCStateAdmin(admin.ModelAdmin):
    list_display = ["learner", "kc", "mean", "var", "practised_at", "updated_at"]
    list_filter = ["kc__course"]
    raw_id_fields = ["learner", "kc"]


@admin.register(FitJob)
class FitJobAdmin(admin.ModelAdmin):
    """Start a fit from here: add a job (course and kind); a worker runs it, and the list shows its
    progress, its outcome (kept or not) and its figures."""

    list_display = ["course", "kind", "status", "progress_percent", "kept", "figures", "created", "finished_at"]
    list_filter = ["status", "kind", "course"]
    fields = ["course", "kind", "steps", "status", "progress", "kept", "message", "figures", "fit", "requested_by"]
    readonly_fields = ["status", "progress", "kept", "message", "figures", "fit", "requested_by"]
    actions = ["run_again"]

    @admin.display(description="progress")
    def progress_percent(self, job: FitJob) -> str:
        return f"{100 * job.progress:.0f}%"

    def get_readonly_fields(self, request: HttpRequest, obj: FitJob | None = None) -> list[str]:
        # A job's course and kind are chosen when it is started, never edited afterwards.
        return [*self.readonly_fields, "course", "kind", "steps"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: FitJob, form: Any, change: bool) -> None:
        if change:
            return
        job = tasks.fit_job_start(course=obj.course, kind=obj.kind, steps=obj.steps, requested_by=request.user)
        obj.pk = job.pk

    @admin.action(description="Run the selected jobs' fits again")
    def run_again(self, request: HttpRequest, queryset: QuerySet[FitJob]) -> None:
        for job in queryset.select_related("course"):
            tasks.fit_job_start(course=job.course, kind=job.kind, steps=job.steps, requested_by=request.user)
        self.message_user(request, f"{queryset.count()} fit job(s) queued.")
