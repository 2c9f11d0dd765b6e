"""The researcher's page actions (the researcher's front door is ``tutor.front_doors``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from tutor import roles
from tutor.research import services


@login_required
@require_POST
def token_issue(request: HttpRequest) -> HttpResponse:
    """Create the signed-in researcher's API token, or replace it (``action=replace``)."""
    if not roles.is_researcher(request.user):
        raise PermissionDenied("API tokens are for researchers.")
    replace = request.POST.get("action") == "replace"
    services.token_issue(user=request.user, replace=replace)
    messages.success(request, "Your new API token replaces the old one, which no longer works." if replace
                     else "Your API token is ready: send it as “Authorization: Token …”.")
    return redirect(f"{reverse('home')}?door=research#api-token")
