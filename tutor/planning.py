"""Between the ORM, the learner model and the Django-free planner: what should this student do next?"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from content.models import Course, Item, Prerequisite
from tutor import planner, selectors

log = logging.getLogger(__name__)


def item_next(*, student: Any, course: Course) -> tuple[Item | None, str]:
    """The planner's next item for this student and a reason they can read. Falls back to the
    course order (with that said) when the course or the learner model cannot be planned over."""
    try:
        return _planned(student=student, course=course)
    except Exception:  # planning must never stop a student from learning
        log.exception("planner failed for course %s; using the course order", course.slug)
    return selectors.item_next_in_order(student=student, course=course), "Next in the course order."


def _planned(*, student: Any, course: Course) -> tuple[Item | None, str]:
    from tracing import services as tracing_services
    from tracing.models import LearnerKCState

    kcs = list(course.kcs.order_by("position", "id"))
    items = list(Item.objects.filter(course=course, steps__isnull=False).distinct()
                 .order_by("position", "id").prefetch_related("kcs"))
    if not kcs or not items:
        return None, ""
    index = {kc.pk: i for i, kc in enumerate(kcs)}
    edges = [(index[a], index[b]) for a, b in
             Prerequisite.objects.filter(dependent__course=course).values_list("prerequisite_id", "dependent_id")]
    plan_items = [
        planner.PlanItem(key=str(item.pk), kcs=tuple(index[k.pk] for k in item.kcs.all() if k.pk in index),
                         offset=tracing_services.difficulty_offset(item.difficulty))
        for item in items
    ]
    keep = [i for i, p in enumerate(plan_items) if p.kcs]
    graph = planner.CourseGraph([kc.slug for kc in kcs], edges, [plan_items[i] for i in keep],
                                names=[kc.name for kc in kcs])
    settings = planner.PlannerSettings()
    now = timezone.now()

    def view_at(at: Any) -> planner.KCView:
        pred = tracing_services.mastery_predict(learner=student, course=course, at=at)
        return planner.KCView(mean=np.array([pred[kc.pk].mean for kc in kcs]),
                              sd=np.array([pred[kc.pk].sd for kc in kcs]))

    practised_ids = set(LearnerKCState.objects.filter(learner=student, kc__course=course).values_list("kc_id",
                                                                                                     flat=True))
    view = planner.LearnerView(
        now=view_at(now), later=view_at(now + timedelta(days=settings.review_horizon_days)),
        practised=np.array([kc.pk in practised_ids for kc in kcs]),
    )
    # Until teachers set goals, the goal is the whole course.
    decision = planner.Planner(graph, settings).decide(view, list(range(len(kcs))))
    return items[keep[decision.item]], decision.reason
