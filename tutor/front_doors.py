"""``/``: each kind of user's front door, with what they do next.

- a student (and anyone signed in who teaches or researches nothing): their courses (``tutor.views.home``);
- a teacher: their classes, the courses they author and the authoring links;
- a researcher: their granted courses with the exports, their API token and the API docs.

Someone with several roles lands on the first of teacher, researcher, student they hold, and the
page links the others (``?door=student`` / ``?door=research`` / ``?door=teaching``). Anonymous
visitors get the welcome page.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from content import selectors as content_selectors
from tutor import roles, views
from tutor.research import selectors as research_selectors
from tutor.teaching import selectors as teaching_selectors

STUDENT, TEACHING, RESEARCH = "student", "teaching", "research"
DOOR_TITLES = {TEACHING: "Teaching", RESEARCH: "Research", STUDENT: "Learning"}


def doors_for(user: Any) -> list[str]:
    """The doors a user may open, the one they land on first. Anyone signed in may learn."""
    doors = []
    if roles.is_teacher(user):
        doors.append(TEACHING)
    if roles.is_researcher(user):
        doors.append(RESEARCH)
    return [*doors, STUDENT]


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return views.home(request)
    doors = doors_for(request.user)
    asked = request.GET.get("door", "")
    door = asked if asked in doors else doors[0]
    others = [(d, DOOR_TITLES[d]) for d in doors if d != door]
    if door == TEACHING:
        return _teaching(request, others)
    if door == RESEARCH:
        return _research(request, others)
    return views.home(request, other_doors=others)


def _teaching(request: HttpRequest, others: list[tuple[str, str]]) -> HttpResponse:
    classrooms = (teaching_selectors.classroom_list_for_teacher(user=request.user).select_related("course")
                  .annotate(n_students=Count("enrolments", distinct=True)).order_by("name"))
    courses = content_selectors.course_list_editable(user=request.user).order_by("title")
    return render(request, "tutor/doors/teaching.html",
                  {"classrooms": classrooms, "courses": courses, "other_doors": others})


def _research(request: HttpRequest, others: list[tuple[str, str]]) -> HttpResponse:
    return render(request, "tutor/doors/research.html", {
        "grants": research_selectors.grant_list(researcher=request.user),
        "token": research_selectors.token_for(user=request.user),
        "other_doors": others,
    })
