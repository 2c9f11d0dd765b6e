"""Time every kind of user's pages, log-in and the authoring admin included, on a generated class.

The sibling of ``teacher_bench`` (whose data, fresh test database and teacher pages it reuses): on
top of the teacher's pages it times

- log-in: the log-in page, the log-in itself (the password check, django-axes, the session) and
  the log-in followed to the front door it redirects to;
- each role's front door (``/``) for a teacher, a researcher and a student;
- the authoring admin's pages (index, lists and change pages of steps, KCs, items and
  misconceptions, the course) and the API docs page.

Each page: median, p90, min and max wall-clock ms over ``--repeat`` requests after one warm-up, the
median CPU ms of this process, and the SQL statements one request runs. Wall-clock figures depend on
what else the machine does: the report gives the load average.

    .venv/bin/python manage.py site_bench [--students 200] [--kcs 50] [--answers 60] [--repeat 7] [--json OUT]
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from content.models import KnowledgeComponent, Misconception, Step
from tutor import roles
from tutor.research.models import Consent, ResearchGrant
from tutor.services import role_groups_ensure
from tutor.teaching.management.commands import teacher_bench

PASSWORD = "bench-password-1"  # a throwaway account in the benchmark's own test database


class Command(teacher_bench.Command):
    help = ("Benchmark log-in, every role's front door, the authoring admin and the teacher's pages on a "
            "generated class; prints milliseconds and queries per page (and writes JSON).")

    def _generate(self, rng: random.Random, opts: dict[str, Any]) -> dict[str, Any]:
        world = super()._generate(rng, opts)
        teacher, course = world["teacher"], world["course"]
        teacher.set_password(PASSWORD)  # the real hasher: log-in is timed with it
        teacher.save(update_fields=["password"])
        researcher = get_user_model().objects.create(username=f"{teacher.username}-researcher")
        researcher.groups.add(role_groups_ensure()[roles.RESEARCHER])
        ResearchGrant.objects.create(researcher=researcher, course=course)
        students = list(world["classroom"].enrolments.values_list("student_id", flat=True))
        Consent.objects.bulk_create(Consent(student_id=s, version="bench", given=True) for s in students)
        world.update(researcher=researcher, student_id=students[0])
        self.world = world
        return world

    def _run(self, opts: dict[str, Any]) -> dict[str, Any]:
        result = super()._run(opts)
        world, repeat = self.world, opts["repeat"]
        teacher, course = world["teacher"], world["course"]
        login_url = reverse("login")
        credentials = {"username": teacher.username, "password": PASSWORD}
        anonymous = Client()
        signed_in = {"teacher": Client(), "researcher": Client(), "student": Client()}
        signed_in["teacher"].force_login(teacher)
        signed_in["researcher"].force_login(world["researcher"])
        signed_in["student"].force_login(get_user_model().objects.get(pk=world["student_id"]))
        step = Step.objects.filter(item__course=course).order_by("pk").first()
        kc = KnowledgeComponent.objects.filter(course=course).order_by("-position").first()
        assert step is not None and kc is not None
        admin = {
            "admin_index": reverse("admin:index"),
            "admin_steps": reverse("admin:content_step_changelist"),
            "admin_step": reverse("admin:content_step_change", args=[step.pk]),
            "admin_kcs": reverse("admin:content_knowledgecomponent_changelist"),
            "admin_kc": reverse("admin:content_knowledgecomponent_change", args=[kc.pk]),
            "admin_items": reverse("admin:content_item_changelist"),
            "admin_item": reverse("admin:content_item_change", args=[step.item_id]),
            "admin_mistakes": reverse("admin:content_misconception_changelist"),
            "admin_course": reverse("admin:content_course_change", args=[course.pk]),
        }
        docs = reverse("api-docs")
        timed: dict[str, tuple[Any, str, int]] = {
            "login_page": (partial(anonymous.get, login_url), login_url, 200),
            # a new browser each time: every request is a real log-in, not a signed-in user's
            "login": (lambda: Client().post(login_url, credentials), login_url, 302),
            "login_to_door": (lambda: Client().post(login_url, credentials, follow=True), login_url, 200),
            **{f"door_{role}": (partial(client.get, "/"), "/", 200) for role, client in signed_in.items()},
            **{name: (partial(signed_in["teacher"].get, url), url, 200) for name, url in admin.items()},
            "api_docs": (partial(anonymous.get, docs), docs, 200),
        }
        for name, (request, url, expect) in timed.items():
            figures = teacher_bench.page_time(request, repeat=repeat, profile=opts.get("profile") == name,
                                              expect=expect)
            result["pages"][name] = {"url": url, **figures}
        result["misconceptions"] = Misconception.objects.filter(step__item__course=course).count()
        return result
