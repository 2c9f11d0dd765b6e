""""Preview as a student": a teacher's live sandbox conversation goes through the students' tutoring
path (checker, dialogue policy, guard) but is no learner's work: it appears in no export, research
list, class view, item statistics or student view, and the learner model never hears of it."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tracing.models import LearnerKCState, LearnerTraits, Observation
from tutor import engine, roles
from tutor.courses.models import Condition, ConditionAssignment
from tutor.models import Attempt, Turn, TutoringSession
from tutor.research import exports
from tutor.research.models import Consent, ResearchGrant
from tutor.teaching import live
from tutor.teaching import selectors as sel
from tutor.teaching import services as teaching
from tutor.teaching.models import Enrolment

pytestmark = pytest.mark.django_db

WRONG = "2/6"  # the small pack's known misconception on its first item ("adds denominators")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # messages are rate-limited per user, and user ids repeat across tests


@pytest.fixture
def setup(course, backend):
    teacher = UserFactory(username="t-one", role=roles.TEACHER)
    course.owner = teacher
    course.save()
    item = course.items.get(slug="add-halves-quarters")
    return {"teacher": teacher, "course": course, "item": item}


def _say(client, item, **data):
    return client.post(reverse("item-preview-say", args=[item.pk]), data, HTTP_HX_REQUEST="true")


def test_a_teacher_tries_the_misconception_feedback_and_the_hint_ladder(client, setup):
    teacher, item = setup["teacher"], setup["item"]
    client.force_login(teacher)
    page = client.get(reverse("item-preview", args=[item.pk]))
    assert page.status_code == 200
    session = TutoringSession.objects.get(student=teacher, item=item)
    assert session.sandbox
    html = page.content.decode()
    assert "Sandbox." in html and 'id="sandbox-form"' in html

    reply = _say(client, item, message=WRONG, client_id="m1")
    assert reply.status_code == 200
    attempt = Attempt.objects.get(session=session)
    assert attempt.outcome == "incorrect" and attempt.misconception.name == "adds denominators"
    tutor = Turn.objects.filter(session=session, role="tutor").order_by("-seq").first()
    assert tutor.move == "misconception_feedback" and tutor.state != Turn.State.PENDING
    text = reply.content.decode()
    assert text.startswith('<section class="card sandbox" id="sandbox"')  # the htmx partial, not the page
    assert "misconception: adds denominators" in text and "misconception feedback" in text

    hints = []
    for i in range(2):  # the policy climbs the ladder after an effort between hints
        reply = _say(client, item, message="", say="hint", client_id=f"h{i}")
        assert reply.status_code == 200
        hints.append(Turn.objects.filter(session=session, role="tutor").order_by("-seq").first())
        _say(client, item, message="5/6", client_id=f"w{i}")
    assert [t.move for t in hints] == ["hint", "hint"]
    assert hints[1].hint_level > hints[0].hint_level  # climbs the ladder
    assert f"hint level {hints[1].hint_level}" in client.get(reverse("item-preview", args=[item.pk])).content.decode()

    # The right answer finishes the (one-step) item.
    _say(client, item, message="3/4", client_id="right")
    session.refresh_from_db()
    assert session.status == TutoringSession.Status.FINISHED
    page = client.get(reverse("item-preview", args=[item.pk])).content.decode()
    assert "You finished this item in the sandbox." in page


def test_a_message_sent_twice_is_answered_once(client, setup):
    client.force_login(setup["teacher"])
    for _ in range(2):
        _say(client, setup["item"], message=WRONG, client_id="same")
    assert Attempt.objects.filter(session__student=setup["teacher"]).count() == 1


def test_start_over_begins_a_new_conversation(client, setup):
    teacher, item = setup["teacher"], setup["item"]
    client.force_login(teacher)
    client.get(reverse("item-preview", args=[item.pk]))
    _say(client, item, message=WRONG, client_id="m1")
    old = TutoringSession.objects.get(student=teacher)
    resp = client.post(reverse("item-preview-restart", args=[item.pk]))
    assert resp.status_code == 302
    new = TutoringSession.objects.get(student=teacher)
    assert new.pk != old.pk and new.sandbox and new.turns.count() == 1
    assert not Attempt.objects.filter(session__student=teacher).exists()


@pytest.mark.parametrize(("data", "message"), [
    ({"message": "   "}, "Type an answer or a question first"),
    ({"message": "x" * 5000}, "at most 2000 characters"),
    ({"message": "1\x002"}, "Null characters are not allowed"),
    ({"message": "", "say": "give me the answer"}, "Select a valid choice"),
])
def test_bad_messages_get_a_clear_error_not_a_500(client, setup, data, message):
    client.force_login(setup["teacher"])
    resp = client.post(reverse("item-preview-say", args=[setup["item"].pk]), data)
    assert resp.status_code == 400
    assert message in resp.content.decode()
    htmx = _say(client, setup["item"], **data)  # htmx swaps only a 2xx: the error comes in the form
    assert htmx.status_code == 200 and message in htmx.content.decode()
    assert not Attempt.objects.exists()


def test_only_the_courses_editors_may_preview(client, setup):
    item = setup["item"]
    for user in (UserFactory(username="stu", role=roles.STUDENT), UserFactory(username="t-two", role=roles.TEACHER)):
        client.force_login(user)
        assert client.get(reverse("item-preview", args=[item.pk])).status_code == 404
        assert _say(client, item, message=WRONG).status_code == 404
        assert client.post(reverse("item-preview-restart", args=[item.pk])).status_code == 404
    assert not TutoringSession.objects.exists()
    client.force_login(setup["teacher"])
    assert client.get(reverse("item-preview", args=[99999])).status_code == 404


def test_a_sandbox_is_no_learners_work(client, setup, monkeypatch, django_capture_on_commit_callbacks):
    """The worst case: the teacher is also a consenting student, enrolled in a class, in a course
    with an experiment. Their sandbox answers still reach no student-facing read and no learner model,
    while a real student's same answers reach every one of them (so each check can fail)."""
    teacher, course, item = setup["teacher"], setup["course"], setup["item"]
    student = UserFactory(username="ada", role=roles.STUDENT)
    classroom = teaching.classroom_create(teacher=UserFactory(username="t-two", role=roles.TEACHER),
                                          course=course, name="7B")
    for user in (teacher, student):
        Consent.objects.create(student=user, version="1", given=True)
        Enrolment.objects.create(classroom=classroom, student=user)
    Condition.objects.create(course=course, name="no telling", overrides={"allow_telling": False})
    published = []
    def publish(*, event):
        published.append(event["student_id"])
        return 1

    monkeypatch.setattr(live, "answer_publish", publish)

    client.force_login(teacher)
    client.get(reverse("item-preview", args=[item.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        for i, text in enumerate([WRONG, "hint please", "3/4"]):
            _say(client, item, message=text, client_id=f"t{i}")
        real = engine.session_start(student=student, item=item)
        for text in [WRONG, "hint please", "3/4"]:
            engine.reply_generate(plan=engine.turn_take(session_id=real.pk, text=text))
    assert Attempt.objects.filter(session__student=teacher, session__sandbox=True).count() == 2

    # The learner model: nothing for the teacher, something for the student.
    for model in (Observation, LearnerKCState, LearnerTraits):
        assert not model.objects.filter(learner=teacher).exists(), model
    assert Observation.objects.filter(learner=student).exists()
    # No experiment condition for the teacher.
    assert not ConditionAssignment.objects.filter(student=teacher).exists()
    assert ConditionAssignment.objects.filter(student=student).exists()

    # Exports and the research API.
    them, ada = exports.pseudonym(teacher.pk), exports.pseudonym(student.pk)
    assert {r["Anon Student Id"] for r in exports.datashop_rows(course=course)} == {ada}
    assert {r["anon_student_id"] for r in exports.dialogue_rows(course=course)} == {ada}
    rita = UserFactory(username="rita", role=roles.RESEARCHER)
    ResearchGrant.objects.create(researcher=rita, course=course)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=rita)[0].key}")
    for endpoint in ("sessions", "turns", "attempts"):
        rows = api.get(f"/api/research/courses/{course.slug}/{endpoint}/").json()["results"]
        assert rows and {r["anon_student_id"] for r in rows} == {ada}, endpoint
    export = b"".join(api.get(f"/api/research/courses/{course.slug}/export.tsv").streaming_content).decode()
    assert ada in export and them not in export

    # The class view, its live feed, the student view and item statistics.
    overview = sel.class_overview(classroom=classroom)
    figures = {s.username: s.attempts for s in overview.students}
    assert figures == {"ada": 2, "t-one": 0}
    assert {a.username for a in overview.recent} == {"ada"}
    assert published == [student.pk, student.pk]
    assert sel.student_transcripts(course=course, student=teacher) == []
    assert sel.student_struggles(course=course, student=teacher) == []
    stats = next(i for i in sel.item_stats(course=course) if i.id == item.pk)
    assert stats.sessions == 1 and stats.attempts == 2
    # The session page is not theirs; the admin's lists of sessions and answers leave it out.
    client.force_login(teacher)
    sandbox = TutoringSession.objects.get(student=teacher, sandbox=True)
    assert client.get(reverse("session", args=[sandbox.pk])).status_code == 404
    for name in ("admin:tutor_tutoringsession_changelist", "admin:tutor_attempt_changelist"):
        listed = client.get(reverse(name))
        assert listed.status_code == 200
        assert listed.context["cl"].result_count == (1 if "session" in name else 2), name
