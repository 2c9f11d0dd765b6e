"""Read-mostly admin for the learner model: data, states and fits are written by services."""

from __future__ import annotations

from django.contrib import admin

from tracing.models import LearnerKCState, LearnerTraits, Observation, TracingFit


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
