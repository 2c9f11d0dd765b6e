from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from content.models import Course, Item
from tutor import engine, selectors, services
from tutor.courses import services as course_settings
from tutor.courses.models import CourseGoal, StudentGoal
from tutor.forms import SignupForm
from tutor.planning import services as planning
from tutor.roles import STUDENT


def home(request: HttpRequest, *, other_doors: list[tuple[str, str]] | None = None) -> HttpResponse:
    """The student's front door (and the welcome page); ``tutor.front_doors`` picks it for ``/``.
    ``other_doors`` are the user's other roles' pages, linked from this one."""
    courses: list[Course] = []
    if request.user.is_authenticated:
        courses = list(Course.objects.order_by("title").prefetch_related("goals"))
        _attach_goals(request.user, courses)
    return render(request, "tutor/home.html", {"courses": courses, "other_doors": other_doors or []})


def _attach_goals(student: Any, courses: list[Course]) -> None:
    """Each course's goals and the one the student works toward (picked, else the default), for the
    goal choice on the course card."""
    chosen = dict(StudentGoal.objects.filter(student=student, course__in=courses).values_list("course_id", "goal_id"))
    for course in courses:
        goals = list(course.goals.all())
        default = next((g.pk for g in goals if g.is_default), None)
        course.goal_options = goals  # type: ignore[attr-defined]
        course.goal_current = chosen.get(course.pk, default)  # type: ignore[attr-defined]


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_create(
            username=form.cleaned_data["username"], password=form.cleaned_data["password1"], role=STUDENT
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome! Pick a course to start learning.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_POST
def continue_learning(request: HttpRequest, slug: str) -> HttpResponse:
    course = get_object_or_404(Course, slug=slug)
    item, reason = planning.item_next(student=request.user, course=course)
    if item is None:
        messages.success(request, f"You have worked through every item of “{course.title}”. Well done!")
        return _redirect(request, reverse("home"))
    session = engine.session_start(student=request.user, item=item)
    if reason:
        messages.info(request, reason)
    # The Next item button in a finished conversation posts over htmx: it follows as a page load.
    return _redirect(request, reverse("session", args=[session.pk]))


@login_required
@require_POST
def item_start(request: HttpRequest, item_id: int) -> HttpResponse:
    # distinct(): the join on steps has one row per step (an item of several steps was a 500).
    item = get_object_or_404(Item.objects.filter(steps__isnull=False).distinct(), pk=item_id)
    session = engine.session_start(student=request.user, item=item)
    return redirect("session", session_id=session.pk)


@login_required
def session_page(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_for_student(student=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session")
    context = {
        "session": session,
        "item": session.item,
        "turns": selectors.session_transcript(session=session),
        "next_item": selectors.item_next_in_order(student=request.user, course=session.course),
        "similar_turn": engine.similar_offer_turn(session),
    }
    return render(request, "tutor/session.html", context)


@login_required
@require_POST
def session_similar(request: HttpRequest, session_id: int) -> HttpResponse:
    """Start a problem like this session's (same skills, matched difficulty), offered after the
    student was shown the worked answer."""
    session = selectors.session_for_student(student=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session")
    if engine.similar_offer_turn(session) is None:
        return HttpResponseBadRequest("A similar problem is offered only after the worked answer was shown.")
    item, reason = planning.item_similar(student=request.user, item=session.item)
    if item is None:
        messages.info(request, "There is no other problem on these skills yet. Choose Next item to go on.")
        return _redirect(request, reverse("session", args=[session.pk]))
    similar = engine.session_start(student=request.user, item=item)
    messages.info(request, reason)
    return _redirect(request, reverse("session", args=[similar.pk]))


@login_required
@require_POST
def goal_choose(request: HttpRequest, slug: str) -> HttpResponse:
    """The student picks one of the teacher's goals for a course; the planner aims at it."""
    course = get_object_or_404(Course, slug=slug)
    try:
        goal_id = int(request.POST.get("goal", ""))
    except ValueError:
        return HttpResponseBadRequest("Choose one of the course's goals.")
    goal = CourseGoal.objects.filter(pk=goal_id).first()
    if goal is None:
        raise Http404("No such goal")
    try:
        course_settings.goal_choose(student=request.user, course=course, goal=goal)
    except ValueError as exc:  # a goal of another course
        return HttpResponseBadRequest(str(exc))
    messages.success(request, f"Your goal in “{course.title}” is now “{goal.name}”.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("home")
    return redirect(target)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect htmx follows as a full page load (``HX-Redirect``), or a plain one."""
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)
