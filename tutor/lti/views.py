"""The LMS's doors into the tutor (key set, login initiation, launch), the teacher's deep-linking and
link set-up pages, and the teacher's view of a class's LMS link (roster, grading, grades sent).

Each view checks the request and calls one service. A refused login or launch is answered with a
page saying why (never a 500), logged, and kept for the administrator (``LaunchRefusal``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from lti_tool.models import Key, LtiRegistration, LtiResourceLink

from tutor import roles
from tutor.lti import frames, launch, selectors, services
from tutor.lti.cookies import cookie_cross_site
from tutor.lti.forms import GradingForm, TargetForm
from tutor.lti.launch import LaunchRefused
from tutor.lti.models import Assignment, ContextClass, origin_of
from tutor.teaching.models import Classroom

# A refusal page says nothing secret and offers no action, so any LMS may frame it: the person in
# the LMS frame then reads why instead of a blocked frame.
ANY_FRAME = {"frame-ancestors": "*"}


def _refused(request: HttpRequest, step: str, refused: LaunchRefused) -> HttpResponse:
    services.refusal_record(request=request, step=step, refused=refused)
    response = render(request, "lti/refused.html", {"refused": refused}, status=refused.status)
    response.csp_overrides = ANY_FRAME  # type: ignore[attr-defined]
    return response


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """The tool's public keys: every active key, so a platform can check tokens signed with the
    newest key while ones signed with an older key are still valid (``manage.py rotate_keys``)."""
    launch.tool_key_ensure()
    response = JsonResponse(Key.objects.as_jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response


@csrf_exempt  # a cross-site request from the LMS by design; the OIDC state and nonce protect it
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, registration_uuid: Any) -> HttpResponse:
    """OIDC third-party login initiation: send the browser to the LMS's authorisation endpoint."""
    try:
        response: HttpResponse = launch.login_redirect(
            request, registration_uuid=registration_uuid, launch_url=request.build_absolute_uri(reverse("lti-launch")))
    except LaunchRefused as exc:
        return _refused(request, "login", exc)
    if request.is_secure():
        # pylti1p3's state cookie must come back with the launch, posted inside the LMS's frame.
        for name in [n for n in response.cookies if n.startswith("lti1p3-")]:
            cookie_cross_site(response, name)
    return response


@csrf_exempt  # the id_token, signed by the LMS and bound to the login's state and nonce, is the proof
@never_cache
@require_POST
def launch_view(request: HttpRequest) -> HttpResponse:
    """The LMS's launch (a resource link or a deep-linking request): sign the user in, no password."""
    try:
        valid = launch.launch_validate(request)
        outcome = services.launch_accept(launch=valid)
    except LaunchRefused as exc:
        return _refused(request, "launch", exc)
    auth_login(request, outcome.user, backend="django.contrib.auth.backends.ModelBackend")
    extra: dict[str, Any] = {}
    if outcome.kind == "deep_link":
        extra["deep_link"] = outcome.deep_link
    elif outcome.kind == "setup" and outcome.resource_link is not None:
        extra["setup_link"] = outcome.resource_link.pk
    frames.session_mark(request, registration_id=outcome.registration.pk,
                        origins=selectors.frame_origins(registration=outcome.registration), **extra)
    if outcome.kind == "deep_link":
        return redirect("lti-deep-link")
    if outcome.kind == "setup":
        return redirect("lti-link-setup")
    assert outcome.assignment is not None
    classroom = outcome.assignment.context_class.classroom
    if outcome.role == "instructor":
        failed = selectors.failed_grades(classroom=classroom).count()
        if failed:
            messages.warning(request, f"{failed} score(s) could not be sent to the LMS. See “LMS link” for this class.")
        return redirect("teacher-class", classroom_id=classroom.pk)
    return redirect(services.assignment_open(student=outcome.user, assignment=outcome.assignment))


def _lti_state(request: HttpRequest) -> dict[str, Any]:
    data = request.session.get(frames.SESSION_KEY)
    return data if isinstance(data, dict) else {}


@login_required
@require_http_methods(["GET", "POST"])
def deep_link(request: HttpRequest) -> HttpResponse:
    """The teacher picks a course, a goal or one problem for the LMS link being made."""
    state = _lti_state(request)
    pending = state.get("deep_link")
    if not isinstance(pending, dict):
        raise PermissionDenied("Open this page from your LMS's “add an activity” dialog.")
    form = TargetForm(request.POST or None, gradebook=True)
    if request.method == "POST" and form.is_valid():
        token, return_url = services.deep_link_response(
            deep_link=pending, target=form.cleaned_data["target"], grading=form.cleaned_data["grading"],
            launch_url=request.build_absolute_uri(reverse("lti-launch")), gradebook=form.cleaned_data["gradebook"])
        state.pop("deep_link", None)  # one response per request from the LMS
        request.session[frames.SESSION_KEY] = state
        response = render(request, "lti/deep_link_return.html", {"jwt": token, "return_url": return_url})
        # The response form posts back to the LMS.
        response.csp_overrides = {"form-action": f"'self' {origin_of(return_url)}"}  # type: ignore[attr-defined]
        return response
    title = (pending.get("settings") or {}).get("title") or ""
    return render(request, "lti/deep_link.html", {"form": form, "title": title})


