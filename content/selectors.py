"""Read-side queries for the curriculum."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from content.models import Course, Item, KnowledgeComponent, Prerequisite

# Who authors curricula is a permission, not a role name: the accounts app decides which roles carry it.
AUTHOR_PERMISSION = "content.change_course"


def course_list_editable(*, user: Any) -> QuerySet[Course]:
    """Courses this user may change: all for a superuser; for an author (anyone granted
    ``content.change_course``, which the teachers' role carries) the courses they own or are assigned."""
    if getattr(user, "is_superuser", False):
        return Course.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.has_perm(AUTHOR_PERMISSION):
        return Course.objects.none()
    return Course.objects.filter(Q(owner=user) | Q(teachers=user)).distinct()


def teacher_list() -> QuerySet[Any]:
    """Accounts that may own or be assigned a course: those granted ``content.change_course`` through a
    group (the teachers' role)."""
    from django.contrib.auth import get_user_model

    app_label, codename = AUTHOR_PERMISSION.split(".")
    return get_user_model().objects.filter(
        groups__permissions__content_type__app_label=app_label, groups__permissions__codename=codename
    ).order_by("username").distinct()


def course_ids_editable(*, user: Any) -> frozenset[int]:
    """Ids of ``course_list_editable``, read once and kept on the user object: the admin asks for
    every model of its menu, every inline and every object of a page (one query each before)."""
    cached: frozenset[int] | None = getattr(user, "_editable_course_ids", None)
    if cached is None:
        cached = frozenset(course_list_editable(user=user).values_list("pk", flat=True))
        user._editable_course_ids = cached
    return cached


def course_can_edit(*, user: Any, course: Course) -> bool:
    return course_list_editable(user=user).filter(pk=course.pk).exists()


def course_graph(*, course: Course) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(nodes as (slug, name), edges as (prerequisite slug, dependent slug)) of a course."""
    nodes = list(KnowledgeComponent.objects.filter(course=course).values_list("slug", "name"))
    edges = list(
        Prerequisite.objects.filter(dependent__course=course).values_list("prerequisite__slug", "dependent__slug")
    )
    return nodes, edges


def item_for_preview_or_none(*, item_id: int) -> Item | None:
    """The item with what a preview shows of it: its steps' hints, subproblems and misconceptions."""
    return (
        Item.objects.select_related("course")
        .prefetch_related("steps__hints", "steps__subproblems", "steps__misconceptions", "kcs")
        .filter(pk=item_id).first()
    )
