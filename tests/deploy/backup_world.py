"""A small world for the backup and restore test, run in its own process against DATABASE_URL:

    python -m tests.deploy.backup_world seed|fingerprint|work

``seed``: the demo course, two students who have answered (so the learner model holds states for
them). ``fingerprint``: every learner-model row and every turn, as JSON. ``work``: one more turn
through the engine and a readiness check through the app, as a user of the restored database would.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def seed() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from content import packs
    from tests.load.driver import DEMO_PACK
    from tutor import engine

    course = packs.import_pack(json.loads(DEMO_PACK.read_text(encoding="utf-8")))
    item = course.items.filter(steps__isnull=False).order_by("position", "id").first()
    assert item is not None
    for name, answers in (("backup-ada", ["1/6", "2/6", "3/4"]), ("backup-bob", ["3/4"])):
        user = get_user_model().objects.create(username=name)
        session = engine.session_start(student=user, item=item)
        for i, text in enumerate(answers):
            engine.turn_take(session_id=session.pk, text=text, client_id=f"{name}-{i}")
    return fingerprint()


def fingerprint() -> dict[str, Any]:
    from django.apps import apps

    out: dict[str, Any] = {}
    for label in ("tracing.LearnerKCState", "tracing.LearnerTraits", "tracing.Observation", "tutor.Turn",
                  "tutor.Attempt"):
        model = apps.get_model(label)
        out[label] = json.loads(json.dumps(list(model.objects.order_by("pk").values()), default=str))
    return out


def work() -> dict[str, Any]:
    from django.test import Client

    from tracing.models import Observation
    from tutor import engine
    from tutor.models import TutoringSession

    before = Observation.objects.count()
    session = TutoringSession.objects.get(student__username="backup-bob")
    plan = engine.turn_take(session_id=session.pk, text="1/2", client_id="after-restore")
    ready = Client().get("/readyz", secure=True)
    return {"tutor_turn": plan.tutor_turn_id, "observations_before": before,
            "observations_after": Observation.objects.count(), "readyz": ready.status_code}


if __name__ == "__main__":
    _setup()
    action = {"seed": seed, "fingerprint": fingerprint, "work": work}[sys.argv[1]]
    print(json.dumps(action()))
