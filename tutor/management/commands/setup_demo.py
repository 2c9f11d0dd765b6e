import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from content import packs
from content.models import Course
from tutor import roles, services

DEMO_PACK = Path(settings.BASE_DIR) / "content" / "fixtures" / "demo_course.json"
DEMO_ACCOUNTS = [
    ("demo-student", "learn-fractions-1", roles.STUDENT),
    ("demo-teacher", "teach-fractions-1", roles.TEACHER),
    ("demo-researcher", "study-fractions-1", roles.RESEARCHER),
]


class Command(BaseCommand):
    help = "Load the demo course and create demo student, teacher and researcher accounts (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--allow-production", action="store_true",
                            help="Create the demo accounts (known passwords) even with DEBUG off.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not settings.DEBUG and not opts["allow_production"]:
            raise CommandError("Refusing to create accounts with published passwords while DEBUG is off.")
        user_model = get_user_model()
        for username, password, role in DEMO_ACCOUNTS:
            if not user_model.objects.filter(username=username).exists():
                services.user_create(username=username, password=password, role=role)
        teacher = user_model.objects.get(username="demo-teacher")
        data = json.loads(DEMO_PACK.read_text(encoding="utf-8"))
        slug = data["course"]["slug"]
        course = Course.objects.filter(slug=slug).first()
        if course is None:
            course = packs.import_pack(data, owner=teacher)
            self.stdout.write(f"Loaded the demo course “{course.title}”.")
        self.stdout.write(self.style.SUCCESS("Demo accounts (log in at http://127.0.0.1:8000/accounts/login/):"))
        for username, password, role in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role[:-1]:<11} {username:<16} password: {password}")
