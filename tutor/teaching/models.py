"""Classes: a teacher's group of students taking a course, joined with a short code.

The tables keep their original ``tutor_*`` names (they were created by the ``tutor`` app).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["JOIN_CODE_ALPHABET", "Classroom", "Enrolment", "join_code_new"]

# Join codes avoid letters and digits that are easy to confuse when read aloud or off a board.
JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


def join_code_new() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


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
        db_table = "tutor_classroom"
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
        db_table = "tutor_enrolment"
        ordering = ["classroom", "joined", "id"]
        constraints = [models.UniqueConstraint(fields=["classroom", "student"], name="unique_enrolment")]

    def __str__(self) -> str:
        return f"{self.student} in {self.classroom}"
