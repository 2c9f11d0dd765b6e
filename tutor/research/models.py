"""Research access to the interaction logs: students' consent and researchers' grants.

The tables keep their original ``tutor_*`` names (they were created by the ``tutor`` app).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["Consent", "ResearchGrant"]


class Consent(models.Model):
    """One consent decision. Records are appended, never edited: a student's latest record counts, and
    a student with no record, or whose latest record withholds consent, is left out of every export."""

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="research_consents")
    version = models.CharField(max_length=50, help_text="Version of the consent form the student answered.")
    given = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tutor_consent"
        ordering = ["student", "-at", "-id"]
        indexes = [models.Index(fields=["student", "-at"], name="tutor_consent_student_at")]

    def __str__(self) -> str:
        return f"{self.student} {'gave' if self.given else 'withheld'} consent v{self.version}"


class ResearchGrant(models.Model):
    """A researcher may export one course's (pseudonymised) logs."""

    researcher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="research_grants")
    course = models.ForeignKey("content.Course", on_delete=models.CASCADE, related_name="research_grants")
    # True: this researcher may ask for usernames alongside pseudonyms (API ``identifiable=true``,
    # ``export_logs --identifiable-for``); exports without the request, or for anyone else, never
    # name students. Set by administrators only (tutor/research/admin.py).
    identifiable = models.BooleanField(default=False)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tutor_researchgrant"
        ordering = ["course", "researcher"]
        constraints = [models.UniqueConstraint(fields=["researcher", "course"], name="unique_research_grant")]

    def __str__(self) -> str:
        return f"{self.researcher} → {self.course}"
