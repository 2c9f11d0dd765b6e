"""Admin for how a course is taught: tutor settings, goals and experiment conditions. The
teacher-facing pages (``/teach/``) are the everyday way for settings and goals.

A teacher sees the settings, goals and conditions of the courses they may edit, and can only pick
such a course. Condition overrides are validated by ``Condition.clean``; assignments are made by the
tutor (``tutor.courses.services.condition_assign``), so they are read-only here.

``ObjectScopedAdmin`` and ``CourseScopedAdmin`` are the base classes of the other rooms' admins.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, ForeignKey, ManyToManyField, QuerySet
from django.http import HttpRequest

from content import selectors as content_selectors
from content.models import KnowledgeComponent
from tutor.courses.models import Condition, ConditionAssignment, CourseGoal, CourseSettings


class ObjectScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Viewing, changing and deleting an object also need ``_may(request, obj)``."""

    def _may(self, request: HttpRequest, obj: Any) -> bool:
        raise NotImplementedError

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request, obj)


class CourseScopedAdmin(ObjectScopedAdmin):
    """Rows of courses the user may edit (and the model permission, as usual)."""

    def _editable(self, request: HttpRequest) -> QuerySet[Any]:
        return content_selectors.course_list_editable(user=request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(course__in=self._editable(request))

    def _may(self, request: HttpRequest, obj: Any) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        return self._editable(request).filter(pk=obj.course_id).exists()

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "course" and not request.user.is_superuser:
            kwargs["queryset"] = self._editable(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(CourseSettings)
class CourseSettingsAdmin(CourseScopedAdmin):
    list_display = ("course", "max_attempts_before_bottom_out", "allow_telling", "llm_enabled", "mastery_threshold",
                    "review_threshold", "target_success")


class CourseGoalForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = CourseGoal
        fields = ("course", "name", "kcs", "is_default", "position")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        course, kcs = data.get("course"), data.get("kcs")
        if course is not None and kcs is not None and any(kc.course_id != course.pk for kc in kcs):
            self.add_error("kcs", "Pick knowledge components of the goal's own course.")
        return data


@admin.register(CourseGoal)
class CourseGoalAdmin(CourseScopedAdmin):
    form = CourseGoalForm
    list_display = ("name", "course", "is_default", "position")
    list_filter = ("course",)
    filter_horizontal = ("kcs",)

    def formfield_for_manytomany(self, db_field: ManyToManyField[Any, Any], request: HttpRequest,
                                 **kwargs: Any) -> Any:
        if db_field.name == "kcs":
            kwargs["queryset"] = KnowledgeComponent.objects.filter(
                course__in=self._editable(request)).select_related("course").order_by("course", "position")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


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
