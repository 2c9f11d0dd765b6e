from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender: Any, **kwargs: Any) -> None:
    from tutor.services import role_groups_ensure

    role_groups_ensure(using=kwargs.get("using", "default"))


class TutorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tutor"
    verbose_name = "Tutoring"

    def ready(self) -> None:
        # Permissions are created after migrations, so the role groups are kept in step then.
        post_migrate.connect(_ensure_roles, sender=self)
