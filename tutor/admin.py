from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from content import selectors as content_selectors
from tutor.models import Attempt, Turn, TutoringSession


class TurnInline(admin.TabularInline):
    model = Turn
    fk_name = "session"
    extra = 0
    can_delete = False
    fields = ("seq", "role", "text", "move", "mathdial_move", "hint_level", "state", "backend", "latency_ms")
    readonly_fields = fields


@admin.register(TutoringSession)
class TutoringSessionAdmin(admin.ModelAdmin):
    """Read-only transcripts for the teachers of the course."""

    list_display = ("student", "course", "item", "status", "updated")
    list_select_related = ("student", "course", "item")
    list_filter = ("course", "status")
    inlines = [TurnInline]
    readonly_fields = ("student", "course", "item", "step", "status", "progress", "created", "updated")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request).filter(sandbox=False)  # teachers' previews are no student's work
        if request.user.is_superuser:
            return qs
        return qs.filter(course__in=content_selectors.course_list_editable(user=request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        editable = content_selectors.course_ids_editable(user=request.user)
        return bool(editable) and (obj is None or obj.course_id in editable)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


@admin.register(Attempt)
class AttemptAdmin(TutoringSessionAdmin):
    list_display = ("session", "step", "raw", "outcome", "misconception", "created")  # type: ignore[assignment]
    list_select_related = ("session__student", "session__item", "step__item",  # type: ignore[assignment]
                           "misconception")
    list_filter = ("outcome", "session__course")  # type: ignore[assignment]
    inlines = []  # type: ignore[assignment]
    readonly_fields = ("session", "turn", "step", "subproblem", "raw", "parsed", "outcome", "correct",  # type: ignore[assignment]
                       "partial", "misconception", "p_correct_before", "created")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = admin.ModelAdmin.get_queryset(self, request).filter(session__sandbox=False)
        if request.user.is_superuser:
            return qs
        return qs.filter(session__course__in=content_selectors.course_list_editable(user=request.user))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not request.user.is_superuser:
            return obj.session.course_id in content_selectors.course_ids_editable(user=request.user)
        return super().has_view_permission(request, None)
