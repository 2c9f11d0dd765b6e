"""Read-side queries of the LMS integration: an assignment's score for a learner, what a teacher
sees of a class's LMS link, the choices a deep link offers, and which LMS origins may frame the tutor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from lti_tool.models import LtiRegistration

from content.models import Course, Item
from tutor.courses import services as course_settings
from tutor.lti.models import Assignment, ContextClass, GradeSync, PlatformSettings, origin_of
from tutor.models import TutoringSession
from tutor.teaching.models import Classroom


def assignment_scope(*, assignment: Assignment) -> tuple[list[int], list[int]]:
    """The KC ids and item ids an assignment covers: an item's own; a goal's KCs and the items
    practising any of them; for a whole course, the course's default goal (else all its KCs) and
    the items on those KCs."""
    items = Item.objects.filter(course_id=assignment.course_id, steps__isnull=False).distinct()
    if assignment.item_id:
        return list(assignment.item.kcs.values_list("pk", flat=True)) if assignment.item else [], \
            [assignment.item_id]
    if assignment.goal_id and assignment.goal is not None:
        kc_ids = list(assignment.goal.kcs.values_list("pk", flat=True))
    else:
        kc_ids = course_settings.goal_kc_ids(course=assignment.course)
    item_ids = list(items.filter(kcs__in=kc_ids).distinct().values_list("pk", flat=True))
    return kc_ids, item_ids


def score_compute(*, assignment: Assignment, student: Any) -> float:
    """The learner's score on an assignment, 0 to 1, by the teacher's choice of grading:
    mastery, the share of its KCs the planner counts as mastered for this learner (the planner's
    own rule and the course's threshold); completion, the share of its items finished."""
    kc_ids, item_ids = assignment_scope(assignment=assignment)
    if assignment.grading == Assignment.Grading.COMPLETION:
        if not item_ids:
            return 0.0
        finished = set(TutoringSession.objects.filter(
            student=student, item_id__in=item_ids, status=TutoringSession.Status.FINISHED, sandbox=False,
        ).values_list("item_id", flat=True))
        return len(finished) / len(item_ids)
    if not kc_ids:
        return 0.0
    from tutor.planning import services as planning

    ctx = planning.plan_context(student=student, course=assignment.course)
    if ctx is None:  # no item to practise with, so nothing can be mastered yet
        return 0.0
    kcs = list(assignment.course.kcs.order_by("position", "id").values_list("pk", flat=True))
    mastered = ctx.graph.kc_p(ctx.view.now) >= ctx.settings.mastery_threshold
    index = {pk: i for i, pk in enumerate(kcs)}
    wanted = [index[k] for k in kc_ids if k in index]
    return float(sum(bool(mastered[i]) for i in wanted)) / len(wanted) if wanted else 0.0


def frame_origins(*, registration: LtiRegistration) -> list[str]:
    """Origins allowed to frame the tutor for launches from this registration: the issuer's and the
    authorisation URL's, and those the administrator listed (Canvas frames from the school's own address)."""
    found = [origin_of(registration.issuer), origin_of(registration.auth_url)]
    extra = PlatformSettings.objects.filter(registration=registration).first()
    if extra is not None:
        found += extra.origins()
    return list(dict.fromkeys(o for o in found if o))


@dataclass(frozen=True)
class TargetChoice:
    value: str  # course:<slug>, goal:<id> or item:<id>
    label: str


def target_choices() -> list[tuple[str, list[TargetChoice]]]:
    """What a deep link (or a link's set-up) may point at, grouped by course: the whole course,
    each of its goals, each item with steps."""
    groups: list[tuple[str, list[TargetChoice]]] = []
    for course in Course.objects.order_by("title", "id").prefetch_related("goals"):
        options = [TargetChoice(f"course:{course.slug}", f"The whole course: {course.title}")]
        options += [TargetChoice(f"goal:{goal.pk}", f"Goal: {goal.name}") for goal in course.goals.all()]
        items = Item.objects.filter(course=course, steps__isnull=False).distinct().order_by("position", "id")
        options += [TargetChoice(f"item:{item.pk}", f"Problem: {item.title}") for item in items]
        groups.append((course.title, options))
    return groups


@dataclass
class ClassLms:
    classroom: Classroom
    links: list[ContextClass]
    assignments: list[Assignment]
    grades: list[GradeSync]

    @property
    def failed(self) -> int:
        return sum(1 for g in self.grades if g.state == GradeSync.State.FAILED)


def class_lms(*, classroom: Classroom) -> ClassLms:
    links = list(ContextClass.objects.filter(classroom=classroom).select_related("context__deployment__registration"))
    assignments = list(Assignment.objects.filter(context_class__classroom=classroom)
                       .select_related("goal", "item", "course").order_by("title", "id"))
    grades = list(GradeSync.objects.filter(assignment__context_class__classroom=classroom)
                  .select_related("student", "assignment").order_by("assignment__title", "student__username"))
    return ClassLms(classroom=classroom, links=links, assignments=assignments, grades=grades)


def failed_grades(*, classroom: Classroom) -> QuerySet[GradeSync]:
    return GradeSync.objects.filter(assignment__context_class__classroom=classroom, state=GradeSync.State.FAILED)
