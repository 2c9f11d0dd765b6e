import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from content import packs
from content.models import Course
from tutor import engine, roles, services
from tutor.models import Turn
from tutor.research.models import Consent, ResearchGrant
from tutor.teaching import services as teaching
from tutor.teaching.models import Classroom, Enrolment

DEMO_PACK = Path(settings.BASE_DIR) / "content" / "fixtures" / "demo_course.json"
DEMO_CLASS = "Demo class"
# Students whose work the demo class shows: (username, [(item slug, messages)]). Replayed through the
# real engine with the authored wording (no language model), so the teacher's pages have something
# to show on a fresh install.
DEMO_REPLAYS: list[tuple[str, list[tuple[str, list[str]]]]] = [
    ("demo-ana", [("int-temperature-rise", ["5"]), ("int-subtract-negative", ["11"]), ("gcf-18-24", ["6"]),
                  ("lcm-buses", ["24", "12", "12 minutes"])]),
    ("demo-ben", [("int-temperature-rise", ["-19", "19", "can I have a hint?", "hint please", "-5", "5"]),
                  ("int-subtract-negative", ["-5", "-11", "hint", "hint", "hint", "just tell me", "-5"]),
                  ("add-half-third", ["2/5", "2/6", "I'm stuck"])]),
    ("demo-cleo", [("int-temperature-rise", ["19", "5"]), ("int-diver-signs", ["24", "-24", "-24 m", "-4", "4"]),
                   ("add-half-third", ["2/5", "why can't I just add the bottoms?", "5/6"])]),
]
# The demo's research path: the demo students consent (this version of the form), and the demo
# researcher is granted the demo course, so the research API and its exports have data at once.
DEMO_CONSENT_VERSION = "demo"
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
        self._demo_class(course, teacher)
        self._demo_research(course)
        self.stdout.write(self.style.SUCCESS("Demo accounts (log in at http://127.0.0.1:8000/accounts/login/):"))
        for username, password, role in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role[:-1]:<11} {username:<16} password: {password}")

    def _demo_research(self, course: Course) -> None:
        """Consent from the demo students who have not answered the consent form yet, and the demo
        researcher's grant on the demo course."""
        students = get_user_model().objects.filter(
            username__in=["demo-student", *(name for name, _ in DEMO_REPLAYS)], research_consents__isnull=True)
        consented = Consent.objects.bulk_create(
            Consent(student=s, version=DEMO_CONSENT_VERSION, given=True) for s in students)
        researcher = get_user_model().objects.get(username="demo-researcher")
        _, granted = ResearchGrant.objects.get_or_create(researcher=researcher, course=course)
        if consented or granted:
            self.stdout.write(f"Research: {len(consented)} demo students consented; the demo researcher is "
                              f"{'now ' if granted else ''}granted “{course.title}” (API token and exports on "
                              "their home page, API docs at /api/docs/).")

    def _demo_class(self, course: Course, demo_teacher: Any) -> None:
        """A class taught by the demo teacher with the demo student and a few replayed students."""
        if Classroom.objects.filter(course=course, name=DEMO_CLASS).exists():
            return
        classroom = teaching.classroom_create(teacher=demo_teacher, course=course, name=DEMO_CLASS)
        user_model = get_user_model()
        Enrolment.objects.create(classroom=classroom, student=user_model.objects.get(username="demo-student"))
        for username, script in DEMO_REPLAYS:
            student = user_model.objects.filter(username=username).first()
            if student is None:  # nobody logs in as these: an unpublished random password
                student = services.user_create(username=username, password=secrets.token_urlsafe(24),
                                               role=roles.STUDENT)
            Enrolment.objects.get_or_create(classroom=classroom, student=student)
            for slug, messages in script:
                item = course.items.filter(slug=slug).first()
                if item is None:
                    continue
                session = engine.session_start(student=student, item=item)
                for i, text in enumerate(messages):
                    plan = engine.turn_take(session_id=session.pk, text=text, client_id=f"demo-{i}")
                    if plan.tutor_turn_id:
                        engine.reply_finish(tutor_turn_id=plan.tutor_turn_id, text=plan.authored_text,
                                            state=Turn.State.COMPLETE, guard={"passed": True, "reasons": []},
                                            backend=engine.AUTHORED_ONLY, model_id="", latency_ms=0.0)
        self.stdout.write(f"Created “{DEMO_CLASS}” (join code {classroom.join_code}) with "
                          f"{classroom.enrolments.count()} students; the demo teacher sees it under My classes.")
