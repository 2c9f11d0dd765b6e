"""Classes, tutor settings and goals in the admin: each teacher sees only their own."""

import copy

import pytest
from django.urls import reverse

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tutor import roles
from tutor.courses.models import CourseGoal, CourseSettings
from tutor.teaching import services as teaching
from tutor.teaching.models import Classroom


@pytest.fixture
def setup(course, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    t1 = UserFactory(username="t-one", role=roles.TEACHER)
    t2 = UserFactory(username="t-two", role=roles.TEACHER)
    course.owner = t1
    course.save()
    other = packs.import_pack(copy.deepcopy(SMALL_PACK), slug="other", owner=t2)
    mine = teaching.classroom_create(teacher=t1, course=course, name="7B")
    theirs = teaching.classroom_create(teacher=t2, course=other, name="7C")
    CourseSettings.objects.create(course=course, max_attempts_before_bottom_out=4)
    return {"t1": t1, "t2": t2, "course": course, "other": other, "mine": mine, "theirs": theirs}


def test_each_teacher_lists_and_opens_only_their_classes(client, setup):
    client.force_login(setup["t1"])
    html = client.get(reverse("admin:teaching_classroom_changelist")).content.decode()
    assert setup["mine"].join_code in html and setup["theirs"].join_code not in html
    assert client.get(reverse("admin:teaching_classroom_change", args=[setup["mine"].pk])).status_code == 200
    r = client.get(reverse("admin:teaching_classroom_change", args=[setup["theirs"].pk]))
    assert r.status_code == 302  # "no such object"
    r = client.get(reverse("admin:courses_coursesettings_changelist"))
    assert "4" in r.content.decode()
    client.force_login(setup["t2"])
    settings_row = CourseSettings.objects.get(course=setup["course"])
    assert client.get(reverse("admin:courses_coursesettings_change", args=[settings_row.pk])).status_code == 302


def test_a_class_made_in_the_admin_is_the_teachers_and_of_their_course(client, setup):
    client.force_login(setup["t1"])
    url = reverse("admin:teaching_classroom_add")
    data = {"course": setup["other"].pk, "name": "Sneaky", "join_code": "ABCDEFGH", "joining_open": "on",
            "teachers": [setup["t2"].pk], "enrolments-TOTAL_FORMS": 0, "enrolments-INITIAL_FORMS": 0}
    r = client.post(url, data)
    assert r.status_code == 200 and "Select a valid choice" in r.content.decode()
    data["course"] = setup["course"].pk
    assert client.post(url, data).status_code == 302
    made = Classroom.objects.get(name="Sneaky")
    assert set(made.teachers.values_list("username", flat=True)) == {"t-one", "t-two"}


def test_a_goal_takes_only_its_courses_skills(client, setup):
    client.force_login(setup["t1"])
    foreign = setup["other"].kcs.first()
    own = setup["course"].kcs.first()
    url = reverse("admin:courses_coursegoal_add")
    r = client.post(url, {"course": setup["course"].pk, "name": "G", "kcs": [foreign.pk], "position": 0})
    assert r.status_code == 200 and not CourseGoal.objects.exists()
    r = client.post(url, {"course": setup["course"].pk, "name": "G", "kcs": [own.pk], "position": 0})
    assert r.status_code == 302
    assert list(CourseGoal.objects.get(name="G").kcs.all()) == [own]
