"""What happens in tutoring: sessions, turns and attempts.

Every student turn and attempt is committed before any reply is sent, and a tutor turn is created
(with its authored fallback text) before its wording streams, so a dropped socket or a dead model
loses nothing: the transcript reloads from these rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from content.models import Course, Item, Misconception, Step, Subproblem


class TutoringSession(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FINISHED = "finished", "Finished"

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tutoring_sessions")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="tutoring_sessions")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="tutoring_sessions")
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # A teacher trying an item as a student would ("Preview as a student"): the real tutoring path,
    # but not a learner's work. Every student-facing read (class views, item statistics, progress,
    # the planner, exports, the research API, grade passback) leaves these sessions out, and the
    # engine feeds none of their answers to the learner model.
    sandbox = models.BooleanField(default=False)
    # The dialogue policy's progress on the current step (attempts, hint level, open subproblem…).
    progress = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]
        indexes = [models.Index(fields=["student", "course", "status"])]

    def __str__(self) -> str:
        return f"{self.student} · {self.item}"


class Turn(models.Model):
    class Role(models.TextChoices):
        STUDENT = "student", "Student"
        TUTOR = "tutor", "Tutor"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"  # tutor turn decided, wording not yet produced
        COMPLETE = "complete", "Complete"
        FALLBACK = "fallback", "Authored text sent (model failed or was rejected)"

    class MathDialMove(models.TextChoices):
        FOCUS = "focus", "Focus"
        PROBING = "probing", "Probing"
        TELLING = "telling", "Telling"
        GENERIC = "generic", "Generic"

    session = models.ForeignKey(TutoringSession, on_delete=models.CASCADE, related_name="turns")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True)
    # Student turns: what the tutor read the message as (tutor.dialogue.intent.Intent: attempt, asks_hint,
    # stuck, concept_question, asks_answer, feeling, off_topic, smalltalk); blank on tutor turns and on
    # turns stored before it was recorded.
    intent = models.CharField(
        max_length=20, blank=True,
        help_text="Student turns: what the tutor read the message as (attempt, asks_hint, stuck, concept_question, "
                  "asks_answer, feeling, off_topic, smalltalk).",
    )
    # Tutor turns: the move the policy chose, its MathDial category and hint level, the authored text
    # it is grounded on, and which backend phrased it (with the guard's verdict).
    move = models.CharField(max_length=40, blank=True)
    mathdial_move = models.CharField(max_length=10, choices=MathDialMove.choices, blank=True)
    hint_level = models.PositiveSmallIntegerField(default=0)
    authored_text = models.TextField(blank=True)
    released_answer = models.BooleanField(default=False)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    backend = models.CharField(max_length=100, blank=True)
    model_id = models.CharField(max_length=200, blank=True)
    guard = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.COMPLETE)
    latency_ms = models.FloatField(null=True, blank=True)
    # Student turns: the browser's message id, so a message re-sent after a reconnect is stored once.
    client_id = models.CharField(max_length=64, blank=True)
    reply_to = models.OneToOneField("self", null=True, blank=True, on_delete=models.CASCADE, related_name="reply")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "seq"]
        # Per session, the tutor's moves of a kind (hints, answers shown): item statistics and the class
        # view count them over every session of a course (docs/performance.md).
        indexes = [models.Index(fields=["session", "move"], name="turn_session_move")]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="unique_turn_seq"),
            models.UniqueConstraint(
                fields=["session", "client_id"], condition=~models.Q(client_id=""), name="unique_client_message"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.seq}"


class Attempt(models.Model):
    class Outcome(models.TextChoices):
        CORRECT = "correct", "Correct"
        INCORRECT = "incorrect", "Incorrect"
        UNREADABLE = "unreadable", "Could not be read"

    session = models.ForeignKey(TutoringSession, on_delete=models.CASCADE, related_name="attempts")
    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="attempt")
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="attempts")
    subproblem = models.ForeignKey(Subproblem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    raw = models.TextField()
    parsed = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    correct = models.BooleanField(default=False)
    partial = models.BooleanField(default=False)
    misconception = models.ForeignKey(
        Misconception, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    p_correct_before = models.FloatField(null=True, blank=True, help_text="Learner model's prediction.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        # A step's answers in a session, in order: the first try and the counts per step of item statistics.
        indexes = [models.Index(fields=["session", "step"], name="attempt_session_step")]

    def __str__(self) -> str:
        return f"{self.raw[:30]} ({self.outcome})"

