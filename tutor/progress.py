"""The student's progress page: per knowledge component, what the learner model believes now, how
that belief is predicted to fade over the next four weeks, and what is due for review.

``progress_rows`` does the work (one call to ``tracing.selectors.mastery_predict`` per point of the
forgetting curve); the view only checks the request and renders. The learner is always the
requesting user, so the URL carries no student id that could be changed to see someone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from content.models import Course, KnowledgeComponent
from tracing.selectors import kc_practice_times, mastery_predict
from tutor.courses import rules
from tutor.courses.services import settings_effective

# How far ahead the page looks for reviews ("due in N days"); what "due" means is
# tutor.courses.rules.is_due_for_review with the student's own thresholds.
REVIEW_WINDOW_DAYS = 7
# Daily for the review window (so "due in N days" is exact to the day), then sparser to four weeks.
CURVE_DAYS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 21, 28)

# Geometry of the small forgetting-curve chart (SVG user units; the SVG scales to its container).
CHART_W, CHART_H = 300.0, 110.0
PAD_L, PAD_R, PAD_T, PAD_B = 30.0, 8.0, 8.0, 20.0


@dataclass(frozen=True)
class CurvePoint:
    day: int
    p_correct: float
    p_correct_sd: float


@dataclass(frozen=True)
class KCProgress:
    kc_id: int
    name: str
    practised: bool
    practised_at: datetime | None
    p_correct: float  # now
    p_correct_sd: float
    low: float  # p_correct ± sd, clipped to [0, 1]
    high: float
    mastery: float  # P(p(correct) at least the mastery threshold), now
    mastered: bool  # tutor.courses.rules.is_mastered, now
    curve: tuple[CurvePoint, ...]
    due_in_days: int | None  # first day within the review window on which it is due for review
    chart: dict[str, Any]  # SVG geometry, precomputed for the template

    @property
    def spread(self) -> float:
        """Width of the likely range (``high - low``), for the page's bar."""
        return self.high - self.low

    @property
    def due_label(self) -> str:
        if self.due_in_days is None:
            return ""
        if self.due_in_days == 0:
            return "now"
        return "tomorrow" if self.due_in_days == 1 else f"in {self.due_in_days} days"


def progress_rows(*, learner: Any, course: Course, now: datetime | None = None) -> list[KCProgress]:
    """One row per KC of the course, in the course's KC order."""
    now = now or timezone.now()
    kcs = list(KnowledgeComponent.objects.filter(course=course).order_by("position", "id").values_list("id", "name"))
    if not kcs:
        return []
    kc_ids = [k for k, _ in kcs]
    # The thresholds the tutor and the planner use for this student (a page that shows assigns nothing).
    taught = settings_effective(course=course, student=learner, assign=False)
    practised = kc_practice_times(learner=learner, course=course, kc_ids=kc_ids)
    by_day = {
        day: mastery_predict(learner=learner, course=course, kcs=kc_ids, at=now + timedelta(days=day),
                             mastery_threshold=taught.mastery_threshold)
        for day in CURVE_DAYS
    }
    rows = []
    for kc_id, name in kcs:
        curve = tuple(
            CurvePoint(day, by_day[day][kc_id].p_correct, by_day[day][kc_id].p_correct_sd) for day in CURVE_DAYS
        )
        today = by_day[0][kc_id]
        is_practised = kc_id in practised
        due = next((
            p.day for p in curve if p.day <= REVIEW_WINDOW_DAYS and rules.is_due_for_review(
                practised=is_practised, p_correct_now=today.p_correct, p_correct_later=p.p_correct,
                mastery_threshold=taught.mastery_threshold, review_threshold=taught.review_threshold)
        ), None)
        rows.append(
            KCProgress(
                kc_id=kc_id,
                name=name,
                practised=is_practised,
                practised_at=practised.get(kc_id),
                p_correct=today.p_correct,
                p_correct_sd=today.p_correct_sd,
                low=_clip(today.p_correct - today.p_correct_sd),
                high=_clip(today.p_correct + today.p_correct_sd),
                mastery=today.mastery,
                mastered=bool(rules.is_mastered(today.p_correct, mastery_threshold=taught.mastery_threshold)),
                curve=curve,
                due_in_days=due,
                chart=curve_chart(curve, review_threshold=taught.review_threshold),
            )
        )
    return rows


def review_due(rows: Sequence[KCProgress]) -> list[KCProgress]:
    """KCs due for review within the window, soonest first."""
    due = [r for r in rows if r.due_in_days is not None]
    return sorted(due, key=lambda r: (r.due_in_days, r.p_correct))


def curve_chart(curve: Sequence[CurvePoint], *, review_threshold: float) -> dict[str, Any]:
    """SVG geometry for one forgetting curve: the line, a ±1 sd band, the review threshold, ticks."""
    last_day = max(p.day for p in curve) or 1
    inner_w, inner_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def x(day: float) -> float:
        return round(PAD_L + inner_w * day / last_day, 1)

    def y(p: float) -> float:
        return round(PAD_T + inner_h * (1 - _clip(p)), 1)

    line = " ".join(f"{x(p.day)},{y(p.p_correct)}" for p in curve)
    upper = [f"{x(p.day)},{y(p.p_correct + p.p_correct_sd)}" for p in curve]
    lower = [f"{x(p.day)},{y(p.p_correct - p.p_correct_sd)}" for p in reversed(curve)]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "line": line,
        "band": " ".join(upper + lower),
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "top": PAD_T,
        "bottom": CHART_H - PAD_B,
        "threshold_y": y(review_threshold),
        "y_ticks": [{"y": y(v), "label": f"{round(v * 100)}%"} for v in (0.0, 0.5, 1.0)],
        "x_ticks": [{"x": x(d), "label": "now" if d == 0 else f"{d}d"} for d in (0, 7, 14, 21, 28) if d <= last_day],
        "summary": "; ".join(
            f"{'now' if p.day == 0 else f'in {p.day} days'} {round(p.p_correct * 100)}%"
            for p in curve
            if p.day in (0, 7, 14, 28)
        ),
    }


def _clip(p: float) -> float:
    return min(1.0, max(0.0, p))


@login_required
def progress_page(request: HttpRequest, slug: str) -> HttpResponse:
    course = get_object_or_404(Course, slug=slug)
    rows = progress_rows(learner=request.user, course=course)
    taught = settings_effective(course=course, student=request.user, assign=False)
    context = {
        "course": course,
        "rows": rows,
        "due": review_due(rows),
        "threshold": taught.review_threshold,
        "mastery_threshold": taught.mastery_threshold,
        "window_days": REVIEW_WINDOW_DAYS,
    }
    return render(request, "tutor/progress.html", context)
