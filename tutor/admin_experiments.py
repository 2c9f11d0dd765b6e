"""Admin for experiments and research access.

- **Conditions** (the arms of an experiment on a course) and **condition assignments**: a teacher sees
  and edits only the conditions of courses they own or are assigned to (``course_list_editable``), and
  can only pick such a course; overrides are validated by ``Condition.clean``. Assignments are made by
  the tutor (``course_settings.condition_assign``), so they are read-only here.
- **Consents** and **research grants**: administrators only (teachers have no permission on them).
  Consent records are appended, never edited: a student's latest one counts.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from tutor import roles
from tutor.admin_classes import CourseScopedAdmin
from tutor.models import Condition, ConditionAssignment, Consent, ResearchGrant


@admin.register(Condition)
class ConditionAdmin(CourseScopedAdmin):
    list_display = ("name", "course", "condition_type", "weight", "active", "n_assigned", "overrides")
    list_filter = ("course", "active", "condition_type")
    search_fields = ("name", "condition_type")
    fields = ("course", "name", "condition_type", "weight", "active", "overrides")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).annotate(n_assigned_students=Count("assignments"))

    @admin.display(description="students assigned", ordering="n_assigned_students")
    def n_assigned(self, obj: Any) -> int:
        return int(getattr(obj, "n_assigned_students", 0))


@admin.register(ConditionAssignment)
class ConditionAssignmentAdmin(CourseScopedAdmin):
    list_display = ("student", "course", "condition", "assigned_at")
    list_filter = ("course", "condition")
    search_fields = ("student__username",)
    readonly_fields = ("student", "course", "condition", "assigned_at")
    list_select_related = ("student", "course", "condition")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("student", "given", "version", "at")
    list_filter = ("given", "version")
    search_fields = ("student__username",)
    date_hierarchy = "at"
    autocomplete_fields = ("student",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # records are appended, never edited: add a new one instead


class ResearchGrantForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ResearchGrant
        fields = ("researcher", "course", "identifiable", "granted_at")
        help_texts = {
            "identifiable": "Allow this researcher to add students' usernames to exports and API rows "
                            "(they must ask for it with identifiable=true). Off: pseudonyms only.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        researchers = get_user_model().objects.filter(groups__name=roles.RESEARCHER).order_by("username")
        self.fields["researcher"].queryset = researchers.distinct()  # type: ignore[attr-defined]


@admin.register(ResearchGrant)
class ResearchGrantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ResearchGrantForm
    list_display = ("researcher", "course", "identifiable", "granted_at")
    list_filter = ("identifiable", "course")
    search_fields = ("researcher__username", "course__slug")
