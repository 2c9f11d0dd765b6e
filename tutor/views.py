from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from content.models import Course
from tutor import services
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
