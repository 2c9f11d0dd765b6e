"""``/`` is each role's front door: students their courses, teachers their classes and authoring,
researchers their granted courses, exports, API token and docs; several roles link each other."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory
from tutor import roles
from tutor.research.models import Consent, ResearchGrant
from tutor.teaching import services as teaching

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def teacher(course):
    user = UserFactory(username="tess", role=roles.TEACHER)
    course.owner = user
    course.save(update_fields=["owner"])
    return user


@pytest.fixture
def researcher(course):
    user = UserFactory(username="rhea", role=roles.RESEARCHER)
    ResearchGrant.objects.create(researcher=user, course=course)
    return user


def door(client, user, query=""):
    client.force_login(user)
    resp = client.get(reverse("home") + query)
    assert resp.status_code == 200
    return resp.content.decode()


def test_a_student_keeps_their_courses_and_sees_no_other_doors(client, course, student):
    html = door(client, student)
    assert "<h1>Courses</h1>" in html and course.title in html and "Continue learning" in html
    assert "You also have" not in html and "?door=research" not in html


def test_a_teacher_lands_on_their_classes_and_authoring(client, course, teacher, student):
    classroom = teaching.classroom_create(teacher=teacher, course=course, name="Year 8 maths")
    classroom.enrolments.create(student=student)
    html = door(client, teacher)
    assert "<h1>Teaching</h1>" in html
    assert "Year 8 maths" in html and "1 student " in html and classroom.join_code in html
    for url in (reverse("teacher-class", args=[classroom.pk]), reverse("teacher-home"), reverse("admin:index"),
                reverse("admin:content_course_change", args=[course.pk]),
                reverse("teacher-course-settings", args=[course.slug]),
                reverse("teacher-course-items", args=[course.slug])):
        assert f'href="{url}' in html, url
    # and can still learn
    assert 'href="/?door=student"' in html
    assert "<h1>Courses</h1>" in door(client, teacher, "?door=student")


def test_a_researcher_lands_on_grants_exports_token_and_docs(client, course, researcher, student, session):
    Consent.objects.create(student=student, version="1", given=True)
    html = door(client, researcher)
    assert "<h1>Research</h1>" in html and course.title in html
    assert "1 consenting student, 1 session" in html
    for url in (reverse("research-export-tsv", args=[course.slug]),
                reverse("research-export-jsonl", args=[course.slug]), reverse("api-docs")):
        assert f'href="{url}"' in html, url
    assert "Create my API token" in html and not Token.objects.filter(user=researcher).exists()

    resp = client.post(reverse("research-token-issue"))
    assert resp.status_code == 302 and resp["Location"] == "/?door=research#api-token"
    key = Token.objects.get(user=researcher).key
    html = door(client, researcher)
    assert f'<span id="token-key">{key}</span>' in html and "Replace my token" in html
    # asking again keeps the token; replacing revokes it
    client.post(reverse("research-token-issue"))
    assert Token.objects.get(user=researcher).key == key
    client.post(reverse("research-token-issue"), {"action": "replace"})
    new = Token.objects.get(user=researcher).key
    assert new != key
    script = Client()  # no browser session: the token alone
    assert script.get(reverse("research-courses"), HTTP_AUTHORIZATION=f"Token {key}").status_code in (401, 403)
    api = script.get(reverse("research-courses"), HTTP_AUTHORIZATION=f"Token {new}")
    assert [c["slug"] for c in api.json()] == [course.slug]


def test_without_consent_the_door_says_the_course_has_no_data(client, course, researcher, session):
    assert "0 consenting students, 0 sessions" in door(client, researcher)


def test_several_roles_land_on_the_first_and_link_the_others(client, course, teacher):
    teacher.groups.add(*roles_groups(roles.RESEARCHER))
    ResearchGrant.objects.create(researcher=teacher, course=course)
    html = door(client, teacher)
    assert "<h1>Teaching</h1>" in html
    assert 'href="/?door=research"' in html and 'href="/?door=student"' in html
    research = door(client, teacher, "?door=research")
    assert "<h1>Research</h1>" in research and 'href="/?door=teaching"' in research


def test_a_door_a_user_does_not_hold_is_never_opened(client, course, student, researcher):
    assert "<h1>Courses</h1>" in door(client, student, "?door=research")
    assert "<h1>Courses</h1>" in door(client, student, "?door=teaching")
    assert "<h1>Research</h1>" in door(client, researcher, "?door=teaching")
    assert "<h1>Research</h1>" in door(client, researcher, "?door=nonsense")


def test_only_researchers_get_tokens_from_the_page(client, student):
    client.force_login(student)
    assert client.post(reverse("research-token-issue")).status_code == 403
    assert client.get(reverse("research-token-issue")).status_code == 405
    assert not Token.objects.filter(user=student).exists()


def test_anonymous_visitors_get_the_welcome_page(client):
    html = client.get(reverse("home")).content.decode()
    assert "A tutor that teaches rather than tells" in html


def roles_groups(*names):
    from django.contrib.auth.models import Group

    return Group.objects.filter(name__in=names)
