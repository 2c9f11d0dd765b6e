"""Content-Security-Policy: every page carries it, and no template relies on what it forbids
(inline scripts, inline event handlers, javascript: URLs, inline styles)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from tutor import consumers, engine

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
REQUIRED = ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'self'",
            "frame-ancestors 'none'", "form-action 'self'", "style-src 'self'")


def _directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.strip() for part in (p.strip() for p in header.split(";")) if part}


def _assert_strict(header: str) -> None:
    directives = _directives(header)
    for expected in REQUIRED:
        assert directives.get(expected.split(" ", 1)[0]) == expected, (expected, header)
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header, header


def test_pages_carry_a_strict_policy(client, course, student, session):
    for url in ("/accounts/login/", "/accounts/signup/", "/admin/login/"):
        _assert_strict(client.get(url)["Content-Security-Policy"])
    client.force_login(student)
    for url in ("/", f"/sessions/{session.pk}/", f"/courses/{course.slug}/progress/"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        header = resp["Content-Security-Policy"]
        _assert_strict(header)
        # The chat's websocket goes back to the host the page came from.
        assert _directives(header)["connect-src"] == "connect-src 'self' ws://testserver", header
    assert "connect-src 'self' wss://testserver" in Client().get("/accounts/login/", secure=True)[
        "Content-Security-Policy"]


def test_the_chat_socket_and_its_partials_need_nothing_inline(course, student, session, scripted):
    plan = engine.turn_take(session_id=session.pk, text="can I have a hint?")
    events = [plan.opening, *engine.pending_replies_finish(session_id=session.pk)]
    fragments = [consumers.fragment(event) for event in events if event is not None]
    assert len(fragments) == 2
    for html in fragments:
        assert not _inline_problems(html), html


def test_api_docs_are_served_from_this_site_and_serve_their_script(client, student):
    client.force_login(student)
    resp = client.get("/api/docs/")
    assert resp.status_code == 200
    header = resp["Content-Security-Policy"]
    # Swagger UI comes from drf-spectacular-sidecar's static files: no CDN, nothing inline.
    assert "script-src 'self';" in header and "style-src 'self';" in header and "'unsafe-" not in header
    assert "http" not in header.replace("ws://testserver", "")
    assert "object-src 'none'" in header and "frame-ancestors 'none'" in header
    html = resp.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "the start-up script must be a file"
    assert not re.search(r"<style\b|\sstyle=", html), "no inline style either"
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/"), f"{src} is not served by this site"
        if src.startswith(settings.STATIC_URL):
            assert finders.find(src.removeprefix(settings.STATIC_URL)), f"{src} is not a static file"
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
SCRIPT_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)
INLINE_STYLE = re.compile(r"<style\b|<[a-z][^>]*\sstyle\s*=", re.I)


def _inline_problems(html: str) -> list[str]:
    problems = []
    for name, pattern in (("inline <script>", INLINE_SCRIPT), ("inline event handler", HANDLER),
                          ("javascript: URL", SCRIPT_URL), ("inline style", INLINE_STYLE)):
        problems += [f"{name}: {m.group(0)[:80]!r}" for m in pattern.finditer(html)]
    return problems


def _templates() -> list[Path]:
    folders = [ROOT / "templates", *(ROOT / app / "templates" for app in ("content", "tracing", "tutor"))]
    return sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*.html"))


def test_no_template_has_inline_scripts_handlers_or_styles():
    templates = _templates()
    assert len(templates) > 10
    found = {str(p.relative_to(ROOT)): _inline_problems(p.read_text(encoding="utf-8")) for p in templates}
    assert not {path: problems for path, problems in found.items() if problems}


def test_the_checks_catch_what_they_should():
    assert _inline_problems("<script>alert(1)</script>")
    assert _inline_problems('<button onclick="go()">')
    assert _inline_problems('<a href="javascript:go()">')
    assert _inline_problems('<div style="width:3px">') and _inline_problems("<style>p{}</style>")
    assert not _inline_problems('<script defer src="/static/app.js"></script><p>one=1 style</p>')
