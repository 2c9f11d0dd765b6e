"""The research API: tokens, grants, consent, identities, filters, pagination and streamed exports."""

import asyncio
import json
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from content import packs
from tests.conftest import SMALL_PACK
from tests.factories import UserFactory
from tests.tutor.research.test_exports import logs  # noqa: F401  (fixture)
from tracing.models import LearnerKCState, Observation
from tutor import roles
from tutor.research import api as research_api
from tutor.research import exports
from tutor.research.models import ResearchGrant

pytestmark = pytest.mark.django_db

LISTS = ["sessions", "turns", "attempts", "observations", "kc-states"]
EXPORTS = ["export.tsv", "export.jsonl"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # the research routes are rate-limited per user, and user ids repeat across tests


def token_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def rita(db):
    return UserFactory(username="rita", role=roles.RESEARCHER, password="study-hard-123")


@pytest.fixture
def granted(logs, rita):  # noqa: F811
    grant = ResearchGrant.objects.create(researcher=rita, course=logs["course"])
    return {**logs, "grant": grant, "client": token_client(rita)}


def body(resp):
    if resp.streaming:
        return b"".join(resp.streaming_content).decode()
    return resp.content.decode()


def all_rows(client, endpoint, **params):
    rows, url = [], f"/api/research/courses/mini/{endpoint}/"
    resp = client.get(url, params)
    while True:
        assert resp.status_code == 200, resp.content
        page = resp.json()
        rows += page["results"]
        if not page["next"]:
            return rows
        resp = client.get(page["next"])


# ---------------------------------------------------------------------------------------------
# Tokens


def test_a_researcher_gets_a_token_with_their_password(rita):
    client = APIClient()
    resp = client.post("/api/research/token/", {"username": "rita", "password": "study-hard-123"}, format="json")
    assert resp.status_code == 200
    token = resp.json()["token"]
    assert token == Token.objects.get(user=rita).key
    again = client.post("/api/research/token/", {"username": "rita", "password": "study-hard-123"}, format="json")
    assert again.json()["token"] == token
    listing = APIClient()
    listing.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert listing.get("/api/research/courses/").json() == []


def test_token_requests_fail_clearly(rita, student):
    client = APIClient()
    wrong = client.post("/api/research/token/", {"username": "rita", "password": "nope"}, format="json")
    assert wrong.status_code == 400 and "Wrong username or password" in wrong.content.decode()
    empty = client.post("/api/research/token/", {}, format="json")
    assert empty.status_code == 400 and set(empty.json()) == {"username", "password"}
    student.set_password("learn-123-x")
    student.save()
    not_researcher = client.post("/api/research/token/", {"username": "ada", "password": "learn-123-x"},
                                 format="json")
    assert not_researcher.status_code == 403
    assert not Token.objects.exists()


def test_research_token_command(rita, student, capsys):
    call_command("research_token", "rita")
    first = capsys.readouterr().out.strip()
    assert first == Token.objects.get(user=rita).key
    call_command("research_token", "rita")
    assert capsys.readouterr().out.strip() == first
    call_command("research_token", "rita", rotate=True)
    assert capsys.readouterr().out.strip() not in ("", first)
    with pytest.raises(CommandError, match="not a researcher"):
        call_command("research_token", "ada")
    with pytest.raises(CommandError, match="No user"):
        call_command("research_token", "nobody")


# ---------------------------------------------------------------------------------------------
# Grants and consent


def test_a_token_cannot_read_a_course_it_is_not_granted(logs, rita):  # noqa: F811
    other = packs.import_pack(SMALL_PACK, slug="other-course")
    ResearchGrant.objects.create(researcher=rita, course=other)
    client = token_client(rita)
    assert [c["slug"] for c in client.get("/api/research/courses/").json()] == ["other-course"]
    for endpoint in [f"{e}/" for e in LISTS] + EXPORTS:
        resp = client.get(f"/api/research/courses/mini/{endpoint}")
        assert resp.status_code == 404, endpoint
        assert "ada" not in body(resp) and exports.pseudonym(logs["student"].pk) not in body(resp)
        assert client.get(f"/api/research/courses/other-course/{endpoint}").status_code == 200, endpoint
        assert client.get(f"/api/research/courses/no-such-course/{endpoint}").status_code == 404
    # not a researcher, or not signed in
    student = token_client(logs["student"])
    assert student.get("/api/research/courses/mini/turns/").status_code == 403
    assert student.get("/api/research/courses/").status_code == 403
    assert APIClient().get("/api/research/courses/mini/turns/").status_code in (401, 403)
    assert APIClient().get("/api/research/courses/mini/export.tsv").status_code in (401, 403)


def test_non_consenting_students_appear_nowhere_in_the_api(granted):
    ada = exports.pseudonym(granted["student"].pk)
    others = [exports.pseudonym(u.pk) for u in granted["others"]]
    # the others did use the tutor and the learner model did record them
    assert Observation.objects.filter(learner__in=granted["others"]).exists()
    assert LearnerKCState.objects.filter(learner__in=granted["others"]).exists()
    client = granted["client"]
    for endpoint in LISTS:
        rows = all_rows(client, endpoint)
        assert rows, endpoint
        assert {r["anon_student_id"] for r in rows} == {ada}, endpoint
        assert all("username" not in r for r in rows)
    for endpoint in EXPORTS:
        text = body(client.get(f"/api/research/courses/mini/{endpoint}"))
        assert ada in text and not any(o in text for o in others), endpoint
        assert not re.search(r"\b(ada|bob|cy)\b", re.sub(r"stu_[0-9a-f]{16}", "", text))


def test_lists_match_the_exports(granted):
    client = granted["client"]
    turns = all_rows(client, "turns")
    lines = body(client.get("/api/research/courses/mini/export.jsonl")).splitlines()
    assert [t["seq"] for t in turns] == [json.loads(line)["seq"] for line in lines]
    attempts = all_rows(client, "attempts")
    assert [a["outcome"] for a in attempts] == ["incorrect", "correct"]
    assert [a["id"] for a in attempts] == [t["attempt_id"] for t in turns if t["attempt_id"]]
    tsv = body(client.get("/api/research/courses/mini/export.tsv"))
    assert tsv == "".join(exports.tsv_lines(exports.datashop_rows(course=granted["course"])))
    sessions = all_rows(client, "sessions")
    assert len(sessions) == 1 and sessions[0]["n_turns"] == len(turns)
    observations = all_rows(client, "observations")
    assert len(observations) == 2 and set(observations[0]["kcs"]) == {"adding", "equivalent"}
    states = all_rows(client, "kc-states")
    assert {s["kc"] for s in states} == {"adding", "equivalent"} and all(s["sd"] > 0 for s in states)


def test_usernames_only_on_an_identifiable_grant_and_only_when_asked(granted):
    client = granted["client"]
    for endpoint in [f"{e}/" for e in LISTS] + EXPORTS:
        resp = client.get(f"/api/research/courses/mini/{endpoint}", {"identifiable": "true"})
        assert resp.status_code == 403, endpoint
        assert "identities" in resp.json()["detail"]
    granted["grant"].identifiable = True
    granted["grant"].save()
    for endpoint in LISTS:
        assert {r["username"] for r in all_rows(client, endpoint, identifiable="true")} == {"ada"}, endpoint
        assert all("username" not in r for r in all_rows(client, endpoint))
    tsv = body(client.get("/api/research/courses/mini/export.tsv", {"identifiable": "true"})).splitlines()
    assert tsv[0].endswith("\tCF (username)") and all(line.endswith("\tada") for line in tsv[1:])
    assert "CF (username)" not in body(client.get("/api/research/courses/mini/export.tsv"))
    lines = body(client.get("/api/research/courses/mini/export.jsonl", {"identifiable": "1"})).splitlines()
    assert {json.loads(line)["username"] for line in lines} == {"ada"}


# ---------------------------------------------------------------------------------------------
# Filters, pagination, bad input


def test_since_and_until_filter_every_endpoint(granted):
    client = granted["client"]
    today = timezone.now().date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    for endpoint in LISTS:
        assert all_rows(client, endpoint, since=today.isoformat(), until=tomorrow), endpoint
        assert all_rows(client, endpoint, since=tomorrow) == [], endpoint
        assert all_rows(client, endpoint, until=today.isoformat()) == [], endpoint
    assert body(client.get("/api/research/courses/mini/export.tsv", {"since": tomorrow})).count("\n") == 1
    assert body(client.get("/api/research/courses/mini/export.jsonl", {"until": today.isoformat()})) == ""
    # a time with an offset is understood
    now = timezone.now()
    later = (now + timedelta(hours=1)).isoformat()
    assert all_rows(client, "turns", since=later) == []
    assert all_rows(client, "turns", until=later)


@pytest.mark.parametrize("params, field", [
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-02-30"}, "until"),
    ({"since": "0001-01-01T00:00+01:00"}, "since"),
    ({"until": "9999-12-31T23:59-12:00"}, "until"),
    ({"since": "2026-01-01T25:00"}, "since"),
    ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
    ({"identifiable": "perhaps"}, "identifiable"),
    ({"cursor": "not-a-cursor"}, "cursor"),
])
def test_bad_query_parameters_get_a_400_naming_them(granted, params, field):
    for endpoint in ["turns/", "observations/"] + (EXPORTS if field != "cursor" else []):
        resp = granted["client"].get(f"/api/research/courses/mini/{endpoint}", params)
        assert resp.status_code == 400, (endpoint, resp.content)
        assert field in resp.json(), resp.json()


def test_cursor_pages_cover_every_row_once(granted):
    client = granted["client"]
    every = [t["id"] for t in all_rows(client, "turns", page_size=1000)]
    assert len(every) > 5
    paged = [t["id"] for t in all_rows(client, "turns", page_size=2)]
    assert paged == every == sorted(every)
    first = client.get("/api/research/courses/mini/turns/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["previous"] is None and "cursor=" in first["next"]


def test_streamed_exports_are_lazy_under_asgi():
    pulled = []

    def lines():
        for i in range(10_000):
            pulled.append(i)
            yield f"{i}\n"

    async def first_chunk():
        stream = research_api._async_chunks(research_api._chunks(lines(), size=100))
        chunk = await stream.__anext__()
        await stream.aclose()
        return chunk

    chunk = asyncio.run(first_chunk())
    assert chunk.startswith(b"0\n1\n") and chunk.count(b"\n") == 100
    assert len(pulled) <= 101  # the rest was never produced


def test_openapi_schema_documents_the_research_api(client):
    resp = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert resp.status_code == 200
    schema = json.loads(resp.content)
    paths = schema["paths"]
    for endpoint in [f"{e}/" for e in LISTS] + EXPORTS:
        op = paths[f"/api/research/courses/{{slug}}/{endpoint}"]["get"]
        names = {p["name"] for p in op["parameters"]}
        assert {"slug", "since", "until", "identifiable"} <= names, endpoint
        if endpoint.endswith("/"):
            assert {"cursor", "page_size"} <= names
            # Each list says what it lists, and pages of its own serializer.
            assert op["description"].endswith("."), endpoint
            page = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
            assert set(schema["components"]["schemas"][page]["properties"]) == {"next", "previous", "results"}
    descriptions = [paths[f"/api/research/courses/{{slug}}/{e}/"]["get"]["description"] for e in LISTS]
    assert len(set(descriptions)) == len(LISTS)
    assert "/api/research/token/" in paths and "/api/research/courses/" in paths
    turn = schema["components"]["schemas"]["ResearchTurn"]["properties"]
    assert {"anon_student_id", "condition_name", "condition_type", "username"} <= set(turn)
