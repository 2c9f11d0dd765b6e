"""Admin for how a course is taught: classes (with their teachers and students), tutor settings and
goals. The teacher-facing pages (``/teach/``) are the everyday way; the admin adds what they do not,
such as a second teacher for a class or removing a student from it.

A teacher sees the classes they teach and the settings and goals of the courses they may edit, and
can only pick such a course; a class a teacher creates here is taught by them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, ForeignKey, ManyToManyField, QuerySet
from django.http import HttpRequest

from content import selectors as content_selectors
from content.models import KnowledgeComponent
from tutor.models import Classroom, CourseGoal, CourseSettings, Enrolment


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


class EnrolmentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Enrolment
    extra = 0
    fields = ("student", "joined")
    readonly_fields = ("student", "joined")
    verbose_name_plural = "Students (they join with the class code; delete a row to remove a student)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Classroom)
class ClassroomAdmin(ObjectScopedAdmin):
    list_display = ("name", "course", "join_code", "joining_open", "n_students")
    list_filter = ("course", "joining_open")
    search_fields = ("name", "join_code")
    fields = ("course", "name", "teachers", "join_code", "joining_open")
    filter_horizontal = ("teachers",)
    inlines = [EnrolmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request).annotate(n_enrolled=Count("enrolments"))
        return qs if request.user.is_superuser else qs.filter(teachers=request.user)

    @admin.display(description="students", ordering="n_enrolled")
    def n_students(self, obj: Any) -> int:
        return int(getattr(obj, "n_enrolled", 0))

    def _may(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or request.user.is_superuser or obj.teachers.filter(pk=request.user.pk).exists()

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "course" and not request.user.is_superuser:
            kwargs["queryset"] = content_selectors.course_list_editable(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: ManyToManyField[Any, Any], request: HttpRequest,
                                 **kwargs: Any) -> Any:
        if db_field.name == "teachers":
            kwargs["queryset"] = content_selectors.teacher_list()
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # A teacher who creates or edits a class keeps seeing it.
        if not request.user.is_superuser:
            form.instance.teachers.add(request.user)


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
