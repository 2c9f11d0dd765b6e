"""The authoring admin's pages read a bounded number of queries, whatever the size of the course (the
step and KC pages ran one query per row, per inline form and per permission check)."""

from itertools import pairwise

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import (
    CourseFactory,
    HintFactory,
    ItemFactory,
    KCFactory,
    MisconceptionFactory,
    PrerequisiteFactory,
    StepFactory,
    SubproblemFactory,
    UserFactory,
)
from tutor import roles

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

# What a page may cost: session, user, groups and permissions, the editable courses, the page's rows.
MAX_QUERIES = 16


@pytest.fixture
def teacher():
    return UserFactory(username="author", role=roles.TEACHER)


def grow(course, n):
    """``n`` items of one step each, with hints, subproblems, misconceptions and KCs, chained by
    prerequisites."""
    kcs = [KCFactory(course=course) for _ in range(n)]
    for a, b in pairwise(kcs):
        PrerequisiteFactory(prerequisite=a, dependent=b)
    steps = []
    for i in range(n):
        item = ItemFactory(course=course)
        item.kcs.set([kcs[i]])
        step = StepFactory(item=item)
        for p in range(3):
            HintFactory(step=step, position=p)
            SubproblemFactory(step=step, position=p, kc=kcs[i])
            MisconceptionFactory(step=step, name=f"mistake {p}", kc=kcs[(i + p) % n])
        steps.append(step)
    return kcs, steps


def pages(course, kcs, steps):
    return {
        "step list": reverse("admin:content_step_changelist"),
        "step change": reverse("admin:content_step_change", args=[steps[-1].pk]),
        "KC list": reverse("admin:content_knowledgecomponent_changelist"),
        "KC change": reverse("admin:content_knowledgecomponent_change", args=[kcs[-1].pk]),
        "misconception list": reverse("admin:content_misconception_changelist"),
        "prerequisite list": reverse("admin:content_prerequisite_changelist"),
        "item list": reverse("admin:content_item_changelist"),
        "item change": reverse("admin:content_item_change", args=[steps[-1].item_id]),
        "course list": reverse("admin:content_course_changelist"),
        "index": reverse("admin:index"),
    }


def query_counts(client, urls):
    counts = {}
    for name, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            resp = client.get(url)
        assert resp.status_code == 200, (name, resp.status_code)
        counts[name] = len(queries)
    return counts


def test_admin_pages_cost_the_same_for_a_small_and_a_larger_course(client, teacher):
    small, large = CourseFactory(owner=teacher), CourseFactory(owner=teacher)
    client.force_login(teacher)
    small_world = grow(small, 3)
    query_counts(client, pages(small, *small_world))  # warm the process-wide caches (content types)
    few = query_counts(client, pages(small, *small_world))
    large_world = grow(large, 12)  # four times the rows on every list and in every inline
    many = query_counts(client, pages(large, *large_world))
    assert many == few
    assert max(many.values()) <= MAX_QUERIES, many


def test_step_and_kc_pages_within_the_query_budget(client, teacher, django_assert_max_num_queries):
    course = CourseFactory(owner=teacher)
    kcs, steps = grow(course, 8)
    client.force_login(teacher)
    for url in (reverse("admin:content_step_change", args=[steps[0].pk]), reverse("admin:content_step_changelist"),
                reverse("admin:content_knowledgecomponent_change", args=[kcs[1].pk]),
                reverse("admin:content_knowledgecomponent_changelist")):
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url).status_code == 200


def test_selects_offer_only_the_authors_courses(client, teacher):
    """The inline KC selects of a step were every course's KCs; now the author's only."""
    mine = CourseFactory(owner=teacher)
    kcs, steps = grow(mine, 2)
    other = KCFactory(course=CourseFactory(), name="Somebody else's concept")
    client.force_login(teacher)
    html = client.get(reverse("admin:content_step_change", args=[steps[0].pk])).content.decode()
    assert kcs[0].name in html and other.name not in html
