"""The student's progress page, built around what a learner can act on: what I know, what is fading
(review it), what I am still learning, what I have not started, what to do next (the planner's next
item, with a button that starts it) and my progress week by week.

Every judgement is the course's own rule with the student's effective thresholds
(``tutor.courses.rules.is_mastered`` / ``is_due_for_review``, as the planner uses them), and every
figure is a read of the learner model (``tracing.selectors``): nothing here models the learner.
A skill never practised reads "not started" rather than the model's prior, which for a new learner
is a population average and would otherwise outrank a skill just practised. Figures are shown as
"about N in 10" (the predicted chance of answering a typical problem of the skill right).

``progress_page_context`` does the work (``progress_rows``, ``progress_weeks``, the planner); the view
only checks the request and renders.
The learner is always the requesting user, so the URL carries no student id that could be changed
to see someone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.timesince import timesince

from content.models import Course, KnowledgeComponent
from tracing.selectors import kc_practice_times, mastery_bulk, observations_for_course
from tutor.courses import rules
from tutor.courses.services import settings_effective
from tutor.planning import services as planning

# How far ahead the page looks for reviews ("review within N days"); what "due" means is
# tutor.courses.rules.is_due_for_review with the student's own thresholds.
REVIEW_WINDOW_DAYS = 7
# Daily over the review window, so "review within N days" is exact to the day.
CURVE_DAYS: tuple[int, ...] = tuple(range(REVIEW_WINDOW_DAYS + 1))
# How many weeks of answers the page shows (the current one included).
WEEKS_SHOWN = 8

KNOWN, REVIEW, LEARNING, NOT_STARTED = "known", "review", "learning", "not-started"

# Geometry of the weekly chart (SVG user units; the SVG scales to its container).
CHART_W, CHART_H = 320.0, 120.0
CHART_TOP, CHART_BOTTOM = 16.0, 96.0  # bar area; the week labels sit below it


def in_ten(p: float) -> int:
    """A probability as "about N in 10" (0 to 10)."""
    return min(10, max(0, round(p * 10)))


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
    mastery: float  # P(p(correct) at least the mastery threshold), now
    mastered: bool  # tutor.courses.rules.is_mastered, now
    curve: tuple[CurvePoint, ...]
    due_in_days: int | None  # first day within the review window on which it is due for review

    @property
    def state(self) -> str:
        """Which list of the page the skill belongs to."""
        if not self.practised:
            return NOT_STARTED
        if self.due_in_days is not None:
            return REVIEW
        return KNOWN if self.mastered else LEARNING

    @property
    def now_in_ten(self) -> int:
        return in_ten(self.p_correct)

    @property
    def week_in_ten(self) -> int:
        """About N in 10 a week from now without practice."""
        return in_ten(self._at(REVIEW_WINDOW_DAYS).p_correct)

    @property
    def due_in_ten(self) -> int | None:
        """About N in 10 on the day it is due for review."""
        return None if self.due_in_days is None else in_ten(self._at(self.due_in_days).p_correct)

    @property
    def due_label(self) -> str:
        if self.due_in_days is None:
            return ""
        if self.due_in_days == 0:
            return "now"
        return "by tomorrow" if self.due_in_days == 1 else f"within {self.due_in_days} days"

    @property
    def practised_ago(self) -> str:
        """When it was last practised, in words ("just now", "3 days ago")."""
        if self.practised_at is None:
            return ""
        ago = timesince(self.practised_at)
        return "just now" if ago.startswith("0\xa0") else f"{ago} ago"

    def _at(self, day: int) -> CurvePoint:
        return next(p for p in self.curve if p.day == day)


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
    # Every day of the curve in one bulk read (equal to mastery_predict day by day, in two queries).
    times = {day: now + timedelta(days=day) for day in CURVE_DAYS}
    bulk = mastery_bulk(course=course, learner_ids=[learner.pk], kc_ids=kc_ids, at=list(times.values()),
                        mastery_threshold=taught.mastery_threshold)
    by_day = {day: {kc: bulk.get(at, learner.pk, kc) for kc in kc_ids} for day, at in times.items()}
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
                mastery=today.mastery,
                mastered=bool(rules.is_mastered(today.p_correct, mastery_threshold=taught.mastery_threshold)),
                curve=curve,
                due_in_days=due,
            )
        )
    return rows


def review_due(rows: Sequence[KCProgress]) -> list[KCProgress]:
    """KCs due for review within the window, soonest first."""
    due = [r for r in rows if r.due_in_days is not None]
    return sorted(due, key=lambda r: (r.due_in_days, r.p_correct))


@dataclass(frozen=True)
class Week:
    start: date  # the Monday the week starts on
    answers: int
    right: int
    skills: int  # skills answered on that week
    new_skills: int  # skills answered on for the first time that week

    @property
    def label(self) -> str:
        return f"{self.start.day} {self.start:%b}"


def progress_weeks(*, learner: Any, course: Course, now: datetime | None = None,
                   weeks: int = WEEKS_SHOWN) -> list[Week]:
    """The learner's answers in the course, week by week (weeks start on Monday, in the site's time
    zone): the last ``weeks`` weeks up to this one, from the week of the first answer when that is
    later. Empty when the learner has not answered yet."""
    now = now or timezone.now()
    answers = observations_for_course(course=course, learners=[learner]).order_by("at", "id")
    rows = list(answers.values_list("at", "correct", "kcs"))
    if not rows:
        return []
    this_week = _monday(timezone.localtime(now).date())
    first_week = max(_monday(timezone.localtime(rows[0][0]).date()), this_week - timedelta(weeks=weeks - 1))
    count = (this_week - first_week).days // 7 + 1
    starts = [first_week + timedelta(weeks=i) for i in range(count)]
    tallies = {s: _Tally() for s in starts}
    seen: set[int] = set()
    for at, correct, kc_list in rows:
        kcs = {int(k) for k in kc_list or () if str(k).isdigit()}
        tally = tallies.get(_monday(timezone.localtime(at).date()))
        if tally is not None:  # an answer before the weeks shown only counts towards "seen"
            tally.answers += 1
            tally.right += int(bool(correct))
            tally.skills |= kcs
            tally.new_skills |= kcs - seen
        seen |= kcs
    return [Week(s, t.answers, t.right, len(t.skills), len(t.new_skills)) for s, t in tallies.items()]


@dataclass
class _Tally:
    answers: int = 0
    right: int = 0
    skills: set[int] = field(default_factory=set)
    new_skills: set[int] = field(default_factory=set)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weeks_chart(weeks: Sequence[Week]) -> dict[str, Any]:
    """SVG geometry for the weekly chart: one bar per week, its height the number of answers, the
    right answers filled darker; a label under each bar and the count above it."""
    if not weeks:
        return {}
    top = max(w.answers for w in weeks) or 1
    slot = CHART_W / WEEKS_SHOWN
    bar_w = slot * 0.6
    height = CHART_BOTTOM - CHART_TOP

    def h(n: int) -> float:
        return round(height * n / top, 1)

    bars = []
    for i, w in enumerate(weeks):
        x = round(i * slot + (slot - bar_w) / 2, 1)
        bars.append({
            "x": x, "w": round(bar_w, 1), "mid": round(x + bar_w / 2, 1),
            "y": round(CHART_BOTTOM - h(w.answers), 1), "h": h(w.answers),
            "right_y": round(CHART_BOTTOM - h(w.right), 1), "right_h": h(w.right),
            "count_y": round(CHART_BOTTOM - h(w.answers) - 4, 1),
            "week": w,
        })
    return {"width": CHART_W, "height": CHART_H, "bottom": CHART_BOTTOM, "label_y": CHART_H - 6, "bars": bars}


def progress_page_context(*, learner: Any, course: Course) -> dict[str, Any]:
    """Everything the progress page shows for this learner in this course."""
    rows = progress_rows(learner=learner, course=course)
    weeks = progress_weeks(learner=learner, course=course)
    taught = settings_effective(course=course, student=learner, assign=False)
    item, reason = planning.item_next(student=learner, course=course)
    due = review_due(rows)
    by_state = {state: [r for r in rows if r.state == state] for state in (KNOWN, LEARNING, NOT_STARTED)}
    known_in_ten = in_ten(taught.mastery_threshold)
    return {
        "course": course,
        "rows": rows,
        "due": due,
        "known": by_state[KNOWN],
        "learning": by_state[LEARNING],
        "not_started": by_state[NOT_STARTED],
        "next_item": item,
        "next_reason": reason,
        "weeks": weeks,
        "chart": weeks_chart(weeks),
        "answers_total": sum(w.answers for w in weeks),
        "known_count": len(by_state[KNOWN]) + len(due),
        "known_in_ten": known_in_ten,
        "known_empty": f"Nothing yet. A skill counts as known when you would likely get at least "
                       f"{known_in_ten} in 10 of its problems right.",
        "review_in_ten": in_ten(taught.review_threshold),
        "window_days": REVIEW_WINDOW_DAYS,
    }


@login_required
def progress_page(request: HttpRequest, slug: str) -> HttpResponse:
    course = get_object_or_404(Course, slug=slug)
    return render(request, "tutor/progress.html", progress_page_context(learner=request.user, course=course))
