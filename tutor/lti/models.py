"""What the tutor keeps about launches from a school's LMS, on top of django-lti's tables (``lti_tool``:
registrations, deployments, keys, LMS users, contexts, memberships and resource links).

* ``PlatformSettings``: per registration, the origins whose pages may frame the tutor.
* ``ContextClass``: the class (``tutor.Classroom``) tied to an LMS course (context) for one tutor course.
* ``Assignment``: what an LMS link opens (a course, a goal or an item), how it is graded, and where
  the grade goes (the AGS line item).
* ``GradeSync``: one student's score on one assignment as last computed and as last sent, with the
  retry state after a failure, so the teacher sees what reached the LMS.
* ``UsedNonce``: every accepted id_token's nonce, so a replayed token is refused.
* ``LaunchRefusal``: each refused launch, with its reason, for the administrator.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from lti_tool.models import LtiContext, LtiRegistration, LtiResourceLink, LtiUser


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, or "" when it has none."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


class PlatformSettings(models.Model):
    registration = models.OneToOneField(LtiRegistration, on_delete=models.CASCADE, related_name="tutor_settings")
    frame_origins = models.TextField(
        blank=True,
        help_text="Origins of the LMS pages that show the tutor in a frame, one per line "
                  "(e.g. https://school.instructure.com). The issuer's and the authorisation URL's origins "
                  "are always allowed; Canvas needs the school's own Canvas address here.",
    )

    class Meta:
        verbose_name = "tutor settings for a platform"
        verbose_name_plural = "tutor settings for platforms"

    def __str__(self) -> str:
        return f"Tutor settings · {self.registration}"

    def origins(self) -> list[str]:
        return [o for o in (origin_of(line) for line in self.frame_origins.splitlines()) if o]

    def clean(self) -> None:
        bad = [line for line in self.frame_origins.splitlines() if line.strip() and not origin_of(line)]
        if bad:
            raise ValidationError({"frame_origins": f"Not an http(s) origin: {', '.join(bad)}"})


class ContextClass(models.Model):
    """The tutor class for one LMS course (context) and one tutor course: LMS instructors teach it,
    LMS learners are enrolled in it."""

    context = models.ForeignKey(LtiContext, on_delete=models.CASCADE, related_name="tutor_classes")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="+")
    classroom = models.OneToOneField("teaching.Classroom", on_delete=models.CASCADE, related_name="lms_link")
    roster_synced_at = models.DateTimeField(null=True, blank=True)
    roster_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["context", "course"], name="one_class_per_lms_context_course")]
        verbose_name = "class tied to an LMS course"
        verbose_name_plural = "classes tied to LMS courses"

    def __str__(self) -> str:
        return f"{self.context} → {self.classroom}"


class Assignment(models.Model):
    """What one LMS link (resource link) opens and how its score is computed."""

    class Grading(models.TextChoices):
        MASTERY = "mastery", "Mastery of the skills it covers"
        COMPLETION = "completion", "Completion of its problems"

    resource_link = models.OneToOneField(LtiResourceLink, on_delete=models.CASCADE, related_name="tutor_assignment")
    context_class = models.ForeignKey(ContextClass, on_delete=models.CASCADE, related_name="assignments")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="+")
    goal = models.ForeignKey("courses.CourseGoal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    item = models.ForeignKey("content.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    grading = models.CharField(
        max_length=12, choices=Grading.choices, default=Grading.MASTERY,
        help_text="Mastery: the share of the assignment's skills the learner model counts as mastered. "
                  "Completion: the share of its problems finished.",
    )
    title = models.CharField(max_length=500, blank=True)
    # Assignment and Grade Services, from the launch's endpoint claim.
    lineitem_url = models.URLField(max_length=1000, blank=True)
    lineitems_url = models.URLField(max_length=1000, blank=True)
    ags_scopes = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["context_class", "title", "id"]

    def __str__(self) -> str:
        return self.title or str(self.resource_link)

    @property
    def target(self) -> str:
        if self.item_id:
            return f"item:{self.item_id}"
        if self.goal_id:
            return f"goal:{self.goal_id}"
        return f"course:{self.course.slug}"

    @property
    def grades_possible(self) -> bool:
        scopes = set(self.ags_scopes or [])
        return "https://purl.imsglobal.org/spec/lti-ags/scope/score" in scopes and bool(
            self.lineitem_url or ("https://purl.imsglobal.org/spec/lti-ags/scope/lineitem" in scopes
                                  and self.lineitems_url))


class GradeSync(models.Model):
    """One learner's score on one assignment: computed, sent, and what went wrong."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed, will retry"
        UNSUPPORTED = "unsupported", "The LMS takes no grades for this link"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="grades")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    lti_user = models.ForeignKey(LtiUser, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(null=True, blank=True, help_text="Last computed, 0 to 1.")
    score_sent = models.FloatField(null=True, blank=True, help_text="Last accepted by the LMS, 0 to 1.")
    sent_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    # Needs computing (and sending if it changed) at the next run, not before next_try_at.
    dirty = models.BooleanField(default=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed sends in a row.")
    next_try_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "student"], name="one_grade_per_assignment")]
        indexes = [models.Index(fields=["dirty", "next_try_at"])]
        ordering = ["assignment", "student__username"]

    def __str__(self) -> str:
        return f"{self.student} · {self.assignment}: {self.get_state_display()}"


class UsedNonce(models.Model):
    issuer = models.CharField(max_length=255)
    nonce = models.CharField(max_length=255)
    used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="The id_token's expiry: after it the row may be deleted.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "nonce"], name="nonce_used_once_per_issuer")]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.issuer} · {self.nonce}"


class LaunchRefusal(models.Model):
    created = models.DateTimeField(default=timezone.now, db_index=True)
    step = models.CharField(max_length=20, help_text="login (OIDC initiation) or launch")
    code = models.CharField(max_length=40)
    detail = models.TextField(blank=True)
    issuer = models.CharField(max_length=255, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    deployment_id = models.CharField(max_length=255, blank=True)
    sub = models.CharField("LMS user", max_length=255, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "refused LMS launch"
        verbose_name_plural = "refused LMS launches"

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.code}"
