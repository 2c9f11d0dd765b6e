"""Admin for research access: consents and research grants, for administrators only (teachers have
no permission on them). Consent records are appended, never edited: a student's latest one counts.
(Experiment conditions are part of how a course is taught: ``tutor/courses/admin.py``.)
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from tutor import roles
from tutor.research.models import Consent, ResearchGrant


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
