import re
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory
from tracing.selectors import mastery_predict
from tracing.services import response_record
from tutor import engine, progress, roles
from tutor.courses.models import CourseSettings
from tutor.models import TutoringSession
from tutor.planning.services import item_next


def _figures(html: str) -> dict[int, dict[str, str]]:
    """KC id -> the page's data attributes for that KC's entry and the "N in 10" shown ("" when none)."""
    out = {}
    for m in re.finditer(
        r'<li class="kc kc-[a-z-]+" id="kc-(\d+)" data-kc="\d+" data-state="([a-z-]+)" '
        r'data-p-correct="([\d.]+)" data-mastery="([\d.]+)">(.*?)</li>',
        html,
        re.S,
    ):
        shown = re.search(r'data-figure="in-ten">(\d+) in 10<', m.group(5))
        out[int(m.group(1))] = {"state": m.group(2), "p_correct": m.group(3), "mastery": m.group(4),
                                "shown": shown.group(1) if shown else ""}
    return out


def _page(client, user, course):
    client.force_login(user)
    response = client.get(reverse("progress", args=[course.slug]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def url(course):
    return reverse("progress", args=[course.slug])


def test_page_shows_every_kc_with_the_models_figures(client, course, student):
    html = _page(client, student, course)
    figures = _figures(html)
    # "Mastered" uses the course's own threshold (0.8 by default), as the planner does.
    predicted = mastery_predict(learner=student, course=course, mastery_threshold=0.8)
    assert set(figures) == set(predicted) == set(course.kcs.values_list("id", flat=True))
    for kc_id, pred in predicted.items():
        assert float(figures[kc_id]["p_correct"]) == pytest.approx(pred.p_correct, abs=1e-3)
        assert float(figures[kc_id]["mastery"]) == pytest.approx(pred.mastery, abs=1e-3)
        # Nothing practised yet: every skill reads "not started", with no figure to outrank a practised one.
        assert figures[kc_id]["state"] == "not-started" and figures[kc_id]["shown"] == ""
    assert html.count("<p class=\"status visually-hidden\">Not started</p>") == len(predicted)
    assert "Nothing is fading yet." in html
    assert "No answers yet." in html
    assert "probability" not in html and "%" not in html  # plain "N in 10", no percentages


def test_a_practised_skill_shows_its_figure_and_unpractised_ones_none(client, course, student):
    item = course.items.get(slug="add-halves-quarters")
    session = engine.session_start(student=student, item=item)
    engine.turn_take(session_id=session.pk, text="2/6", client_id="wrong")
    html = _page(client, student, course)
    assert "Last practised just now" in html
    figures = _figures(html)
    practised = set(item.kcs.values_list("id", flat=True))
    for kc_id, fig in figures.items():
        if kc_id in practised:
            assert fig["state"] in ("learning", "known", "review")
            assert int(fig["shown"]) == progress.in_ten(float(fig["p_correct"]))
        else:
            assert fig["state"] == "not-started" and fig["shown"] == ""


def test_rows_follow_the_forgetting_curve(course, student):
    item = course.items.get(slug="add-halves-quarters")
    session = engine.session_start(student=student, item=item)
    engine.turn_take(session_id=session.pk, text="3/4", client_id="c1")
    now = timezone.now()
    rows = progress.progress_rows(learner=student, course=course, now=now)
    by_kc = {r.kc_id: r for r in rows}
    later = mastery_predict(learner=student, course=course, at=now + timedelta(days=7))
    for kc_id, pred in later.items():
        point = next(p for p in by_kc[kc_id].curve if p.day == 7)
        assert point.p_correct == pytest.approx(pred.p_correct)
        assert point.p_correct_sd == pytest.approx(pred.p_correct_sd)
    practised = set(item.kcs.values_list("id", flat=True))
    assert {r.kc_id for r in rows if r.practised} == practised
    for kc_id in practised:
        curve = [p.p_correct for p in by_kc[kc_id].curve]
        assert curve[-1] < curve[0]  # a practised skill is forgotten without practice
    due = progress.review_due(rows)
    assert all(r.practised and r.due_in_days is not None and r.due_in_days <= 7 for r in due)
    days = [r.due_in_days or 0 for r in due]
    assert days == sorted(days)


def test_a_practised_kc_that_was_never_mastered_needs_practice_not_review(course, student):
    item = course.items.get(slug="add-halves-quarters")
    session = engine.session_start(student=student, item=item)
    engine.turn_take(session_id=session.pk, text="2/6", client_id="wrong")  # a wrong answer: low, not mastered
    rows = progress.progress_rows(learner=student, course=course)
    practised = [r for r in rows if r.practised]
    assert practised and not any(r.mastered for r in practised)
    assert progress.review_due(rows) == []


def test_due_for_review_is_the_planners_rule_with_the_students_thresholds(course, student):
    # The same rule as the planner's (tutor.courses.rules.is_due_for_review): mastered now and
    # predicted below the review threshold by that day. A lenient course makes one answer enough.
    CourseSettings.objects.create(course=course, mastery_threshold=0.55, review_threshold=0.55)
    item = course.items.get(slug="add-halves-quarters")
    session = engine.session_start(student=student, item=item)
    engine.turn_take(session_id=session.pk, text="3/4", client_id="right")
    rows = progress.progress_rows(learner=student, course=course)
    expected = {}
    for r in rows:
        today = r.curve[0].p_correct
        first = next((p.day for p in r.curve if p.day <= progress.REVIEW_WINDOW_DAYS and r.practised
                      and today >= 0.55 and p.p_correct < 0.55), None)
        if first is not None:
            expected[r.kc_id] = first
        assert r.mastered == (today >= 0.55)
    assert {r.kc_id: r.due_in_days for r in progress.review_due(rows)} == expected


def test_a_correct_answer_changes_the_mastery_shown(client, course, student):
    item = course.items.get(slug="add-halves-quarters")
    kc_id = item.kcs.order_by("id").first().pk
    before = _figures(_page(client, student, course))[kc_id]
    session = engine.session_start(student=student, item=item)
    plan = engine.turn_take(session_id=session.pk, text="3/4", client_id="right")
    assert plan.move  # the turn was taken
    after = _figures(_page(client, student, course))[kc_id]
    assert float(after["p_correct"]) > float(before["p_correct"])
    assert float(after["mastery"]) != float(before["mastery"])


def test_another_student_sees_only_their_own_model(client, course, student, url):
    item = course.items.get(slug="add-halves-quarters")
    session = engine.session_start(student=student, item=item)
    engine.turn_take(session_id=session.pk, text="3/4", client_id="a1")
    kc_id = item.kcs.order_by("id").first().pk
    a_figures = _figures(_page(client, student, course))
    other = UserFactory(username="grace", role=roles.STUDENT)
    b_html = _page(client, other, course)
    b_figures = _figures(b_html)
    assert b_figures[kc_id]["p_correct"] != a_figures[kc_id]["p_correct"]
    assert a_figures[kc_id]["state"] != "not-started" and b_figures[kc_id]["state"] == "not-started"
    fresh = mastery_predict(learner=other, course=course)
    assert float(b_figures[kc_id]["p_correct"]) == pytest.approx(fresh[kc_id].p_correct, abs=1e-3)
    assert "Last practised" not in b_html
    assert "Nothing is fading yet." in b_html
    # There is no student id to tamper with: query strings are ignored.
    assert _figures(client.get(url, {"student": student.pk}).content.decode()) == b_figures


def test_anonymous_is_redirected_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_unknown_course_is_404(client, student):
    client.force_login(student)
    assert client.get(reverse("progress", args=["no-such-course"])).status_code == 404


def test_home_and_session_pages_link_to_progress(client, course, student, session, url):
    client.force_login(student)
    assert url in client.get(reverse("home")).content.decode()
    assert url in client.get(reverse("session", args=[session.pk])).content.decode()


def test_states_follow_the_courses_rules(course, student):
    # A lenient course makes one right answer enough to know a skill.
    CourseSettings.objects.create(course=course, mastery_threshold=0.55, review_threshold=0.55)
    item = course.items.get(slug="add-halves-quarters")
    session = engine.session_start(student=student, item=item)
    engine.turn_take(session_id=session.pk, text="3/4", client_id="right")
    for r in progress.progress_rows(learner=student, course=course):
        if not r.practised:
            assert r.state == progress.NOT_STARTED
        elif r.due_in_days is not None:
            assert r.state == progress.REVIEW and r.mastered
        else:
            assert r.state == (progress.KNOWN if r.curve[0].p_correct >= 0.55 else progress.LEARNING)


def test_weeks_count_the_learners_answers(course, student):
    item = course.items.get(slug="add-halves-quarters")
    other = course.items.exclude(pk=item.pk).exclude(kcs__in=item.kcs.all()).filter(steps__isnull=False).first()
    now = timezone.make_aware(datetime(2026, 3, 12, 15, 0))  # a Thursday
    monday = now.date() - timedelta(days=3)
    answers = [  # (days before now, item, right)
        (20, item, False), (20, item, True),  # three weeks back: outside a 3-week window
        (8, item, True),  # last week
        (2, item, False), (1, other, True), (0, item, True),  # this week
    ]
    for i, (days, it, right) in enumerate(answers):
        response_record(learner=student, item=it, correct=right, at=now - timedelta(days=days), attempt_id=f"a{i}")
    UserFactory(username="ada2", role=roles.STUDENT)  # someone else's answers would not count
    weeks = progress.progress_weeks(learner=student, course=course, now=now, weeks=3)
    assert [w.start for w in weeks] == [monday - timedelta(weeks=2), monday - timedelta(weeks=1), monday]
    item_kcs, other_kcs = item.kcs.count(), other.kcs.count()
    assert [(w.answers, w.right) for w in weeks] == [(0, 0), (1, 1), (3, 2)]
    assert [w.skills for w in weeks] == [0, item_kcs, item_kcs + other_kcs]
    # The item's skills were first answered before the window: only the other item's are new this week.
    assert [w.new_skills for w in weeks] == [0, 0, other_kcs]
    assert weeks[-1].label == f"{monday.day} {monday:%b}"
    assert progress.progress_weeks(learner=UserFactory(username="new", role=roles.STUDENT), course=course) == []


def test_weekly_chart_and_table_on_the_page(client, course, student):
    item = course.items.get(slug="add-halves-quarters")
    response_record(learner=student, item=item, correct=True, at=timezone.now(), attempt_id="w1")
    html = _page(client, student, course)
    assert "1 answer in the last" in html
    assert re.search(r'<table class="weeks" id="weeks">.*<td>1</td><td>1</td>', html, re.S)
    assert html.count('<rect class="all"') == 1


def test_what_to_do_next_starts_the_planners_item(client, course, student):
    html = _page(client, student, course)
    item, reason = item_next(student=student, course=course)
    assert item is not None
    start = reverse("item-start", args=[item.pk])
    assert f'action="{start}"' in html and item.title in html and reason in html
    response = client.post(start)
    session = TutoringSession.objects.get(student=student, item=item)
    assert response.status_code == 302 and response.url == reverse("session", args=[session.pk])


def test_weekly_chart_bars_scale_with_the_answers():
    weeks = [progress.Week(date(2026, 3, 2) + timedelta(weeks=i), answers, right, 1, 0)
             for i, (answers, right) in enumerate([(0, 0), (2, 1), (4, 4)])]
    bars = progress.weeks_chart(weeks)["bars"]
    full = progress.CHART_BOTTOM - progress.CHART_TOP
    assert [b["h"] for b in bars] == [0, full / 2, full]
    assert [b["right_h"] for b in bars] == [0, full / 4, full]
    assert all(b["y"] + b["h"] == progress.CHART_BOTTOM for b in bars)
    assert [b["x"] for b in bars] == sorted(b["x"] for b in bars)
    assert bars[-1]["x"] + bars[-1]["w"] <= progress.CHART_W
    assert progress.weeks_chart([]) == {}
