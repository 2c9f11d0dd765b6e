"""How a course is taught: the teacher's tutor settings and goals, and experiment conditions with
each student's stable assignment.

The tables keep their original ``tutor_*`` names (they were created by the ``tutor`` app). The
effective settings for one student (course settings with their condition's overrides applied) come
from ``tutor.courses.services.settings_effective``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from tutor.courses import rules

__all__ = ["CONDITION_OVERRIDES", "Condition", "ConditionAssignment", "CourseGoal", "CourseSettings", "StudentGoal"]

CONDITION_OVERRIDES = rules.CONDITION_OVERRIDES


def _range(name: str) -> list[Any]:
    low, high = rules.RANGES[name]
    return [MinValueValidator(low), MaxValueValidator(high)]


class CourseSettings(models.Model):
    """The teacher's control of the tutor and the planner for one course (defaults when absent)."""

    course = models.OneToOneField("content.Course", on_delete=models.CASCADE, related_name="tutor_settings")
    max_attempts_before_bottom_out = models.PositiveSmallIntegerField(
        default=3, validators=_range("max_attempts_before_bottom_out"),
        help_text="Attempts at a step before the tutor may show the worked answer (after the whole hint ladder).",
    )
    allow_telling = models.BooleanField(
        default=True, help_text="May the tutor ever tell the final answer? If not, a student who has used every "
                                "hint is asked to talk to the teacher.",
    )
    llm_enabled = models.BooleanField(
        default=True, help_text="Phrase the tutor's moves with the language model. Off: the authored text only.",
    )
    mastery_threshold = models.FloatField(
        default=0.8, validators=_range("mastery_threshold"),
        help_text="Predicted chance of answering a typical item right for a concept to count as mastered.",
    )
    review_threshold = models.FloatField(
        default=0.7, validators=_range("review_threshold"),
        help_text="Schedule a review when predicted recall will fall below this (at most the mastery threshold).",
    )
    target_success = models.FloatField(
        default=0.75, validators=_range("target_success"),
        help_text="Pick new items the student should get right with about this probability (0.70-0.85).",
    )

    class Meta:
        db_table = "tutor_coursesettings"
        verbose_name = "tutor settings"
        verbose_name_plural = "tutor settings"

    def __str__(self) -> str:
        return f"Tutor settings · {self.course}"

    def clean(self) -> None:
        if self.review_threshold is not None and self.mastery_threshold is not None and rules.review_above_mastery(
                review_threshold=self.review_threshold, mastery_threshold=self.mastery_threshold):
            raise ValidationError({"review_threshold": "The review threshold cannot be above the mastery threshold."})


class CourseGoal(models.Model):
    """A goal the teacher sets: a set of KCs to master. Students may pick one of their course's goals."""

    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=200)
    kcs = models.ManyToManyField("content.KnowledgeComponent", related_name="goals")
    is_default = models.BooleanField(default=False, help_text="The goal of students who have not picked one.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "tutor_coursegoal"
        ordering = ["course", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "name"], name="unique_goal_name_per_course"),
            models.UniqueConstraint(fields=["course"], condition=models.Q(is_default=True),
                                    name="one_default_goal_per_course"),
        ]

    def __str__(self) -> str:
        return self.name


class StudentGoal(models.Model):
    """The goal a student picked in a course (one per student and course)."""

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_goals")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="+")
    goal = models.ForeignKey(CourseGoal, on_delete=models.CASCADE, related_name="choices")
    chosen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tutor_studentgoal"
        constraints = [models.UniqueConstraint(fields=["student", "course"], name="one_goal_per_student_course")]

    def __str__(self) -> str:
        return f"{self.student} → {self.goal}"

    def clean(self) -> None:
        if self.goal_id and self.course_id and self.goal.course_id != self.course_id:
            raise ValidationError({"goal": "This goal belongs to another course."})


class Condition(models.Model):
    """One arm of an experiment on a course. Students are assigned at random (weighted), once, and
    stay in their condition; ``overrides`` changes the tutor's settings for them."""

    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="conditions")
    name = models.CharField(max_length=100, help_text="Recorded in exports as DataShop's Condition Name.")
    condition_type = models.CharField(
        max_length=100, blank=True, default="",
        help_text="DataShop's Condition Type, e.g. 'control' or 'experimental'.",
    )
    weight = models.PositiveIntegerField(default=1, help_text="Relative share of students assigned here.")
    overrides = models.JSONField(
        default=dict, blank=True,
        help_text="Settings this condition changes, e.g. {\"allow_telling\": false} or "
                  "{\"llm_backend\": \"scripted\"}. Keys: " + ", ".join(CONDITION_OVERRIDES) + ".",
    )
    active = models.BooleanField(default=True, help_text="Inactive conditions get no new students.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tutor_condition"
        ordering = ["course", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="unique_condition_name_per_course")]

    def __str__(self) -> str:
        return f"{self.course} · {self.name}"

    def clean(self) -> None:
        backends = rules.allowed_backends(deployment=str(settings.TUTOR_LLM), extra=settings.TUTOR_LLM_BACKENDS)
        problems = rules.overrides_problems(self.overrides, allowed_backends=backends)
        if problems:
            raise ValidationError({"overrides": problems})


class ConditionAssignment(models.Model):
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conditions")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="+")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tutor_conditionassignment"
        constraints = [models.UniqueConstraint(fields=["student", "course"], name="one_condition_per_student_course")]

    def __str__(self) -> str:
        return f"{self.student} → {self.condition}"
