from __future__ import annotations

from typing import Any

from django import forms

from tutor.lti import selectors
from tutor.lti.models import Assignment


class TargetForm(forms.Form):
    """What an LMS link opens, and how its score is computed."""

    target = forms.ChoiceField(label="Open")
    grading = forms.ChoiceField(label="Score sent to the LMS", choices=Assignment.Grading.choices,
                                initial=Assignment.Grading.MASTERY)

    def __init__(self, *args: Any, gradebook: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [  # type: ignore[attr-defined]
            (course, [(c.value, c.label) for c in options]) for course, options in selectors.target_choices()
        ]
        if gradebook:
            self.fields["gradebook"] = forms.BooleanField(
                label="Add a column to the LMS gradebook", required=False, initial=True)


class GradingForm(forms.Form):
    grading = forms.ChoiceField(label="Score", choices=Assignment.Grading.choices)
