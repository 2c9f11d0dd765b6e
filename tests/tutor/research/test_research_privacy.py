"""Research privacy through the research API: personal details that consented students type do not
reach a researcher whose grant is not identifiable (issue 19, defect 11); identifiable grants get the
text as typed."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tutor import engine, roles
from tutor.research.models import Consent, ResearchGrant

PERSONAL = [
    "Ada Lovelace",  # the student's own name (first and last name on the account)
    "ada.lovelace@example.com",
    "+44 20 7946 0958",
    "(212) 555-0188",
    "221B Baker Street",
    "NW1 6XE",
    "https://ada.example/profile",
    "bob-classmate",  # a classmate's username
    "Grace Hopper",  # a name the course does not know, introduced as one
]
MESSAGES = [
    "Hi, I am Ada Lovelace, mail me at ada.lovelace@example.com or call +44 20 7946 0958",
    "my dad's phone is (212) 555-0188 and I live at 221B Baker Street, London NW1 6XE",
    "2/6 see https://ada.example/profile",
    "bob-classmate told me it is 2/6",
    "My name is Grace Hopper. Is it 3/4?",
]


@pytest.fixture
def world(db, backend):
    cache.clear()  # research routes are throttled per user and ids repeat across tests
    course = packs.import_pack(copy.deepcopy(SMALL_PACK))
    ada = UserFactory(username="ada-l", first_name="Ada", last_name="Lovelace", role=roles.STUDENT)
    bob = UserFactory(username="bob-classmate", role=roles.STUDENT)
    for student in (ada, bob):
        Consent.objects.create(student=student, version="1", given=True)
    item = course.items.get(slug="add-halves-quarters")
    engine.session_start(student=bob, item=item)  # bob is in the course
    session = engine.session_start(student=ada, item=item)
    for i, text in enumerate(MESSAGES):
        engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=text, client_id=f"p{i}"))
    clients = {}
    for name, identifiable in (("rita", False), ("ivy", True)):
        researcher = UserFactory(username=name, role=roles.RESEARCHER)
        ResearchGrant.objects.create(researcher=researcher, course=course, identifiable=identifiable)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=researcher).key}")
        clients[name] = client
    return {"course": course, "clients": clients}


def _everything(client, *, identifiable: bool) -> dict[str, str]:
    query = {"identifiable": "true"} if identifiable else {}
    out = {}
    for endpoint in ("turns", "attempts"):
        resp = client.get(f"/api/research/courses/mini/{endpoint}/", {**query, "page_size": 1000})
        assert resp.status_code == 200, resp.content
        out[endpoint] = json.dumps(resp.json()["results"], ensure_ascii=False)
    for endpoint in ("export.tsv", "export.jsonl"):
        resp = client.get(f"/api/research/courses/mini/{endpoint}", query)
        assert resp.status_code == 200
        out[endpoint] = b"".join(resp.streaming_content).decode()
    return out


def test_a_non_identifiable_grant_gets_no_personal_detail_in_any_free_text(world):
    exported = _everything(world["clients"]["rita"], identifiable=False)
    for where, text in exported.items():
        for detail in PERSONAL:
            assert detail.lower() not in text.lower(), f"{detail!r} reached the researcher in {where}"
        assert "[EMAIL]" in text or where == "attempts", where
    # Each row says how many spans it replaced; maths in the same messages is kept.
    turns = json.loads(exported["turns"])
    counts = {t["text"]: t["redacted"] for t in turns if t["role"] == "student"}
    assert counts["[NAME] told me it is 2/6"] == 1
    assert all(n > 0 for n in counts.values())
    attempts = json.loads(exported["attempts"])
    assert any(a["raw"] == "2/6 see [URL]" and a["redacted"] == 1 for a in attempts)
    tsv = exported["export.tsv"].splitlines()
    header = tsv[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in tsv[1:]]
    assert any(r["Input"] == "[NAME] told me it is 2/6" and r["CF (redacted)"] != "0" for r in rows)
    jsonl = [json.loads(line) for line in exported["export.jsonl"].splitlines()]
    assert all("redacted" in row for row in jsonl)
    assert sum(row["redacted"] for row in jsonl if row["role"] == "student") >= len(PERSONAL)


def test_an_identifiable_grant_gets_the_text_as_typed(world):
    exported = _everything(world["clients"]["ivy"], identifiable=True)
    turns = json.loads(exported["turns"])
    typed = [t["text"] for t in turns if t["role"] == "student"]
    assert typed == MESSAGES
    assert all(t["redacted"] == 0 for t in turns)
    assert "ada.lovelace@example.com" in exported["export.tsv"]
    assert "221B Baker Street" in exported["export.jsonl"]
