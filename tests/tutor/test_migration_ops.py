"""The operation the migrations that moved models between apps share (tutor.migration_ops)."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from tutor.migration_ops import content_types_move

pytestmark = pytest.mark.django_db(transaction=True)  # the schema editor runs outside a transaction, as migrate does


def run(code):
    with connection.schema_editor() as editor:
        code(apps, editor)


def test_moved_models_keep_their_content_types_and_permissions_both_ways():
    moved = ContentType.objects.create(app_label="old", model="thing")
    stays = ContentType.objects.create(app_label="old", model="other")
    group = Group.objects.create(name="probe")
    group.permissions.add(Permission.objects.create(content_type=moved, codename="view_thing", name="View thing"))
    operation = content_types_move(models=["thing"], old_app="old", new_app="new")
    assert operation.reversible

    run(operation.code)
    moved.refresh_from_db()
    stays.refresh_from_db()
    assert (moved.app_label, stays.app_label) == ("new", "old")
    # A migrate run in between made a fresh content type under the old label; going back, the
    # original (which the group's permission points to) takes its place.
    fresh = ContentType.objects.create(app_label="old", model="thing")
    run(operation.reverse_code)
    moved.refresh_from_db()
    assert moved.app_label == "old" and not ContentType.objects.filter(pk=fresh.pk).exists()
    assert list(group.permissions.values_list("content_type_id", flat=True)) == [moved.pk]


def test_on_a_new_database_there_is_nothing_to_move():
    before = list(ContentType.objects.values_list("pk", "app_label", "model"))
    run(content_types_move(models=["nothing"], old_app="old", new_app="new").code)
    assert list(ContentType.objects.values_list("pk", "app_label", "model")) == before
