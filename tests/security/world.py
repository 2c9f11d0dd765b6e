"""The users, courses and sessions the access-control matrix runs against (see access_matrix.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from rest_framework.authtoken.models import Token

from content import packs
from content.models import Course, Item, KnowledgeComponent
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tracing.models import TracingFit
from tutor import engine, roles
from tutor.research import exports
from tutor.research.models import Consent, ResearchGrant

# What each role must never find in any response body (besides the status the matrix expects).
SECRET_A = "ALPHA-SECRET-7781"
SECRET_B = "BRAVO-SECRET-4432"
NAME_A = "alpha-student-zq"
NAME_B = "bravo-student-zq"
FORBIDDEN_TEXT: dict[str, tuple[str, ...]] = {
    "anon": (SECRET_A, SECRET_B, NAME_A, NAME_B),
    "student_a": (SECRET_B, NAME_B),
    "student_b": (SECRET_A, NAME_A),
    "teacher": (),
    "other_teacher": (SECRET_A, SECRET_B, NAME_A, NAME_B),
    # Research data is pseudonymised: a granted researcher sees answers, never who gave them.
    "researcher": (NAME_A, NAME_B),
    "ungranted": (SECRET_A, SECRET_B, NAME_A, NAME_B),
}


@dataclass
class World:
    users: dict[str, Any]
    course: Course
    other_course: Course
    item: Item
    kc: KnowledgeComponent
    session_a: Any
    session_b: Any
    course_content_type: ContentType

    @property
    def student_a(self) -> Any:
        return self.users["student_a"]

    @property
    def student_b(self) -> Any:
        return self.users["student_b"]

    def resolve(self, ref: str) -> str:
        """A dotted path into the world (``session_a.pk``), or a literal after a quote (``'content``)."""
        if ref.startswith("'"):
            return ref[1:]
        value: Any = self
        for part in ref.split("."):
            value = getattr(value, part)
        return str(value)


def _say(session: Any, texts: list[str]) -> None:
    for text in texts:
        engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=text))


def world_build() -> World:
    """Needs the scripted LLM backend in place (it phrases the tutor's replies)."""
    users = {
        "student_a": UserFactory(username=NAME_A, role=roles.STUDENT),
        "student_b": UserFactory(username=NAME_B, role=roles.STUDENT),
        "teacher": UserFactory(username="teacher-owner", role=roles.TEACHER),
        "other_teacher": UserFactory(username="teacher-other", role=roles.TEACHER),
        "researcher": UserFactory(username="researcher-granted", role=roles.RESEARCHER),
        "ungranted": UserFactory(username="researcher-ungranted", role=roles.RESEARCHER),
    }
    course = packs.import_pack(copy.deepcopy(SMALL_PACK), owner=users["teacher"])
    other_course = packs.import_pack(copy.deepcopy(SMALL_PACK), owner=users["other_teacher"], slug="other-mini")
    item = course.items.get(slug="add-halves-quarters")
    session_a = engine.session_start(student=users["student_a"], item=item)
    session_b = engine.session_start(student=users["student_b"], item=item)
    _say(session_a, [f"{SECRET_A} can I have a hint?", "2/6"])
    _say(session_b, [f"{SECRET_B} hint please", "2/6"])
    for key in ("student_a", "student_b"):
        Consent.objects.create(student=users[key], version="1", given=True)
    ResearchGrant.objects.create(researcher=users["researcher"], course=course)
    Token.objects.create(user=users["researcher"])
    # So the learner model's admin pages have an object of this course to refuse.
    TracingFit.objects.create(course=course, version=1)
    return World(users=users, course=course, other_course=other_course, item=item,
                 kc=course.kcs.order_by("position", "id").first(), session_a=session_a, session_b=session_b,
                 course_content_type=ContentType.objects.get_for_model(Course))


def pseudonym_of(user: Any) -> str:
    return exports.pseudonym(user.pk)
