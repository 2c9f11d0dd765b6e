from typing import Any

from django.http import HttpRequest

from tutor import roles


def roles_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "is_teacher": roles.is_teacher(user),
        "is_researcher": roles.is_researcher(user),
        "is_student": roles.is_student(user),
    }
