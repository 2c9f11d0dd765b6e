"""The researcher's path out of the box: ``setup_demo`` gives consent, a grant and data; the demo
researcher logs in, gets a token from their front door, reads the docs and downloads the export."""

import csv
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from content.models import Course
from tutor.research import exports
from tutor.research.models import Consent, ResearchGrant

pytestmark = pytest.mark.django_db


def test_consent_grant_token_docs_export(client):
    out = io.StringIO()
    call_command("setup_demo", allow_production=True, stdout=out)
    assert "researcher  demo-researcher  password: study-fractions-1" in out.getvalue()
    course = Course.objects.get()
    assert ResearchGrant.objects.filter(researcher__username="demo-researcher", course=course).exists()
    consenting = set(Consent.objects.filter(given=True).values_list("student__username", flat=True))
    assert consenting == {"demo-student", "demo-ana", "demo-ben", "demo-cleo"}
    again = io.StringIO()
    call_command("setup_demo", allow_production=True, stdout=again)  # idempotent
    assert Consent.objects.count() == 4 and ResearchGrant.objects.count() == 1

    login = client.post(reverse("login"), {"username": "demo-researcher", "password": "study-fractions-1"})
    assert login.status_code == 302 and login["Location"] == "/"
    door = client.get(reverse("home")).content.decode()
    assert "<h1>Research</h1>" in door and course.title in door and "3 consenting students" in door
    client.post(reverse("research-token-issue"))
    door = client.get(reverse("home")).content.decode()
    token = door.split('<span id="token-key">')[1].split("<")[0]
    assert len(token) == 40
    assert 'id="swagger-ui"' in client.get(reverse("api-docs")).content.decode()

    script = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    granted = script.get(reverse("research-courses"), **auth).json()
    assert [c["slug"] for c in granted] == [course.slug]
    resp = script.get(reverse("research-export-tsv", args=[course.slug]), **auth)
    assert resp.status_code == 200 and resp["Content-Disposition"].endswith('-datashop.tsv"')
    rows = list(csv.DictReader(io.StringIO(b"".join(resp.streaming_content).decode()), delimiter="\t"))
    kinds = {r["Student Response Type"] for r in rows}
    assert {"ATTEMPT", "HINT_REQUEST", "WHY_QUESTION"} <= kinds
    why = next(r for r in rows if r["Student Response Type"] == "WHY_QUESTION")
    assert why["Input"] == "why can't I just add the bottoms?" and why["Feedback Text"]
    assert all(r["Anon Student Id"].startswith("stu_") for r in rows)
    assert len(rows) == len(list(exports.datashop_rows(course=course)))
