"""The tutor's settings for one student in one course: the teacher's course settings, then the
overrides of the student's experiment condition (assigned at random, once, and kept).

Everything that behaves differently per course or per condition (the dialogue policy, whether and
which language model phrases replies, the planner's thresholds and goal) reads ``settings_effective``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction

from content.models import Course
from tutor.courses import rules
from tutor.courses.models import (
    Condition,
    ConditionAssignment,
    CourseGoal,
    CourseSettings,
    StudentGoal,
)


@dataclass(frozen=True)
class TutorSettings:
    max_attempts_before_bottom_out: int = 3
    allow_telling: bool = True
    llm_enabled: bool = True
    llm_backend: str = ""  # "" = the deployment's TUTOR_LLM
    mastery_threshold: float = 0.8
    review_threshold: float = 0.7
    target_success: float = 0.75
    condition_name: str = ""
    condition_type: str = ""
    overridden: tuple[str, ...] = field(default_factory=tuple)


def allowed_backends() -> list[str]:
    """LLM backend specs a condition may name in this deployment (``rules.allowed_backends``)."""
    return rules.allowed_backends(deployment=str(django_settings.TUTOR_LLM), extra=django_settings.TUTOR_LLM_BACKENDS)


def overrides_problems(overrides: Any) -> list[str]:
    """Why a condition's overrides are invalid here (empty when they are fine)."""
    return rules.overrides_problems(overrides, allowed_backends=allowed_backends())


def course_settings(course: Course) -> TutorSettings:
    row = CourseSettings.objects.filter(course=course).first()
    if row is None:
        return TutorSettings()
    return TutorSettings(
        max_attempts_before_bottom_out=row.max_attempts_before_bottom_out, allow_telling=row.allow_telling,
        llm_enabled=row.llm_enabled, mastery_threshold=row.mastery_threshold,
        review_threshold=row.review_threshold, target_success=row.target_success,
    )


def _draw(student_id: int, course_id: int, conditions: list[Condition]) -> Condition:
    """A weighted pick that is random across students but the same every time for one student."""
    secret = django_settings.TUTOR_CONDITION_SALT or django_settings.SECRET_KEY
    digest = hmac.new(str(secret).encode(), f"condition:{course_id}:{student_id}".encode(), hashlib.sha256)
    u = int.from_bytes(digest.digest()[:8], "big") / 2**64
    total = sum(c.weight for c in conditions)
    point = u * total
    for condition in conditions:
        point -= condition.weight
        if point < 0:
            return condition
    return conditions[-1]


def condition_assign(*, student: Any, course: Course, assign: bool = True) -> Condition | None:
    """The student's condition in the course, assigned on first need and never changed after
    (``assign=False``: only an existing assignment, for pages that show rather than teach)."""
    existing = ConditionAssignment.objects.filter(student=student, course=course).select_related("condition").first()
    if existing is not None or not assign:
        return existing.condition if existing is not None else None
    conditions = [c for c in Condition.objects.filter(course=course, active=True).order_by("id") if c.weight > 0]
    if not conditions or student is None or not getattr(student, "pk", None):
        return None
    chosen = _draw(student.pk, course.pk, conditions)
    try:
        with transaction.atomic():
            ConditionAssignment.objects.create(student=student, course=course, condition=chosen)
    except IntegrityError:  # assigned concurrently by another request: keep that one
        return ConditionAssignment.objects.select_related("condition").get(student=student, course=course).condition
    return chosen


def settings_effective(*, course: Course, student: Any = None, assign: bool = True) -> TutorSettings:
    """The course's settings with the student's experiment condition applied (``assign=False``: a
    student not yet assigned runs on the course's settings and is not assigned by this call)."""
    base = course_settings(course)
    condition = condition_assign(student=student, course=course, assign=assign) if student is not None else None
    return _with_condition(base, condition)


def settings_effective_bulk(*, course: Course, student_ids: Iterable[int]) -> dict[int, TutorSettings]:
    """``settings_effective(assign=False)`` for many students in two queries (a class page)."""
    base = course_settings(course)
    ids = list(student_ids)
    assigned = {
        a.student_id: a.condition
        for a in ConditionAssignment.objects.filter(course=course, student_id__in=ids).select_related("condition")
    }
    return {sid: _with_condition(base, assigned.get(sid)) for sid in ids}


def _with_condition(base: TutorSettings, condition: Condition | None) -> TutorSettings:
    if condition is None:
        return base
    known = {f.name for f in fields(TutorSettings)}
    valid = {k: v for k, v in (condition.overrides or {}).items() if k in known} \
        if not overrides_problems(condition.overrides) else {}
    merged = replace(base, **valid, condition_name=condition.name, condition_type=condition.condition_type,
                     overridden=tuple(sorted(valid)))
    if merged.review_threshold > merged.mastery_threshold:
        merged = replace(merged, review_threshold=merged.mastery_threshold)
    return merged


def goal_kc_ids(*, course: Course, student: Any = None) -> list[int]:
    """The KCs the student is working toward: their chosen goal, else the course's default goal,
    else every KC of the course."""
    goal: CourseGoal | None = None
    if student is not None and getattr(student, "pk", None):
        chosen = StudentGoal.objects.filter(student=student, course=course).select_related("goal").first()
        goal = chosen.goal if chosen is not None else None
    if goal is None:
        goal = CourseGoal.objects.filter(course=course, is_default=True).first()
    if goal is not None:
        ids = list(goal.kcs.values_list("pk", flat=True))
        if ids:
            return ids
    return list(course.kcs.values_list("pk", flat=True))


def goal_choose(*, student: Any, course: Course, goal: CourseGoal) -> StudentGoal:
    if goal.course_id != course.pk:
        raise ValueError("This goal belongs to another course.")
    row, _ = StudentGoal.objects.update_or_create(student=student, course=course, defaults={"goal": goal})
    return row
