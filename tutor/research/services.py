"""Writes for the researcher's pages."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def token_issue(*, user: Any, replace: bool = False) -> Token:
    """The user's API token: the existing one, or a new one. ``replace`` revokes the old token first
    (for a token that leaked or was shared)."""
    if replace:
        Token.objects.filter(user_id=user.pk).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token
