"""The three roles as groups with real permissions. Role checks go through these helpers so the
rule lives in one place."""

from __future__ import annotations

from typing import Any

STUDENT = "students"
TEACHER = "teachers"
RESEARCHER = "researchers"
ROLES = (STUDENT, TEACHER, RESEARCHER)

# Model permissions each role's group carries (app_label.codename). Teachers author curricula in
# the admin; which courses they may change is narrowed per object in content/admin.py.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    STUDENT: [],
    TEACHER: [
        f"content.{action}_{model}"
        for model in ("course", "knowledgecomponent", "prerequisite", "item", "step", "hint",
                      "subproblem", "misconception")
        for action in ("add", "change", "delete", "view")
    ] + [
        # How the course is taught: which rows of these a teacher may touch is narrowed per course.
        f"{label}.{action}_{model}"
        for label, model in (("courses", "coursesettings"), ("courses", "coursegoal"), ("teaching", "classroom"),
                             ("teaching", "enrolment"), ("courses", "condition"))
        for action in ("add", "change", "delete", "view")
    ] + ["courses.view_conditionassignment"],
    RESEARCHER: ["content.view_course", "content.view_knowledgecomponent", "content.view_item"],
}


def has_role(user: Any, role: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    cache = getattr(user, "_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._role_cache = cache
    return role in cache


def is_teacher(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or has_role(user, TEACHER)


def is_researcher(user: Any) -> bool:
    return has_role(user, RESEARCHER)


def is_student(user: Any) -> bool:
    return has_role(user, STUDENT)