@login_required
@require_http_methods(["GET", "POST"])
def link_setup(request: HttpRequest) -> HttpResponse:
    """An instructor opened a plain LMS link (made without deep linking): choose what it opens."""
    state = _lti_state(request)
    link_id = state.get("setup_link")
    if not isinstance(link_id, int) or not roles.is_teacher(request.user):
        raise PermissionDenied("Open this link from your LMS as its teacher.")
    resource_link = get_object_or_404(LtiResourceLink.objects.select_related("context"), pk=link_id)
    form = TargetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            assignment = services.link_setup(resource_link=resource_link, teacher=request.user,
                                             target=form.cleaned_data["target"], grading=form.cleaned_data["grading"])
        except ValueError as exc:
            form.add_error("target", str(exc))
        else:
            state.pop("setup_link", None)
            request.session[frames.SESSION_KEY] = state
            messages.success(request, f"This LMS link now opens “{assignment.title}”.")
            return redirect("teacher-class", classroom_id=assignment.context_class.classroom_id)
    return render(request, "lti/link_setup.html", {"form": form, "resource_link": resource_link})


def _taught_classroom(request: HttpRequest, classroom_id: int) -> Classroom:
    """A class this teacher teaches (404 otherwise, as on the other teacher pages)."""
    if not roles.is_teacher(request.user):
        raise PermissionDenied("Only teachers can see this page.")
    qs = Classroom.objects.select_related("course")
    if not request.user.is_superuser:
        qs = qs.filter(teachers=request.user.pk)
    classroom = qs.filter(pk=classroom_id).first()
    if classroom is None:
        raise Http404("No such class")
    return classroom


@login_required
@require_GET
def class_lms(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = _taught_classroom(request, classroom_id)
    overview = selectors.class_lms(classroom=classroom)
    return render(request, "lti/class.html", {"overview": overview, "classroom": classroom,
                                              "grading_choices": Assignment.Grading.choices})


@login_required
@require_POST
def roster_sync(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = _taught_classroom(request, classroom_id)
    links = list(ContextClass.objects.filter(classroom=classroom).select_related("context__deployment__registration"))
    if not links:
        messages.error(request, "This class is not tied to an LMS course.")
    for link in links:
        try:
            report = services.roster_sync(context_class=link)
        except services.LmsServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Roster synced from the LMS: {report.learners} student(s), "
                                      f"{report.instructors} teacher(s), {report.removed} removed from the class.")
    return redirect("lti-class", classroom_id=classroom.pk)


@login_required
@require_POST
def grading_set(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = get_object_or_404(Assignment.objects.select_related("context_class"), pk=assignment_id)
    classroom = _taught_classroom(request, assignment.context_class.classroom_id)
    form = GradingForm(request.POST, prefix=f"a{assignment.pk}")
    if form.is_valid():
        services.assignment_grading_set(assignment=assignment, grading=form.cleaned_data["grading"])
        messages.success(request, f"“{assignment.title}” is now scored by {assignment.get_grading_display().lower()}; "
                                  "its scores will be sent again.")
    else:
        messages.error(request, "Choose mastery or completion.")
    return redirect("lti-class", classroom_id=classroom.pk)


@login_required
@require_POST
def grades_send(request: HttpRequest, classroom_id: int) -> HttpResponse:
    """Send this class's waiting and failed scores now (the back-off is skipped)."""
    classroom = _taught_classroom(request, classroom_id)
    services.grades_retry_now(classroom=classroom)
    run = services.grades_send_due(classroom=classroom)
    text = f"Scores sent: {run.sent}; unchanged: {run.unchanged}; failed: {run.failed}."
    (messages.warning if run.failed else messages.success)(request, text)
    return redirect("lti-class", classroom_id=classroom.pk)


def registration_urls(request: HttpRequest, registration: LtiRegistration) -> dict[str, str]:
    """The addresses an LMS administrator types into the LMS for this registration."""
    return {
        "login": request.build_absolute_uri(reverse("lti-login", args=[registration.uuid])),
        "launch": request.build_absolute_uri(reverse("lti-launch")),
        "deep_link": request.build_absolute_uri(reverse("lti-launch")),
        "jwks": request.build_absolute_uri(reverse("lti-jwks")),
    }
