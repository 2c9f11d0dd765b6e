"""The teacher's pages: figures against the database and the learner model, and who may see what."""

import copy
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from content import packs
from content.models import Misconception
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tracing.models import LearnerTraits, Observation
from tracing.selectors import mastery_predict
from tutor import engine, roles
from tutor.models import Attempt, Turn, TutoringSession
from tutor.teaching import selectors as sel
from tutor.teaching import services as teaching
from tutor.teaching.models import Classroom, Enrolment

# A student who climbs the whole ladder on the first item and is shown the answer.
# (A demand does not climb the ladder; an "I'm stuck" after trying at its end counts as effort.)
STRUGGLING = ["1/6", "1/6", "hint please", "give me the answer", "1/6", "hint please", "hint please", "hint please"]
# A student who gets it right at once, then makes the known mistake on a second attempt elsewhere.
STRONG = ["3/4"]


def _work(student, item, texts, tag):
    session = engine.session_start(student=student, item=item)
    for i, text in enumerate(texts):
        engine.turn_take(session_id=session.pk, text=text, client_id=f"{tag}-{i}")
    return session


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Eight accounts per test: the production hasher would spend most of the run hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(course):
    t1 = UserFactory(username="t-one", role=roles.TEACHER)
    t2 = UserFactory(username="t-two", role=roles.TEACHER)
    course.owner = t1
    course.save()
    ada = UserFactory(username="ada", role=roles.STUDENT)
    bob = UserFactory(username="bob", role=roles.STUDENT)
    cy = UserFactory(username="cy", role=roles.STUDENT)  # in the class, never worked
    outsider = UserFactory(username="eve", role=roles.STUDENT)  # not in t1's class
    dan = UserFactory(username="dan", role=roles.STUDENT)  # in t2's class
    researcher = UserFactory(username="rita", role=roles.RESEARCHER)
    mine = teaching.classroom_create(teacher=t1, course=course, name="7B")
    theirs = teaching.classroom_create(teacher=t2, course=course, name="7C")
    for s in (ada, bob, cy):
        Enrolment.objects.create(classroom=mine, student=s)
    Enrolment.objects.create(classroom=theirs, student=dan)
    first = course.items.get(slug="add-halves-quarters")
    second = course.items.get(slug="solve-x-plus-3")
    _work(ada, first, STRUGGLING, "ada1")
    _work(ada, second, ["x = 5", "x = 5"], "ada2")
    _work(bob, first, STRONG, "bob1")
    _work(bob, second, ["x = 4", "2/6 maybe", "subtract 3"], "bob2")
    _work(outsider, first, ["2/6", "2/6"], "eve1")
    _work(dan, first, ["2/6"], "dan1")
    return {"t1": t1, "t2": t2, "ada": ada, "bob": bob, "cy": cy, "outsider": outsider, "dan": dan,
            "researcher": researcher, "mine": mine, "theirs": theirs, "course": course, "first": first,
            "second": second}


def _get(client, user, name, **kwargs):
    client.force_login(user)
    return client.get(reverse(name, kwargs=kwargs))


HEAT_CELL = re.compile(r'<td class="([^"]*)" title="(\d+)% ±(\d+); mastered (\d+)%[^"]*">(\d+)</td>')


