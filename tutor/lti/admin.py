"""Registering an LMS (platform) in the admin: issuer, client ID, deployment IDs, key set URL and the
tool's own keys; plus what the administrator needs to follow launches: refused launches, the
classes and assignments tied to LMS courses, and the scores sent back."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from lti_tool.admin import LtiRegistrationAdmin as LibraryRegistrationAdmin
from lti_tool.models import Key, LtiDeployment, LtiRegistration

from tutor.lti.models import Assignment, ContextClass, GradeSync, LaunchRefusal, PlatformSettings


class DeploymentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = LtiDeployment
    fields = ("deployment_id", "is_active", "platform_instance")
    readonly_fields = ("platform_instance",)
    extra = 1
    verbose_name_plural = "Deployment IDs (a launch from a deployment not listed here, or not active, is refused)"

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "is_active" and field is not None:
            field.initial = True  # a deployment the administrator types in is meant to work
        return field


class PlatformSettingsInline(admin.StackedInline):  # type: ignore[type-arg]
    model = PlatformSettings
    can_delete = False
    verbose_name_plural = "Pages allowed to show the tutor in a frame"


admin.site.unregister(LtiRegistration)


@admin.register(LtiRegistration)
class RegistrationAdmin(LibraryRegistrationAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # an LMS's URLs are https
    inlines = [DeploymentInline, PlatformSettingsInline]
    change_form_template = "admin/tutor_lti/registration_change_form.html"

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        from tutor.lti.launch import tool_key_ensure
        from tutor.lti.views import registration_urls

        tool_key_ensure()
        extra = dict(extra_context or {})
        obj = self.get_object(request, object_id) if object_id else None
        if obj is not None:
            extra["tool_urls"] = registration_urls(request, obj)
        return super().changeform_view(request, object_id, form_url, extra)


@admin.register(Key)
class KeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The tool's signing keys. The newest active key signs; every active key is published at
    /lti/jwks/ so tokens signed before a rotation still check. ``manage.py rotate_keys`` rotates."""

    list_display = ("__str__", "is_active", "datetime_created")
    list_filter = ("is_active",)
    fields = ("public_key", "is_active", "datetime_created")
    readonly_fields = ("public_key", "datetime_created")
    actions = ["rotate", "retire"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are generated, never typed in (the private key is never shown)

    @admin.action(description="Rotate: make a new signing key (the selected ones stay published until retired)")
    def rotate(self, request: HttpRequest, queryset: QuerySet[Key]) -> None:
        key = Key.objects.generate()
        messages.success(request, f"New signing key {key}.")

    @admin.action(description="Retire: stop publishing the selected keys")
    def retire(self, request: HttpRequest, queryset: QuerySet[Key]) -> None:
        if not Key.objects.active().exclude(pk__in=queryset.values("pk")).exists():
            messages.error(request, "Keep at least one active key: make a new one first.")
            return
        n = queryset.update(is_active=False, datetime_modified=timezone.now())
        messages.success(request, f"{n} key(s) retired.")


@admin.register(LaunchRefusal)
class LaunchRefusalAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created", "step", "code", "issuer", "client_id", "deployment_id", "sub")
    list_filter = ("code", "step", "issuer")
    search_fields = ("issuer", "client_id", "deployment_id", "sub", "detail")
    date_hierarchy = "created"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContextClass)
class ContextClassAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("context", "classroom", "course", "roster_synced_at")
    readonly_fields = ("context", "classroom", "course", "roster_synced_at", "roster_error")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "context_class", "course", "goal", "item", "grading")
    list_filter = ("grading",)
    readonly_fields = ("resource_link", "context_class", "lineitem_url", "lineitems_url", "ags_scopes")


@admin.register(GradeSync)
class GradeSyncAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("student", "assignment", "score", "score_sent", "state", "failures", "next_try_at")
    list_filter = ("state",)
    readonly_fields = [f.name for f in GradeSync._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send at the next run, without waiting out the back-off")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[GradeSync]) -> None:
        n = queryset.update(dirty=True, next_try_at=None, updated=timezone.now())
        messages.success(request, f"{n} score(s) will be sent at the next run.")
