"""Operations that migrations share. Migrations import them, so they must keep working for every
migration that uses them: change one only in ways that old migrations still run with."""

from __future__ import annotations

import functools
from typing import Any

from django.db import migrations


def _content_types_relabel(apps: Any, schema_editor: Any, *, models: tuple[str, ...], old_app: str,
                           new_app: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    moving = content_types.filter(app_label=old_app, model__in=models)
    # Where a migrate run in between already made a content type under the new label (migrating back
    # and forth does), the one that moves is the original, which the role groups' permissions point to.
    content_types.filter(app_label=new_app, model__in=moving.values("model")).delete()
    moving.update(app_label=new_app)


def content_types_move(*, models: list[str], old_app: str, new_app: str) -> migrations.RunPython:
    """For models that moved from ``old_app`` to ``new_app`` with their tables: keep their content
    types (and so the permissions that role groups hold), changing only the app label; reversible.
    On a new database there is nothing to relabel yet. ``models`` are lower-case model names."""
    names = tuple(models)
    return migrations.RunPython(
        functools.partial(_content_types_relabel, models=names, old_app=old_app, new_app=new_app),
        functools.partial(_content_types_relabel, models=names, old_app=new_app, new_app=old_app),
    )