def _heatmap(html):
    table = html.split('id="heatmap"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for m in re.finditer(r'<tr data-student="(\d+)">(.*?)</tr>', table, re.S):
        rows[int(m.group(1))] = HEAT_CELL.findall(m.group(2))
    kcs = [int(k) for k in re.findall(r'<th scope="col" class="kc" data-kc="(\d+)"', table)]
    return kcs, rows


# ---------------------------------------------------------------------------------------------
# Figures


def test_bulk_prediction_equals_the_learner_models_own(world):
    course = world["course"]
    ids = [world[k].pk for k in ("ada", "bob", "cy", "dan")]
    kc_ids = list(course.kcs.values_list("id", flat=True))
    now = timezone.now()
    later = now + timezone.timedelta(days=9)
    bulk = sel.mastery_bulk(course=course, learner_ids=ids, kc_ids=kc_ids, at=[now, later])
    assert LearnerTraits.objects.filter(learner=world["ada"], course=course).exists()
    assert not LearnerTraits.objects.filter(learner=world["cy"], course=course).exists()
    for key in ("ada", "bob", "cy", "dan"):
        user = world[key]
        for at in (now, later):
            own = mastery_predict(learner=user, course=course, at=at)
            for kc_id in kc_ids:
                got = bulk.get(at, user.pk, kc_id)
                assert got.p_correct == pytest.approx(own[kc_id].p_correct, abs=1e-9)
                assert got.p_correct_sd == pytest.approx(own[kc_id].p_correct_sd, abs=1e-9)
                assert got.mastery == pytest.approx(own[kc_id].mastery, abs=1e-9)
    practised = set(world["first"].kcs.values_list("id", flat=True)) | set(world["second"].kcs.values_list("id",
                                                                                                         flat=True))
    assert set(bulk.practised[world["ada"].pk]) == practised
    assert world["cy"].pk not in bulk.practised
    # The figures differ between students (so equality above is not trivially the prior's).
    assert bulk.p_correct[now][world["ada"].pk] != bulk.p_correct[now][world["bob"].pk]


def test_class_view_heatmap_shows_each_students_predictions(client, world):
    response = _get(client, world["t1"], "teacher-class", classroom_id=world["mine"].pk)
    assert response.status_code == 200
    html = response.content.decode()
    kcs, rows = _heatmap(html)
    course = world["course"]
    assert kcs == list(course.kcs.order_by("position", "id").values_list("id", flat=True))
    assert set(rows) == {world["ada"].pk, world["bob"].pk, world["cy"].pk}  # enrolled only
    practised_by_ada = set(world["first"].kcs.values_list("id", flat=True))
    for key in ("ada", "bob", "cy"):
        # The class view's "mastered" uses the course's threshold (0.8 by default), as the planner does.
        own = mastery_predict(learner=world[key], course=course, mastery_threshold=0.8)
        assert len(rows[world[key].pk]) == len(kcs)
        for kc_id, (css, pct, sd, mastered, text) in zip(kcs, rows[world[key].pk], strict=True):
            assert int(text) == int(pct) == round(own[kc_id].p_correct * 100)
            assert int(sd) == round(own[kc_id].p_correct_sd * 100)
            assert int(mastered) == round(own[kc_id].mastery * 100)
            assert f"h{min(9, int(own[kc_id].mastery * 10))}" in css.split()
            assert ("u" in css.split()) == (own[kc_id].p_correct_sd > sel.UNCERTAIN_SD)
            if key == "ada":
                assert ("n" in css.split()) == (kc_id not in practised_by_ada and kc_id not in set(
                    world["second"].kcs.values_list("id", flat=True)))
            if key == "cy":
                assert "n" in css.split()
    assert "dan" not in html and "eve" not in html


def test_class_view_summary_counts_match_the_database(client, world):
    overview = sel.class_overview(classroom=world["mine"])
    by_id = {s.id: s for s in overview.students}
    for key in ("ada", "bob", "cy"):
        user = world[key]
        attempts = Attempt.objects.filter(session__student=user, subproblem__isnull=True)
        tutor = Turn.objects.filter(session__student=user, role=Turn.Role.TUTOR)
        s = by_id[user.pk]
        assert s.attempts == attempts.count()
        assert s.correct == attempts.filter(correct=True).count()
        assert s.recent_attempts == s.attempts  # everything happened just now
        assert s.recent_hints == tutor.filter(move="hint").count()
        assert s.recent_bottom_outs == tutor.filter(move="bottom_out").values("session", "step").distinct().count()
    assert by_id[world["ada"].pk].recent_hints >= 3
    assert by_id[world["ada"].pk].recent_bottom_outs == 1
    assert by_id[world["cy"].pk].attempts == 0
    html = _get(client, world["t1"], "teacher-class", classroom_id=world["mine"].pk).content.decode()
    ada_row = re.search(rf'<tr data-student="{world["ada"].pk}"><th scope="row" class="who"><a[^>]*>ada</a></th>'
                        r'(.*?)</tr>', html.split('id="heatmap"')[1], re.S).group(1)
    assert f'data-figure="attempts">{by_id[world["ada"].pk].attempts}<' in ada_row
    assert f'data-figure="hints">{by_id[world["ada"].pk].recent_hints}<' in ada_row


def test_stuck_students_are_listed_with_reasons(world, settings):
    overview = sel.class_overview(classroom=world["mine"])
    stuck = {s.id: s.reasons for s in overview.stuck}
    assert world["cy"].pk not in stuck and world["bob"].pk not in stuck
    # Ada answered five times and never right; fewer hints than the threshold, one answer shown.
    attempts = Attempt.objects.filter(session__student=world["ada"], subproblem__isnull=True)
    assert attempts.count() >= sel.STUCK_NO_PROGRESS_ATTEMPTS and not attempts.filter(correct=True).exists()
    assert stuck[world["ada"].pk] == [f"{attempts.count()} answers this week, none right"]
    assert Turn.objects.filter(session__student=world["ada"], move="hint").count() < sel.STUCK_HINTS
    # Two more bottom-outs make her stuck, and the reason says so.
    item = world["first"]
    TutoringSession.objects.filter(student=world["ada"], item=item).update(status=TutoringSession.Status.FINISHED)
    _work(world["ada"], item, STRUGGLING, "ada3")
    overview = sel.class_overview(classroom=world["mine"])
    reasons = {s.id: s.reasons for s in overview.stuck}[world["ada"].pk]
    assert any("shown the answer on 2 steps" in r for r in reasons)


def test_recall_fallen_since_practice_counts_as_stuck(world):
    from tracing.models import LearnerKCState

    bob, course = world["bob"], world["course"]
    assert not any("recall" in r for s in sel.class_overview(classroom=world["mine"]).stuck for r in s.reasons)
    # Three weeks without practice: the model predicts he has forgotten.
    LearnerKCState.objects.filter(learner=bob).update(practised_at=timezone.now() - timezone.timedelta(days=21))
    overview = sel.class_overview(classroom=world["mine"])
    summary = next(s for s in overview.students if s.id == bob.pk)
    own = mastery_predict(learner=bob, course=course)
    practised = set(LearnerKCState.objects.filter(learner=bob).values_list("kc_id", flat=True))
    expected = [kc.name for kc in course.kcs.order_by("position", "id")
                if kc.pk in practised and own[kc.pk].p_correct < overview.review_threshold]
    assert summary.falling == expected
    assert len(expected) >= sel.STUCK_FALLING_KCS
    assert any("recall has fallen" in r for r in summary.reasons)
    assert bob.pk in {s.id for s in overview.stuck}


def test_recent_activity_lists_the_class_sessions_newest_first(world):
    overview = sel.class_overview(classroom=world["mine"])
    expected = list(
        TutoringSession.objects.filter(student__in=[world["ada"], world["bob"], world["cy"]])
        .order_by("-updated", "-id").values_list("id", flat=True)
    )
    assert [a.session_id for a in overview.recent] == expected[: sel.RECENT_ACTIVITY]
    for a in overview.recent:
        assert a.attempts == Attempt.objects.filter(session_id=a.session_id, subproblem__isnull=True).count()


def test_student_view_shows_traits_history_transcripts_and_struggles(client, world):
    ada, course = world["ada"], world["course"]
    response = _get(client, world["t1"], "teacher-student", classroom_id=world["mine"].pk, student_id=ada.pk)
    assert response.status_code == 200
    html = response.content.decode()
    # Traits in plain words.
    for name in ("forgetting", "overall-level", "prerequisites", "consistency"):
        assert f'data-trait="{name}"' in html
    traits = sel.student_traits(course=course, student=ada)
    assert any(w in traits[0].words for w in ("forgets quickly", "retains well", "typical rate"))
    # Every session: the newest inline, the others loaded when opened (htmx), with every turn,
    # hint levels and the bottom-out marked.
    sessions = TutoringSession.objects.filter(student=ada, course=course).order_by("-created", "-id")
    newest = sessions.first()
    assert html.count('class="t t-') == Turn.objects.filter(session=newest).count()
    transcripts = ""
    for s in sessions:
        assert f'id="session-{s.pk}"' in html
        url = reverse("teacher-session", args=[world["mine"].pk, ada.pk, s.pk])
        if s != newest:
            assert f'hx-get="{url}"' in html
        part = client.get(url, HTTP_HX_REQUEST="true")
        assert part.status_code == 200 and "<html" not in part.content.decode()
        assert part.content.decode().count('class="t t-') == Turn.objects.filter(session=s).count()
        transcripts += part.content.decode()
    assert "hint level 1" in transcripts and "hint level 2" in transcripts
    assert "bottom-out: answer shown" in transcripts
    # Without htmx the same transcript is a page of its own.
    page = client.get(reverse("teacher-session", args=[world["mine"].pk, ada.pk, newest.pk]))
    assert page.status_code == 200 and "<html" in page.content.decode()
    # Mastery history from the stored observations.
    history = sel.student_mastery_history(course=course, student=ada)
    observations = list(Observation.objects.filter(learner=ada, course=course).order_by("at", "id"))
    for kc_id, points in history.items():
        stored = [o.mastery_after[str(kc_id)] for o in observations if str(kc_id) in o.mastery_after]
        assert [p.mastery for p in points if not p.predicted] == pytest.approx(stored)
        assert points[-1].predicted
        now_predicted = mastery_predict(learner=ada, course=course, kcs=[kc_id], mastery_threshold=0.8)
        assert points[-1].mastery == pytest.approx(now_predicted[kc_id].mastery, abs=1e-6)
        assert f'<li class="card" data-kc="{kc_id}">' in html
    # The struggles: the first item, with its wrong answers, hints and answer shown.
    struggles = {s.item_id: s for s in sel.student_struggles(course=course, student=ada)}
    first = struggles[world["first"].pk]
    attempts = Attempt.objects.filter(session__student=ada, session__item=world["first"], subproblem__isnull=True)
    assert first.wrong == attempts.filter(correct=False).count() == 3
    assert first.hints == Turn.objects.filter(session__student=ada, session__item=world["first"], move="hint").count()
    assert first.bottom_outs == 1
    assert next(iter(struggles)) == world["first"].pk  # the hardest first


def test_item_statistics_match_the_database(client, world):
    course = world["course"]
    stats = {i.id: i for i in sel.item_stats(course=course)}
    first = stats[world["first"].pk]
    attempts = Attempt.objects.filter(session__item=world["first"], subproblem__isnull=True)
    assert first.sessions == TutoringSession.objects.filter(item=world["first"]).count() == 4
    assert first.attempts == attempts.count()
    # First tries: ada 1/6 (wrong), bob 3/4 (right), eve 2/6, dan 2/6.
    assert (first.first_try_correct, first.first_tries) == (1, 4)
    assert first.hints == Turn.objects.filter(session__item=world["first"], move="hint").count()
    assert first.bottom_outs == 1
    wrong = {w.answer: w for w in first.steps[0].wrong_answers}
    assert wrong["2/6"].count == attempts.filter(parsed="2/6").count() == 3
    assert wrong["2/6"].misconception == "adds denominators"
    assert wrong["1/6"].count == 3 and wrong["1/6"].misconception == ""
    counts = [w.count for w in first.steps[0].wrong_answers]
    assert counts == sorted(counts, reverse=True)  # most common first
    # In words a teacher reads: eve gave 2/6 twice and dan once; ada gave 1/6 three times.
    assert wrong["2/6"].students == 2 and wrong["2/6"].given == "3 times by 2 students"
    assert wrong["1/6"].given == "3 times by 1 student"
    # Per class: only the class's students.
    mine = {i.id: i for i in sel.item_stats(course=course, classroom=world["mine"])}
    assert mine[world["first"].pk].sessions == 2
    assert "2/6" not in {w.answer for w in mine[world["first"].pk].steps[0].wrong_answers}


def test_wrong_answer_links_to_a_prefilled_misconception_form(client, world):
    course, t1 = world["course"], world["t1"]
    html = _get(client, t1, "teacher-course-items", slug=course.slug).content.decode()
    # Answers as maths for KaTeX, counts in words, never "2/6 \u00d7 3"; the table scrolls in its own box.
    assert '<span class="math math-inline">2/6</span></span> <span class="given">given 3 times by 2 students' in html
    assert "\u00d7" not in html and 'class="table-scroll"' in html
    links = re.findall(r'<a href="([^"]+)" class="add-misconception">', html)
    assert links
    url = next(u.replace("&amp;", "&") for u in links if "pattern=1%2F6" in u)
    parsed = urlparse(url)
    assert parsed.path == reverse("admin:content_misconception_add")
    query = parse_qs(parsed.query)
    step = world["first"].steps.get()
    assert query["step"] == [str(step.pk)] and query["pattern"] == ["1/6"] and query["pattern_kind"] == ["answer"]
    form = client.get(url)
    assert form.status_code == 200
    assert 'value="1/6"' in form.content.decode()
    # Once such a misconception exists, the same answer counts as covered (checked with its pattern).
    Misconception.objects.create(step=step, name="adds numerators only", pattern_kind="answer", pattern="1/6",
                                 feedback="Look at the bottoms.")
    stats = {i.id: i for i in sel.item_stats(course=course)}
    wrong = {w.answer: w for w in stats[world["first"].pk].steps[0].wrong_answers}
    assert wrong["1/6"].misconception == "adds numerators only"
    html = _get(client, t1, "teacher-course-items", slug=course.slug).content.decode()
    assert "pattern=1%2F6" not in html


# ---------------------------------------------------------------------------------------------
# Who may see what


@pytest.mark.parametrize("name,student", [("teacher-class", None), ("teacher-class-items", None),
                                          ("teacher-student", "ada")])
def test_another_teacher_cannot_see_my_class(client, world, name, student):
    args = {"classroom_id": world["mine"].pk}
    if student:
        args["student_id"] = world[student].pk
    assert _get(client, world["t2"], name, **args).status_code == 404
    assert _get(client, world["t1"], name, **args).status_code == 200


def test_sessions_are_found_only_through_their_student_and_class(client, world):
    mine, ada, bob = world["mine"].pk, world["ada"], world["bob"]
    ada_session = TutoringSession.objects.filter(student=ada).first().pk
    eve_session = TutoringSession.objects.filter(student=world["outsider"]).first().pk
    assert _get(client, world["t1"], "teacher-session", classroom_id=mine, student_id=ada.pk,
                session_id=ada_session).status_code == 200
    for student, session in ((bob, ada_session), (world["outsider"], eve_session), (ada, eve_session),
                             (ada, 999999)):
        r = _get(client, world["t1"], "teacher-session", classroom_id=mine, student_id=student.pk, session_id=session)
        assert r.status_code == 404
    r = _get(client, world["t2"], "teacher-session", classroom_id=mine, student_id=ada.pk, session_id=ada_session)
    assert r.status_code == 404


def test_students_outside_the_class_are_not_found(client, world):
    mine = world["mine"].pk
    for key in ("outsider", "dan", "t2"):
        r = _get(client, world["t1"], "teacher-student", classroom_id=mine, student_id=world[key].pk)
        assert r.status_code == 404
    r = _get(client, world["t1"], "teacher-student", classroom_id=world["theirs"].pk, student_id=world["dan"].pk)
    assert r.status_code == 404
    assert _get(client, world["t1"], "teacher-class", classroom_id=999999).status_code == 404


def test_students_researchers_and_anonymous_are_refused(client, world):
    urls = [reverse("teacher-home"), reverse("teacher-class", args=[world["mine"].pk]),
            reverse("teacher-student", args=[world["mine"].pk, world["ada"].pk]),
            reverse("teacher-course-items", args=[world["course"].slug]),
            reverse("teacher-course-settings", args=[world["course"].slug])]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 302 and r.url.startswith(reverse("login"))
    for key in ("ada", "researcher"):
        client.force_login(world[key])
        for url in urls:
            assert client.get(url).status_code == 403
        r = client.post(reverse("teacher-class-manage", args=[world["mine"].pk]), {"action": "regenerate"})
        assert r.status_code == 403
    world["mine"].refresh_from_db()


def test_teacher_home_lists_only_my_classes(client, world):
    html = _get(client, world["t1"], "teacher-home").content.decode()
    assert f'data-classroom="{world["mine"].pk}"' in html
    assert f'data-classroom="{world["theirs"].pk}"' not in html
    assert world["theirs"].join_code not in html


def test_course_pages_are_for_the_courses_editors(client, world):
    slug = world["course"].slug
    for name in ("teacher-course-items", "teacher-course-settings", "teacher-goal-new"):
        assert _get(client, world["t2"], name, slug=slug).status_code == 404
        assert _get(client, world["t1"], name, slug=slug).status_code == 200
    assert _get(client, world["t1"], "teacher-course-items", slug="no-such-course").status_code == 404


# ---------------------------------------------------------------------------------------------
# Classes and joining


def test_create_a_class(client, world):
    client.force_login(world["t1"])
    r = client.post(reverse("teacher-home"), {"name": "  Year 8 ", "course": world["course"].pk})
    classroom = Classroom.objects.get(name="Year 8")
    assert r.status_code == 302 and r.url == reverse("teacher-class", args=[classroom.pk])
    assert list(classroom.teachers.all()) == [world["t1"]]
    # A course the teacher does not author cannot be chosen.
    packs.import_pack(copy.deepcopy(SMALL_PACK), slug="theirs", owner=world["t2"])
    client.force_login(world["t2"])
    r = client.post(reverse("teacher-home"), {"name": "Sneaky", "course": world["course"].pk})
    assert r.status_code == 200 and "Select a valid choice" in r.content.decode()
    assert not Classroom.objects.filter(name="Sneaky").exists()


def test_student_joins_with_the_code(client, world):
    eve, mine = world["outsider"], world["mine"]
    client.force_login(eve)
    code = mine.join_code.lower()
    r = client.post(reverse("class-join"), {"code": f" {code[:4]}-{code[4:]} "})
    assert r.status_code == 302
    assert Enrolment.objects.filter(classroom=mine, student=eve).exists()
    r = client.post(reverse("class-join"), {"code": mine.join_code}, follow=True)
    assert "already in 7B" in r.content.decode()
    assert Enrolment.objects.filter(classroom=mine, student=eve).count() == 1


@pytest.mark.parametrize("code,message", [
    ("", "This field is required."),
    ("ZZZZZZZZ", "No class has this code"),
    ("<script>", "not a class code"),
    ("x" * 500, "at most 40 characters"),
])
def test_bad_codes_get_clear_errors(client, world, code, message):
    client.force_login(world["outsider"])
    r = client.post(reverse("class-join"), {"code": code})
    assert r.status_code == 200
    assert message in r.content.decode()
    assert not Enrolment.objects.filter(student=world["outsider"]).exists()


def test_regenerate_and_close_joining(client, world):
    mine, eve = world["mine"], world["outsider"]
    old = mine.join_code
    client.force_login(world["t1"])
    r = client.post(reverse("teacher-class-manage", args=[mine.pk]), {"action": "regenerate"}, HTTP_HX_REQUEST="true")
    mine.refresh_from_db()
    assert r.status_code == 200 and mine.join_code != old
    assert f'data-code="{mine.join_code}"' in r.content.decode()  # the partial for htmx
    client.post(reverse("teacher-class-manage", args=[mine.pk]), {"action": "close"})
    mine.refresh_from_db()
    assert not mine.joining_open
    r = client.post(reverse("teacher-class-manage", args=[mine.pk]), {"action": "explode"})
    assert r.status_code == 302
    client.force_login(eve)
    assert "No class has this code" in client.post(reverse("class-join"), {"code": old}).content.decode()
    r = client.post(reverse("class-join"), {"code": mine.join_code})
    assert "not taking new students" in r.content.decode()
    assert not Enrolment.objects.filter(student=eve).exists()
    # The other teacher cannot touch it.
    client.force_login(world["t2"])
    assert client.post(reverse("teacher-class-manage", args=[mine.pk]), {"action": "open"}).status_code == 404
    mine.refresh_from_db()
    assert not mine.joining_open


# ---------------------------------------------------------------------------------------------
# Tutor settings and goals


def test_settings_are_saved_and_used_by_the_tutor(client, world):
    from tutor.courses.services import settings_effective

    course = world["course"]
    client.force_login(world["t1"])
    url = reverse("teacher-course-settings", args=[course.slug])
    data = {"max_attempts_before_bottom_out": 5, "llm_enabled": "", "mastery_threshold": 0.85,
            "review_threshold": 0.6, "target_success": 0.8}  # allow_telling unticked
    assert client.post(url, data).status_code == 302
    effective = settings_effective(course=course)
    assert (effective.max_attempts_before_bottom_out, effective.allow_telling, effective.llm_enabled) == (5, False,
                                                                                                        False)
    assert (effective.mastery_threshold, effective.review_threshold, effective.target_success) == (0.85, 0.6, 0.8)


@pytest.mark.parametrize("change,message", [
    ({"review_threshold": 0.9, "mastery_threshold": 0.8}, "cannot be above the mastery threshold"),
    ({"target_success": 0.95}, "less than or equal to 0.85"),
    ({"max_attempts_before_bottom_out": 0}, "greater than or equal to 1"),
    ({"mastery_threshold": "lots"}, "Enter a number"),
])
def test_bad_settings_get_form_errors(client, world, change, message):
    course = world["course"]
    client.force_login(world["t1"])
    data = {"max_attempts_before_bottom_out": 3, "allow_telling": "on", "llm_enabled": "on",
            "mastery_threshold": 0.8, "review_threshold": 0.7, "target_success": 0.75, **change}
    r = client.post(reverse("teacher-course-settings", args=[course.slug]), data)
    assert r.status_code == 200
    assert message in r.content.decode()
    from tutor.courses.models import CourseSettings

    assert not CourseSettings.objects.filter(course=course).exists()


def test_goals_create_edit_default_and_delete(client, world):
    from tutor.courses.models import CourseGoal
    from tutor.courses.services import goal_kc_ids

    course = world["course"]
    kcs = list(course.kcs.order_by("id"))
    client.force_login(world["t1"])
    new = reverse("teacher-goal-new", args=[course.slug])
    assert client.post(new, {"name": "Adding", "kcs": [kcs[0].pk, kcs[1].pk], "is_default": "on",
                             "position": 0}).status_code == 302
    first = CourseGoal.objects.get(course=course, name="Adding")
    assert sorted(goal_kc_ids(course=course)) == sorted([kcs[0].pk, kcs[1].pk])
    assert client.post(new, {"name": "Equations", "kcs": [kcs[2].pk], "is_default": "on",
                             "position": 1}).status_code == 302
    first.refresh_from_db()
    assert not first.is_default  # the default moved to the new goal
    assert goal_kc_ids(course=course) == [kcs[2].pk]
    # Errors: duplicate name, no skills, a skill of another course.
    other_kc = world["course"].__class__.objects.exclude(pk=course.pk)
    r = client.post(new, {"name": "Adding", "kcs": [kcs[0].pk], "position": 0})
    assert "already has a goal with that name" in r.content.decode()
    r = client.post(new, {"name": "Empty", "position": 0})
    assert "This field is required" in r.content.decode()
    from tests.factories import KCFactory

    foreign = KCFactory()
    r = client.post(new, {"name": "Foreign", "kcs": [foreign.pk], "position": 0})
    assert "Select a valid choice" in r.content.decode()
    assert not other_kc.filter(kcs__goals__isnull=False).exists()
    assert CourseGoal.objects.filter(course=course).count() == 2
    edit = reverse("teacher-goal-edit", args=[course.slug, first.pk])
    assert client.post(edit, {"action": "delete"}).status_code == 302
    assert not CourseGoal.objects.filter(pk=first.pk).exists()
    assert client.get(edit).status_code == 404


def test_pages_of_an_empty_course_and_class_render(client, world):
    from tests.factories import CourseFactory

    t1 = world["t1"]
    empty = CourseFactory(owner=t1)
    classroom = teaching.classroom_create(teacher=t1, course=empty, name="Nobody yet")
    client.force_login(t1)
    assert client.get(reverse("teacher-class", args=[classroom.pk])).status_code == 200
    assert client.get(reverse("teacher-class-items", args=[classroom.pk])).status_code == 200
    Enrolment.objects.create(classroom=classroom, student=world["ada"])  # a student, but no skills
    html = client.get(reverse("teacher-class", args=[classroom.pk])).content.decode()
    assert f'data-student="{world["ada"].pk}"' in html
    assert client.get(reverse("teacher-student", args=[classroom.pk, world["ada"].pk])).status_code == 200
    assert client.get(reverse("teacher-course-settings", args=[empty.slug])).status_code == 200
    assert client.get("/teach/classes/not-a-number/").status_code == 404


@pytest.mark.parametrize(("answer", "shown"), [
    ("-19", "$-19$"), ("x = 3", "$x = 3$"), ("2/6", "$2/6$"), ("$\\frac{1}{3}$", "$\\frac{1}{3}$"),
    ("subtract 3", "subtract 3"), ("sqrt(2)", "sqrt(2)"), ("1 <script>", "1 <script>"),
])
def test_wrong_answers_are_shown_as_maths_only_when_they_are_maths(answer, shown):
    assert sel.WrongAnswer(answer, 1, "", None, students=1).answer_shown == shown


def test_given_counts_read_as_words():
    assert sel.WrongAnswer("1", 1, "", None, students=1).given == "by 1 student"
    assert sel.WrongAnswer("1", 2, "", None, students=2).given == "by 2 students"
    assert sel.WrongAnswer("1", 2, "", None, students=1).given == "2 times by 1 student"


def test_heatmap_names_every_skill_in_full_and_has_a_legend(client, world):
    course = world["course"]
    course.kcs.filter(slug="adding").update(name="Adding fractions with unlike denominators, carefully")
    html = _get(client, world["t1"], "teacher-class", classroom_id=world["mine"].pk).content.decode()
    full = "Adding fractions with unlike denominators, carefully"
    # Shortened on screen, whole on hover and for screen readers.
    assert f'title="{full}"><span aria-hidden="true">Adding fractions wi…</span><span class="visually-hidden">{full}' \
        in html
    assert re.search(r'<div class="heat-wrap" role="region" aria-labelledby="heat-heading" tabindex="0">', html)
    legend = html[html.index('id="heat-legend"'):html.index('class="heat-wrap"')]
    assert legend.count('<span class="swatch h') == 12  # ten colours, then unsure and not practised
    assert "0\u201310%" in legend and "90\u2013100%" in legend
