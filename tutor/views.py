from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from content.models import Course, Item
from tutor import engine, planning, selectors, services
from tutor.forms import SignupForm
from tutor.roles import STUDENT


def home(request: HttpRequest) -> HttpResponse:
    courses = Course.objects.order_by("title") if request.user.is_authenticated else Course.objects.none()
    return render(request, "tutor/home.html", {"courses": courses})


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
        return redirect("home")
    session = engine.session_start(student=request.user, item=item)
    if reason:
        messages.info(request, reason)
    return redirect("session", session_id=session.pk)


@login_required
@require_POST
def item_start(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=item_id, steps__isnull=False)
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
    }
    return render(request, "tutor/session.html", context)
