"""Write-side operations of the tutor app."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from tutor import roles


def role_groups_ensure(*, using: str = "default") -> dict[str, Group]:
    """Create the student, teacher and researcher groups with their permissions (idempotent)."""
    groups: dict[str, Group] = {}
    for name in roles.ROLES:
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = []
        for dotted in roles.ROLE_PERMISSIONS[name]:
            app_label, codename = dotted.split(".")
            perm = Permission.objects.using(using).filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.set(wanted)
        groups[name] = group
    return groups


@transaction.atomic
def user_create(*, username: str, password: str, role: str, email: str = "", staff: bool = False) -> Any:
    """Create a user in one role. Teachers get admin access (is_staff) to author curricula."""
    if role not in roles.ROLES:
        raise ValueError(f"Unknown role {role!r}; expected one of {', '.join(roles.ROLES)}")
    user_model = get_user_model()
    user = user_model.objects.create_user(username=username, password=password, email=email)
    user.is_staff = staff or role == roles.TEACHER
    user.save(update_fields=["is_staff"])
    user.groups.add(role_groups_ensure()[role])
    return user
