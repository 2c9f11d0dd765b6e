"""Reads for the researcher's pages: their grants, with how much consented data each course has."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from rest_framework.authtoken.models import Token

from tutor.research.exports import consenting_students
from tutor.research.models import ResearchGrant


def grant_list(*, researcher: Any) -> QuerySet[ResearchGrant]:
    """The researcher's grants, each with ``n_students`` (consenting students with a session in the
    course) and ``n_sessions`` (their sessions): what an export of the course would hold."""
    consenting = Q(course__tutoring_sessions__student__in=consenting_students())
    return (
        ResearchGrant.objects.filter(researcher_id=researcher.pk)
        .select_related("course")
        .annotate(n_students=Count("course__tutoring_sessions__student", filter=consenting, distinct=True),
                  n_sessions=Count("course__tutoring_sessions", filter=consenting, distinct=True))
        .order_by("course__title")
    )


def token_for(*, user: Any) -> Token | None:
    """The user's API token, if they created one."""
    return Token.objects.filter(user_id=user.pk).first()
