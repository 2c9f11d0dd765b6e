"""Forms of the teacher's pages and the student's "join a class" box."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from content.models import Course, KnowledgeComponent
from tutor.courses.models import CourseGoal, CourseSettings


class ClassroomCreateForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="e.g. 7B, Tuesday group")
    course = forms.ModelChoiceField(queryset=Course.objects.none(), empty_label=None)

    def __init__(self, *args: Any, courses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["course"].queryset = courses  # type: ignore[attr-defined]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give the class a name.")
        return name


class ClassroomManageForm(forms.Form):
    ACTIONS = (("regenerate", "New join code"), ("close", "Close joining"), ("open", "Open joining"))
    action = forms.ChoiceField(choices=ACTIONS)


class JoinForm(forms.Form):
    code = forms.CharField(max_length=40, label="Class code",
                           widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                                         "placeholder": "e.g. K7QX2M9P"}))


class CourseSettingsForm(forms.ModelForm):
    class Meta:
        model = CourseSettings
        fields = ("max_attempts_before_bottom_out", "allow_telling", "llm_enabled", "mastery_threshold",
                  "review_threshold", "target_success")
        labels = {
            "max_attempts_before_bottom_out": "Attempts before the answer may be shown",
            "allow_telling": "The tutor may tell the final answer",
            "llm_enabled": "Phrase replies with the language model",
            "mastery_threshold": "Mastery threshold",
            "review_threshold": "Review threshold",
            "target_success": "Target success for new items",
        }
        widgets = {name: forms.NumberInput(attrs={"step": "0.01"})
                   for name in ("mastery_threshold", "review_threshold", "target_success")}


class CourseGoalForm(forms.ModelForm):
    kcs = forms.ModelMultipleChoiceField(queryset=KnowledgeComponent.objects.none(),
                                         widget=forms.CheckboxSelectMultiple, label="Skills to master")

    class Meta:
        model = CourseGoal
        fields = ("name", "kcs", "is_default", "position")
        labels = {"is_default": "Default goal (for students who have not picked one)"}

    def __init__(self, *args: Any, course: Course, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.course = course
        self.instance.course = course
        self.fields["kcs"].queryset = KnowledgeComponent.objects.filter(  # type: ignore[attr-defined]
            course=course).order_by("position", "id")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = CourseGoal.objects.filter(course=self.course, name=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError("This course already has a goal with that name.")
        return name


class SandboxMessageForm(forms.Form):
    """A teacher's message in the preview sandbox: typed, or one of the chat's canned requests."""

    # The same words as the student chat's buttons, so the dialogue policy reads them the same way.
    CANNED = {"hint": "Can I have a hint?", "stuck": "I'm stuck."}

    message = forms.CharField(required=False, max_length=settings.TUTOR_MAX_MESSAGE_CHARS, strip=True,
                              label="Your answer or question (as a student)",
                              widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}))
    say = forms.ChoiceField(required=False, choices=[("", "")] + [(k, v) for k, v in CANNED.items()])
    client_id = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text = self.CANNED.get(data.get("say") or "", "") or data.get("message", "")
        if not text and not self.errors:
            raise ValidationError("Type an answer or a question first, or ask for a hint.")
        data["text"] = text
        return data
