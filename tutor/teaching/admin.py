"""Admin for classes, with their teachers and students. The teacher's pages (``/teach/``) are the
everyday way; the admin adds what they do not, such as a second teacher for a class or removing a
student from it. A teacher sees the classes they teach; a class a teacher creates here is taught by
them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, ForeignKey, ManyToManyField, QuerySet
from django.http import HttpRequest

from content import selectors as content_selectors
from tutor.courses.admin import ObjectScopedAdmin
from tutor.teaching.models import Classroom, Enrolment


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
