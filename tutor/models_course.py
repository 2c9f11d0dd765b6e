"""How a course is taught: the teacher's tutor settings and goals, classes with their join codes,
and experiment conditions with each student's stable assignment.

Imported at the end of ``tutor.models`` so Django registers these models with the ``tutor`` app.
The effective settings for one student (course settings with their condition's overrides applied)
come from ``tutor.course_settings.settings_effective``.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

__all__ = ["Classroom", "Condition", "ConditionAssignment", "CourseGoal", "CourseSettings", "Enrolment",
           "StudentGoal", "join_code_new"]

# Join codes avoid letters and digits that are easy to confuse when read aloud or off a board.
JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8

# What an experiment condition may change, with the type each value must have.
CONDITION_OVERRIDES: dict[str, type] = {
    "max_attempts_before_bottom_out": int,
    "allow_telling": bool,
    "llm_enabled": bool,
    "llm_backend": str,
    "mastery_threshold": float,
    "review_threshold": float,
    "target_success": float,
}


def join_code_new() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


class CourseSettings(models.Model):
    """The teacher's control of the tutor and the planner for one course (defaults when absent)."""

    course = models.OneToOneField("content.Course", on_delete=models.CASCADE, related_name="tutor_settings")
    max_attempts_before_bottom_out = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)],
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
        default=0.8, validators=[MinValueValidator(0.55), MaxValueValidator(0.99)],
        help_text="Predicted chance of answering a typical item right for a concept to count as mastered.",
    )
    review_threshold = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.3), MaxValueValidator(0.99)],
        help_text="Schedule a review when predicted recall will fall below this (at most the mastery threshold).",
    )
    target_success = models.FloatField(
        default=0.75, validators=[MinValueValidator(0.7), MaxValueValidator(0.85)],
        help_text="Pick new items the student should get right with about this probability (0.70-0.85).",
    )

    class Meta:
        verbose_name = "tutor settings"
        verbose_name_plural = "tutor settings"

    def __str__(self) -> str:
        return f"Tutor settings · {self.course}"

    def clean(self) -> None:
        if self.review_threshold is not None and self.mastery_threshold is not None \
                and self.review_threshold > self.mastery_threshold:
            raise ValidationError({"review_threshold": "The review threshold cannot be above the mastery threshold."})


class CourseGoal(models.Model):
    """A goal the teacher sets: a set of KCs to master. Students may pick one of their course's goals."""

    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=200)
    kcs = models.ManyToManyField("content.KnowledgeComponent", related_name="goals")
    is_default = models.BooleanField(default=False, help_text="The goal of students who have not picked one.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
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
        constraints = [models.UniqueConstraint(fields=["student", "course"], name="one_goal_per_student_course")]

    def __str__(self) -> str:
        return f"{self.student} → {self.goal}"

    def clean(self) -> None:
        if self.goal_id and self.course_id and self.goal.course_id != self.course_id:
            raise ValidationError({"goal": "This goal belongs to another course."})


class Classroom(models.Model):
    """A class (group) of students taking a course with one or more teachers."""

    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="classrooms")
    name = models.CharField(max_length=200)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classrooms_taught")
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Enrolment", related_name="classrooms")
    join_code = models.CharField(max_length=16, unique=True, default=join_code_new,
                                 help_text="Students type this code to join the class.")
    joining_open = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "name", "id"]
        verbose_name = "class"
        verbose_name_plural = "classes"

    def __str__(self) -> str:
        return f"{self.name} · {self.course}"


class Enrolment(models.Model):
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="enrolments")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments")
    joined = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["classroom", "joined", "id"]
        constraints = [models.UniqueConstraint(fields=["classroom", "student"], name="unique_enrolment")]

    def __str__(self) -> str:
        return f"{self.student} in {self.classroom}"


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
        ordering = ["course", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="unique_condition_name_per_course")]

    def __str__(self) -> str:
        return f"{self.course} · {self.name}"

    def clean(self) -> None:
        from tutor.course_settings import overrides_problems

        problems = overrides_problems(self.overrides)
        if problems:
            raise ValidationError({"overrides": problems})


class ConditionAssignment(models.Model):
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conditions")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="+")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["student", "course"], name="one_condition_per_student_course")]

    def __str__(self) -> str:
        return f"{self.student} → {self.condition}"
