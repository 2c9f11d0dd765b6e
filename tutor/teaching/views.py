"""The teacher's pages: their classes, a class (a students-by-skills heatmap, who is stuck, recent
work), one student of a class, item statistics, an item's preview sandbox (the teacher talks to the
real tutor as a student would, not recorded as a student's work), the course's tutor settings and
goals; and the student's "join a class" form.

Every view checks the request (a teacher; a class they teach; a student of that class; a course
they may edit), then calls one selector or service. Anything that is not theirs is a 404, so a
teacher cannot tell another teacher's classes exist; students and researchers get a 403, anonymous
users the login page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from content import selectors as content_selectors
from content.models import Course, Item, KnowledgeComponent
from tutor import ratelimit, roles
from tutor.courses.models import CourseGoal, CourseSettings
from tutor.courses.services import course_settings
from tutor.models import TutoringSession
from tutor.teaching import selectors as sel
from tutor.teaching import services as teaching
from tutor.teaching.forms import (
    ClassroomCreateForm,
    ClassroomManageForm,
    CourseGoalForm,
    CourseSettingsForm,
    JoinForm,
    SandboxMessageForm,
)
from tutor.teaching.models import Classroom

View = Callable[..., HttpResponse]


def teacher_required(view: View) -> View:
    """Anonymous: to the login page. Signed in without the teacher role: 403."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.is_teacher(request.user):
            raise PermissionDenied("Only teachers can see this page.")
        return view(request, *args, **kwargs)

    return wrapped


def _classroom(request: HttpRequest, classroom_id: int) -> Classroom:
    classroom = sel.classroom_for_teacher(user=request.user, classroom_id=classroom_id)
    if classroom is None:
        raise Http404("No such class")
    return classroom


def _editable_course(request: HttpRequest, slug: str) -> Course:
    course = sel.course_for_editor(user=request.user, slug=slug)
    if course is None:
        raise Http404("No such course")
    return course


# ---------------------------------------------------------------------------------------------
# Classes


@teacher_required
@require_http_methods(["GET", "POST"])
def teacher_home(request: HttpRequest) -> HttpResponse:
    courses = content_selectors.course_list_editable(user=request.user).order_by("title")
    form = ClassroomCreateForm(request.POST or None, courses=courses)
    if request.method == "POST" and form.is_valid():
        classroom = teaching.classroom_create(teacher=request.user, course=form.cleaned_data["course"],
                                             name=form.cleaned_data["name"])
        messages.success(request, f"Class “{classroom.name}” created. Students join with the code "
                                  f"{classroom.join_code}.")
        return redirect("teacher-class", classroom_id=classroom.pk)
    classrooms = sel.classroom_list_for_teacher(user=request.user).prefetch_related("teachers")
    classrooms = classrooms.annotate(n_students=Count("enrolments", distinct=True))
    return render(request, "tutor/teacher/home.html", {"classrooms": classrooms, "form": form, "courses": courses})


HEAT_CLASSES = 10


def heatmap_row(s: sel.StudentSummary) -> SafeString:
    """One student's row after their name: their work in figures, then a cell per skill. Built here
    rather than in the template: a class of 200 students over 50 skills is 10,000 cells, and this
    keeps the page within its time budget. Only numbers and fixed words go into the markup."""
    out = [
        f'<td class="num" data-figure="attempts">{s.attempts}</td>',
        f'<td class="num" data-figure="correct">{s.correct}</td>',
        f'<td class="num" data-figure="recent">{s.recent_correct}/{s.recent_attempts}</td>',
        f'<td class="num" data-figure="hints">{s.recent_hints}</td>',
        f'<td class="num" data-figure="bottom-outs">{s.recent_bottom_outs}</td>',
        f'<td class="num" data-figure="mean-mastery">{round(s.mean_mastery * 100)}%</td>',
    ]
    top = HEAT_CLASSES - 1
    for p, p_sd, mastery, practised in zip(s.p_correct, s.p_correct_sd, s.mastery, s.practised, strict=True):
        pct = round(p * 100)
        css = f"h{min(top, int(mastery * HEAT_CLASSES))}"
        if p_sd > sel.UNCERTAIN_SD:
            css += " u"
        if not practised:
            css += " n"
        out.append(f'<td class="{css}" title="{pct}% ±{round(p_sd * 100)}; mastered {round(mastery * 100)}%">'
                   f"{pct}</td>")
    return mark_safe("".join(out))  # numbers and fixed strings only


