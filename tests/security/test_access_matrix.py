"""Every route, every role: the access-control matrix of tests/security/access_matrix.py.

One test walks the URL resolver and the websocket routes and fails, naming the route, if any route
has no row; the others request every route as every role and compare with the row, check that no
response carries data the role must not see, and that a refused request wrote nothing.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.chat_socket import ws_connect
from tests.security import access_matrix as m
from tests.security.world import FORBIDDEN_TEXT, World, pseudonym_of, world_build
from tutor.models import Attempt, Turn, TutoringSession

MATRIX_FILE = "tests/security/access_matrix.py"


@dataclass(frozen=True)
class Route:
    key: str  # the route name; unnamed routes: "<namespace>:<pattern below the namespace>" or the pattern
    name: str | None  # for reverse()
    pattern: str
    params: tuple[str, ...]
    admin: bool


def url_routes() -> Iterator[Route]:
    def walk(resolver: URLResolver, prefix: str, namespace: str, root: str) -> Iterator[Route]:
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                if p.namespace:
                    ns = ":".join(x for x in (namespace, p.namespace) if x)
                    yield from walk(p, prefix + str(p.pattern), ns, prefix + str(p.pattern))
                else:
                    yield from walk(p, prefix + str(p.pattern), namespace, root)
            elif isinstance(p, URLPattern):
                full = prefix + str(p.pattern)
                name = f"{namespace}:{p.name}" if namespace and p.name else p.name
                key = name or (f"{namespace}:{full.removeprefix(root)}" if namespace else full)
                yield Route(key, name, full, tuple(p.pattern.regex.groupindex), namespace == "admin")

    yield from walk(get_resolver(), "", "", "")


def ws_routes() -> Iterator[str]:
    from tutor.routing import websocket_urlpatterns

    def walk(patterns: Any, prefix: str) -> Iterator[str]:
        for p in patterns:
            inner = getattr(p, "url_patterns", None)
            if inner is not None and not isinstance(p, URLPattern):
                yield from walk(inner, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    yield from walk(websocket_urlpatterns, "")


def row_for(route: Route) -> m.Row | None:
    if route.key in m.ROUTES:
        return m.ROUTES[route.key]
    if route.admin:
        for pattern, rule in m.ADMIN_RULES:
            if fnmatch.fnmatchcase(route.key, pattern):
                return rule
    return None


def test_every_route_has_a_row_in_the_matrix():
    missing = [r for r in url_routes() if row_for(r) is None]
    missing_ws = [p for p in ws_routes() if p not in m.WEBSOCKETS]
    lines = [f"URL route {r.key!r} (/{r.pattern}) has no row in {MATRIX_FILE}: add "
             + (f"a rule to ADMIN_RULES matching {r.key!r}" if r.admin else f"ROUTES[{r.key!r}] = row(...)")
             + " with the expected outcome for each role." for r in missing]
    lines += [f"Websocket route {p!r} has no row in {MATRIX_FILE}: add WEBSOCKETS[{p!r}] = row('WS', ...)."
              for p in missing_ws]
    assert not lines, "\n".join(lines)


def test_matrix_has_no_stale_rows():
    """A row for a route that no longer exists is a sign the table and the URLs drifted apart."""
    keys = {r.key for r in url_routes()}
    stale = sorted(set(m.ROUTES) - keys)
    stale_rules = [p for p, _ in m.ADMIN_RULES if not any(fnmatch.fnmatchcase(k, p) for k in keys)]
    stale_ws = sorted(set(m.WEBSOCKETS) - set(ws_routes()))
    assert not (stale or stale_rules or stale_ws), (
        f"rows in {MATRIX_FILE} match no route: {stale + stale_rules + stale_ws}")


# Objects in the teacher's course, for admin pages that take an object id.
_COURSE_PATHS = ("course", "item__course", "step__item__course", "dependent__course", "session__course",
                 "kc__course", "learner__tutoring_sessions__course")


def _admin_object_id(world: World, route: Route) -> str:
    app_label, _, rest = route.key.removeprefix("admin:").partition("_")
    if route.name is None:  # unnamed "admin/<app>/<model>/<path:object_id>/" redirect
        app_label, model_name = route.pattern.split("/")[1:3]
    else:
        model_name = next((str(mdl._meta.model_name) for mdl in admin.site._registry
                           if mdl._meta.app_label == app_label and rest.startswith(f"{mdl._meta.model_name}_")), "")
    try:
        model = apps.get_model(app_label, model_name)
    except (LookupError, ValueError):
        return "999999"
    if model._meta.label == "content.Course":
        return str(world.course.pk)
    if model._meta.label == "auth.User":
        return str(world.student_a.pk)
    for path in _COURSE_PATHS:
        try:
            obj = model._default_manager.filter(**{path: world.course}).first()
        except Exception:  # not a path of this model
            continue
        if obj is not None:
            return str(obj.pk)
    obj = model._default_manager.first()
    return str(obj.pk) if obj is not None else "999999"


def _url(world: World, route: Route, rule: m.Row) -> str:
    from django.urls import reverse

    kwargs: dict[str, str] = {}
    for param in route.params:
        if param in rule.args:
            kwargs[param] = world.resolve(rule.args[param])
        elif route.admin and param in ("object_id", "id"):
            kwargs[param] = _admin_object_id(world, route)
        elif param in m.DEFAULT_ARGS:
            kwargs[param] = world.resolve(m.DEFAULT_ARGS[param])
        else:
            raise AssertionError(f"route {route.key!r} takes <{param}>: name its value in its row in {MATRIX_FILE} "
                                 f"(args={{{param!r}: 'session_a.pk'}}) or add it to DEFAULT_ARGS")
    if route.name:
        return reverse(route.name, kwargs=kwargs)
    # Unnamed routes: fill the pattern by hand.
    path = route.pattern
    for param, value in kwargs.items():
        for form in (f"<path:{param}>", f"<int:{param}>", f"<slug:{param}>", f"<{param}>", f"(?P<{param}>.*)$"):
            path = path.replace(form, value)
    return "/" + path


def _outcome(response: Any) -> m.Outcome:
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers.get("Location", "")
        return m.LOGIN if ("/accounts/login/" in location or "/admin/login/" in location) else m.REDIRECT
    return int(response.status_code)


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _counts() -> tuple[int, int, int]:
    return Turn.objects.count(), Attempt.objects.count(), TutoringSession.objects.count()


def _client(world: World, role: str) -> Client:
    client = Client()
    if role != "anon":
        client.force_login(world.users[role])
    return client


@pytest.mark.django_db
def test_every_url_route_as_every_role(scripted):
    world = world_build()
    failures: list[str] = []
    checked = 0
    for route in url_routes():
        rule = row_for(route)
        if rule is None:
            continue  # reported by test_every_route_has_a_row_in_the_matrix
        url = _url(world, route, rule)
        for role in m.ROLES:
            expected = rule.expected[role]
            before = _counts()
            client = _client(world, role)
            if rule.method == "POST":
                response = client.post(url, data=json.dumps(rule.data or {}), content_type="application/json")
            else:
                response = client.get(url)
            got = _outcome(response)
            body = _body(response)
            checked += 1
            where = f"{route.key} {rule.method} {url} as {role}"
            if got != expected:
                failures.append(f"{where}: expected {expected}, got {got}")
            leaked = [s for s in FORBIDDEN_TEXT[role] if s in body]
            if leaked:
                failures.append(f"{where}: response shows {leaked}")
            if got in (m.LOGIN, m.BAD_REQUEST, m.FORBIDDEN, m.NOT_FOUND, m.NOT_ALLOWED) and _counts() != before:
                failures.append(f"{where}: refused ({got}) but rows were written")
    assert checked > 100
    assert not failures, f"{len(failures)} of {checked} cells differ from {MATRIX_FILE}:\n" + "\n".join(failures)


@pytest.mark.django_db
def test_granted_research_data_is_pseudonymised(scripted):
    world = world_build()
    client = _client(world, "researcher")
    body = _body(client.get(f"/api/research/courses/{world.course.slug}/export.tsv"))
    attempts = client.get(f"/api/research/courses/{world.course.slug}/attempts/").json()["results"]
    # The export is not empty (so the username check in the matrix means something) and uses pseudonyms.
    assert pseudonym_of(world.student_a) in body and pseudonym_of(world.student_b) in body
    ids = {a["anon_student_id"] for a in attempts}
    assert ids == {pseudonym_of(world.student_a), pseudonym_of(world.student_b)}
    assert not ids & {str(world.student_a.pk), str(world.student_b.pk)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_every_websocket_route_as_every_role(scripted):
    world = await database_sync_to_async(world_build)()
    failures: list[str] = []
    for pattern in ws_routes():
        rule = m.WEBSOCKETS.get(pattern)
        if rule is None:
            continue
        path = pattern
        for param in ("session_id",):
            path = path.replace(f"<int:{param}>", world.resolve(rule.args.get(param, m.DEFAULT_ARGS[param])))
        for role in m.ROLES:
            user = None if role == "anon" else world.users[role]
            comm, connected = await ws_connect(user, path)
            got = m.ACCEPT if connected else m.REJECT
            if got != rule.expected[role]:
                failures.append(f"{pattern} as {role}: expected {rule.expected[role]}, got {got}")
            if connected:
                await comm.disconnect()
    # A foreign origin is refused whoever connects (cross-site websocket hijacking).
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    comm = WebsocketCommunicator(application, f"/ws/sessions/{world.session_a.pk}/",
                                 headers=[(b"origin", b"https://evil.example")])
    connected, _ = await comm.connect(timeout=5)
    assert not connected
    assert not failures, "\n".join(failures)
