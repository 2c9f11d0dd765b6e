"""Between the ORM, the learner model and the Django-free planner: what should this student do next?

The planner reads the teacher's thresholds and the student's goal through ``tutor.courses.services``
(course settings, then the student's experiment condition; the goal the student picked, else the
course's default goal, else the whole course).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.db.models import Max
from django.utils import timezone

from content.models import Course, Item, Prerequisite
from tutor import selectors
from tutor.courses import services as course_settings
from tutor.models import TutoringSession
from tutor.planning import planner

log = logging.getLogger(__name__)


@dataclass
class PlanContext:
    """Everything one decision needs: the course graph, the items in its order, the learner's view,
    the goal (KC indices) and the effective settings."""

    graph: planner.CourseGraph
    items: list[Item]  # items[i] is graph.items[i]
    view: planner.LearnerView
    goal: list[int]
    settings: planner.PlannerSettings


def planner_settings(tutor_settings: course_settings.TutorSettings) -> planner.PlannerSettings:
    """The planner's settings from the effective tutor settings. Every value was checked against
    ``tutor.courses.rules`` when it was saved, so it runs as the teacher set it; the review threshold
    is at most the mastery threshold (``settings_effective`` sees to that)."""
    return planner.PlannerSettings(
        mastery_threshold=float(tutor_settings.mastery_threshold),
        review_threshold=float(tutor_settings.review_threshold),
        target_success=float(tutor_settings.target_success),
    )


def item_next(*, student: Any, course: Course) -> tuple[Item | None, str]:
    """The planner's next item for this student and a reason they can read. Falls back to the
    course order (with that said) when the course or the learner model cannot be planned over."""
    try:
        return _planned(student=student, course=course)
    except Exception:  # planning must never stop a student from learning
        log.exception("planner failed for course %s; using the course order", course.slug)
    return selectors.item_next_in_order(student=student, course=course), "Next in the course order."


def item_similar(*, student: Any, item: Item) -> tuple[Item | None, str]:
    """An item practising the same KCs as ``item`` at a matched difficulty (``Planner.similar``),
    with a reason; ``(None, "")`` when the course has no other item on those KCs."""
    try:
        ctx = plan_context(student=student, course=item.course)
    except Exception:  # the learner model failed: fall back to the same KCs, nearest difficulty
        log.exception("planner failed for a similar item to %s", item.pk)
        return _similar_by_content(item), "A similar problem on the same skills."
    if ctx is None:
        return None, ""
    index = next((i for i, it in enumerate(ctx.items) if it.pk == item.pk), None)
    if index is None:
        return None, ""
    decision = planner.Planner(ctx.graph, ctx.settings).similar(ctx.view, index)
    if decision is None:
        return None, ""
    return ctx.items[decision.item], decision.reason


def _similar_by_content(item: Item) -> Item | None:
    kc_ids = list(item.kcs.values_list("pk", flat=True))
    candidates = (Item.objects.filter(course=item.course, kcs__in=kc_ids, steps__isnull=False)
                  .exclude(pk=item.pk).distinct())
    return min(candidates, key=lambda c: (abs(c.difficulty - item.difficulty), c.position, c.pk), default=None)


def plan_context(*, student: Any, course: Course) -> PlanContext | None:
    """The planner's inputs for this student in this course (None: nothing to plan over)."""
    from tracing import selectors as tracing_selectors
    from tracing.psikt.timeunit import SECONDS_PER_DAY

    kcs = list(course.kcs.order_by("position", "id"))
    items = list(Item.objects.filter(course=course, steps__isnull=False).distinct()
                 .order_by("position", "id").prefetch_related("kcs"))
    if not kcs or not items:
        return None
    index = {kc.pk: i for i, kc in enumerate(kcs)}
    edges = [(index[a], index[b]) for a, b in
             Prerequisite.objects.filter(dependent__course=course).values_list("prerequisite_id", "dependent_id")
             if a in index and b in index]
    offsets = tracing_selectors.item_offsets(course=course, items=items)
    plan_items = [
        planner.PlanItem(key=str(item.pk), kcs=tuple(index[k.pk] for k in item.kcs.all() if k.pk in index),
                         offset=offsets[item.pk])
        for item in items
    ]
    keep = [i for i, p in enumerate(plan_items) if p.kcs]
    if not keep:
        return None
    graph = planner.CourseGraph([kc.slug for kc in kcs], edges, [plan_items[i] for i in keep],
                                names=[kc.name for kc in kcs])
    settings = planner_settings(course_settings.settings_effective(course=course, student=student))
    now = timezone.now()

    def view_at(at: Any) -> planner.KCView:
        pred = tracing_selectors.mastery_predict(learner=student, course=course, at=at)
        return planner.KCView(mean=np.array([pred[kc.pk].mean for kc in kcs]),
                              sd=np.array([pred[kc.pk].sd for kc in kcs]))

    practised_ids = set(tracing_selectors.kc_practice_times(learner=student, course=course))
    # Answers per KC, so a KC the student keeps missing stops blocking what follows (patience).
    answered = tracing_selectors.kc_answer_counts(learner=student, course=course)
    # When each item was last finished (days before now), so the planner does not serve the problem
    # the student has just solved while another one will do.
    finished = dict(TutoringSession.objects.filter(student=student, course=course, sandbox=False,
                                                   status=TutoringSession.Status.FINISHED)
                    .values("item_id").annotate(last=Max("updated")).values_list("item_id", "last"))
    kept = [items[i] for i in keep]
    finished_at = np.array([(finished[item.pk] - now).total_seconds() / SECONDS_PER_DAY if item.pk in finished
                            else np.nan for item in kept])
    view = planner.LearnerView(
        now=view_at(now), later=view_at(now + timedelta(days=settings.review_horizon_days)),
        practised=np.array([kc.pk in practised_ids for kc in kcs]),
        attempts=np.array([answered.get(kc.pk, 0) for kc in kcs], dtype=np.int64),
        finished_at=finished_at,
    )
    goal = sorted({index[k] for k in course_settings.goal_kc_ids(course=course, student=student) if k in index})
    return PlanContext(graph, kept, view, goal, settings)


def _planned(*, student: Any, course: Course) -> tuple[Item | None, str]:
    ctx = plan_context(student=student, course=course)
    if ctx is None:
        return None, ""
    decision = planner.Planner(ctx.graph, ctx.settings).decide(ctx.view, ctx.goal)
    return ctx.items[decision.item], decision.reason