@teacher_required
def class_detail(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = _classroom(request, classroom_id)
    overview = sel.class_overview(classroom=classroom)
    rows = [(s, heatmap_row(s)) for s in overview.students]
    # One reverse() for the whole table, not one per student.
    student_base = reverse("teacher-student", args=[classroom.pk, 0]).removesuffix("0/")
    return render(request, "tutor/teacher/class.html", {
        "classroom": classroom, "overview": overview, "rows": rows, "student_base": student_base,
        "uncertain_sd": sel.UNCERTAIN_SD, "heat_steps": range(0, 100, 100 // HEAT_CLASSES),
        "can_edit_course": content_selectors.course_can_edit(user=request.user, course=classroom.course),
        "manage_form": ClassroomManageForm(),
    })


@teacher_required
@require_POST
def class_manage(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = _classroom(request, classroom_id)
    form = ClassroomManageForm(request.POST)
    if not form.is_valid():
        notice, ok = "Unknown action: choose a new join code, or close or open joining.", False
    else:
        ok = True
        action = form.cleaned_data["action"]
        if action == "regenerate":
            teaching.classroom_code_regenerate(classroom=classroom)
            notice = f"New join code: {classroom.join_code}. The old code no longer works."
        else:
            teaching.classroom_joining_set(classroom=classroom, open_=action == "open")
            notice = ("Joining is open." if classroom.joining_open
                      else "Joining is closed: the code no longer admits new students.")
    if request.headers.get("HX-Request"):
        # htmx swaps just the code box; the notice goes with it instead of into the next page.
        return render(request, "tutor/teacher/partials/code.html",
                      {"classroom": classroom, "notice": notice, "ok": ok})
    (messages.success if ok else messages.error)(request, notice)
    return redirect("teacher-class", classroom_id=classroom.pk)


# ---------------------------------------------------------------------------------------------
# One student


CHART_W, CHART_H = 300.0, 90.0
PAD_L, PAD_R, PAD_T, PAD_B = 30.0, 8.0, 8.0, 18.0


def history_chart(points: Sequence[sel.MasteryPoint], start: datetime, end: datetime) -> dict[str, Any]:
    """SVG geometry of one skill's mastery over time: a step after each answer, then a dashed line to
    the prediction now (the forgetting since the last answer)."""
    span = max((end - start).total_seconds(), 1.0)
    inner_w, inner_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def x(at: datetime) -> float:
        return round(PAD_L + inner_w * (at - start).total_seconds() / span, 1)

    def y(p: float) -> float:
        return round(PAD_T + inner_h * (1 - min(1.0, max(0.0, p))), 1)

    answered = [p for p in points if not p.predicted]
    predicted = [p for p in points if p.predicted]
    line = " ".join(f"{x(p.at)},{y(p.mastery)}" for p in answered)
    tail = ""
    if answered and predicted:
        tail = f"{x(answered[-1].at)},{y(answered[-1].mastery)} {x(predicted[-1].at)},{y(predicted[-1].mastery)}"
    return {
        "width": CHART_W, "height": CHART_H, "left": PAD_L, "right": CHART_W - PAD_R, "top": PAD_T,
        "bottom": CHART_H - PAD_B, "line": line, "tail": tail,
        "dots": [{"x": x(p.at), "y": y(p.mastery)} for p in answered],
        "y_ticks": [{"y": y(v), "label": f"{round(v * 100)}%"} for v in (0.0, 0.5, 1.0)],
        "start_label": start.strftime("%d %b"), "end_label": "now",
    }


@teacher_required
def student_detail(request: HttpRequest, classroom_id: int, student_id: int) -> HttpResponse:
    classroom = _classroom(request, classroom_id)
    student = sel.student_in_classroom(classroom=classroom, student_id=student_id)
    if student is None:
        raise Http404("No such student in this class")
    course = classroom.course
    now = timezone.now()
    history = sel.student_mastery_history(course=course, student=student, now=now)
    names = dict(KnowledgeComponent.objects.filter(course=course).values_list("id", "name"))
    positions = dict(KnowledgeComponent.objects.filter(course=course).values_list("id", "position"))
    start = min((p.at for pts in history.values() for p in pts), default=now)
    charts = [
        {"kc_id": kc_id, "name": names.get(kc_id, "?"), "points": pts,
         "now": pts[-1].mastery if pts else None, "answers": sum(1 for p in pts if not p.predicted),
         "chart": history_chart(pts, start, now)}
        for kc_id, pts in sorted(history.items(), key=lambda kv: (positions.get(kv[0], 0), kv[0]))
    ]
    return render(request, "tutor/teacher/student.html", {
        "classroom": classroom, "student": student,
        "traits": sel.student_traits(course=course, student=student),
        "charts": charts,
        "sessions": sel.student_transcripts(course=course, student=student),
        "struggles": sel.student_struggles(course=course, student=student),
    })


@teacher_required
def session_transcript(request: HttpRequest, classroom_id: int, student_id: int, session_id: int) -> HttpResponse:
    """One session's transcript: loaded by htmx when the teacher opens it on the student's page
    (rendering every turn of every session up front would cost the page most of its time), or as a
    page of its own without JavaScript."""
    classroom = _classroom(request, classroom_id)
    student = sel.student_in_classroom(classroom=classroom, student_id=student_id)
    if student is None:
        raise Http404("No such student in this class")
    found = sel.student_transcripts(course=classroom.course, student=student, session_id=session_id)
    if not found:
        raise Http404("No such session")
    context = {"classroom": classroom, "student": student, "s": found[0]}
    if request.headers.get("HX-Request"):
        return render(request, "tutor/teacher/partials/transcript.html", context)
    return render(request, "tutor/teacher/session.html", context)


# ---------------------------------------------------------------------------------------------
# Item statistics


def _misconception_add_url(base: str, step_id: int, answer: str) -> str:
    """The admin's "add misconception" form, prefilled with the step and the wrong answer."""
    query = urlencode({"step": step_id, "pattern_kind": "answer", "pattern": answer[:500],
                       "name": f"answers {answer[:60]}"[:200]})
    return f"{base}?{query}"


def _items_page(request: HttpRequest, course: Course, classroom: Classroom | None) -> HttpResponse:
    stats = sel.item_stats(course=course, classroom=classroom)
    can_edit = content_selectors.course_can_edit(user=request.user, course=course)
    if can_edit:
        base = reverse("admin:content_misconception_add")
        for item in stats:
            for step in item.steps:
                for wrong in step.wrong_answers:
                    if not wrong.misconception and not wrong.partial:
                        wrong.add_url = _misconception_add_url(base, step.id, wrong.answer)
    return render(request, "tutor/teacher/items.html", {
        "course": course, "classroom": classroom, "items": stats, "can_edit": can_edit,
    })


@teacher_required
def class_items(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = _classroom(request, classroom_id)
    return _items_page(request, classroom.course, classroom)


@teacher_required
def course_items(request: HttpRequest, slug: str) -> HttpResponse:
    return _items_page(request, _editable_course(request, slug), None)


# ---------------------------------------------------------------------------------------------
# Preview as a student: a live sandbox conversation, not logged as a student's


def _sandbox_item(request: HttpRequest, item_id: int) -> Item:
    item = sel.item_for_sandbox(user=request.user, item_id=item_id)
    if item is None:
        raise Http404("No such item")
    return item


def _sandbox_page(request: HttpRequest, item: Item, session: TutoringSession,
                  form: SandboxMessageForm | None = None, status: int = 200) -> HttpResponse:
    """The whole preview page, or (for htmx) just its conversation, with a fresh message form."""
    if form is None or form.is_valid():
        form = SandboxMessageForm(initial={"client_id": uuid.uuid4().hex})
    context = {"item": item, "session": session, "s": sel.sandbox_transcript(session=session), "form": form}
    if request.headers.get("HX-Request"):
        form.fields["message"].widget.attrs["autofocus"] = True  # keep typing after each reply
        # htmx swaps only a 2xx answer: a refused message is shown in the form, with a 200.
        return render(request, "tutor/teacher/partials/sandbox.html", context)
    return render(request, "tutor/teacher/preview.html", context, status=status)


@login_required
def item_preview(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _sandbox_item(request, item_id)
    return _sandbox_page(request, item, teaching.sandbox_session(teacher=request.user, item=item))


@login_required
@require_POST
def item_preview_say(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _sandbox_item(request, item_id)
    session = teaching.sandbox_session(teacher=request.user, item=item)
    form = SandboxMessageForm(request.POST)
    if form.is_valid() and not ratelimit.tutor_message_allowed(user=request.user):
        form.add_error(None, "You are sending messages very quickly — wait a moment, then try again.")
    if not form.is_valid():
        return _sandbox_page(request, item, session, form, status=400)
    teaching.sandbox_say(session=session, text=form.cleaned_data["text"], client_id=form.cleaned_data["client_id"])
    if request.headers.get("HX-Request"):
        return _sandbox_page(request, item, session)
    return redirect(reverse("item-preview", args=[item.pk]) + "#sandbox-form")


@login_required
@require_POST
def item_preview_restart(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _sandbox_item(request, item_id)
    session = teaching.sandbox_restart(teacher=request.user, item=item)
    if request.headers.get("HX-Request"):
        return _sandbox_page(request, item, session)
    return redirect("item-preview", item_id=item.pk)


# ---------------------------------------------------------------------------------------------
# Tutor settings and goals


@teacher_required
@require_http_methods(["GET", "POST"])
def course_settings_page(request: HttpRequest, slug: str) -> HttpResponse:
    course = _editable_course(request, slug)
    instance = CourseSettings.objects.filter(course=course).first() or CourseSettings(course=course)
    form = CourseSettingsForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        teaching.course_settings_save(course=course, values={f: form.cleaned_data[f] for f in form.Meta.fields})
        messages.success(request, "Tutor settings saved. They apply from each student's next message.")
        return redirect("teacher-course-settings", slug=course.slug)
    goals = CourseGoal.objects.filter(course=course).prefetch_related("kcs")
    return render(request, "tutor/teacher/settings.html", {
        "course": course, "form": form, "goals": goals, "effective": course_settings(course),
    })


@teacher_required
@require_http_methods(["GET", "POST"])
def goal_edit(request: HttpRequest, slug: str, goal_id: int | None = None) -> HttpResponse:
    course = _editable_course(request, slug)
    goal = None
    if goal_id is not None:
        goal = CourseGoal.objects.filter(course=course, pk=goal_id).first()
        if goal is None:
            raise Http404("No such goal")
    if request.method == "POST" and goal is not None and request.POST.get("action") == "delete":
        teaching.goal_delete(goal=goal)
        messages.success(request, f"Goal “{goal.name}” deleted.")
        return redirect("teacher-course-settings", slug=course.slug)
    form = CourseGoalForm(request.POST or None, instance=goal, course=course)
    if request.method == "POST" and form.is_valid():
        saved = teaching.goal_save(course=course, goal=goal, name=form.cleaned_data["name"],
                                  kcs=form.cleaned_data["kcs"], is_default=form.cleaned_data["is_default"],
                                  position=form.cleaned_data["position"] or 0)
        messages.success(request, f"Goal “{saved.name}” saved.")
        return redirect("teacher-course-settings", slug=course.slug)
    return render(request, "tutor/teacher/goal.html", {"course": course, "goal": goal, "form": form})


# ---------------------------------------------------------------------------------------------
# Students join a class


@login_required
@require_http_methods(["GET", "POST"])
def class_join(request: HttpRequest) -> HttpResponse:
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            classroom, joined = teaching.classroom_join(student=request.user, code=form.cleaned_data["code"])
        except teaching.JoinError as exc:
            form.add_error("code", str(exc))
        else:
            messages.success(request, f"You joined {classroom.name} ({classroom.course.title})." if joined
                             else f"You are already in {classroom.name}.")
            return redirect("home")
    return render(request, "tutor/teacher/join.html", {"form": form})
