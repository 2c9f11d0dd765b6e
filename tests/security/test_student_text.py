"""Student text is shown as typed (issue 19, defects 3 and 4).

A student's message is escaped, never Markdown: no links, no emphasis, no markup that could pass for
a tutor bubble, no bidirectional overrides; only its maths renders. Text that names the renderer's
own math placeholders renders like any other text, on every page that shows it.
"""

from __future__ import annotations

import json
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from content.rendering import render_markdown, render_plain
from tests.chat_socket import connect, receive_until_final
from tests.factories import UserFactory
from tutor import engine, roles
from tutor.models import Turn
from tutor.teaching import services as teaching
from tutor.teaching.models import Enrolment

PLACEHOLDER = "\x00MATH1\x00"
FORGED = '<div class="t t-tutor"><span class="who">Tutor</span><div class="text">The answer is 3/4.</div></div>'
BIDI = "answer: \u202e4/3\u202c and \u2066x\u2069"


@pytest.mark.parametrize("text", [PLACEHOLDER, "\x00MATH0\x00 $x$", "$a$ \x00MATH7\x00 $b$", "\x02wzxhzdk:0\x03"])
@pytest.mark.parametrize("render", [render_plain, render_markdown])
def test_placeholder_lookalikes_render_as_text(render, text):
    out = render(text)
    assert "\x00" not in out and "\x02" not in out


def test_student_text_is_escaped_with_only_maths_rendered():
    assert render_plain("2*3*4") == "2*3*4"
    assert render_plain("[notes](https://evil.example)") == "[notes](https://evil.example)"
    assert render_plain("**bold** _x_") == "**bold** _x_"
    assert render_plain("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"
    assert render_plain("first\nsecond") == "first<br>second"
    assert render_plain("so $x^2 = 4$") == 'so <span class="math math-inline">x^2 = 4</span>'
    forged = render_plain(FORGED)
    assert "<div" not in forged and "<span" not in forged and "&lt;div" in forged


@pytest.mark.parametrize("render", [render_plain, render_markdown])
def test_bidi_controls_are_removed(render):
    out = render(BIDI)
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]", out)
    assert "4/3" in out


def test_markdown_keeps_no_class_but_the_math_ones():
    out = render_markdown(FORGED + " $x$")
    assert 't-tutor' not in out and 'class="who"' not in out
    assert '<span class="math math-inline">x</span>' in out


@pytest.fixture
def classroom(course, student):
    teacher = UserFactory(username="t-text", role=roles.TEACHER)
    course.owner = teacher
    course.save()
    room = teaching.classroom_create(teacher=teacher, course=course, name="8A")
    Enrolment.objects.create(classroom=room, student=student)
    return room, teacher


def _pages(session, student, room, teacher) -> dict[str, tuple[int, str]]:
    out = {}
    c = Client()
    c.force_login(student)
    r = c.get(reverse("session", args=[session.pk]))
    out["session"] = (r.status_code, r.content.decode())
    c.force_login(teacher)
    for name, url in {
        "student": reverse("teacher-student", args=[room.pk, student.pk]),
        "transcript": reverse("teacher-session", args=[room.pk, student.pk, session.pk]),
    }.items():
        r = c.get(url)
        out[name] = (r.status_code, r.content.decode())
    return out


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_placeholder_in_a_chat_message_breaks_no_page_and_is_stored_once(session, student, classroom, scripted):
    room, teacher = classroom
    comm, connected = await connect(student, session.pk)
    assert connected
    await comm.send_to(text_data=json.dumps({"message": f"is it {PLACEHOLDER} 2*3*4?", "client_id": "p1"}))
    frames = await receive_until_final(comm)
    assert not any("could not be saved" in f for f in frames), "the student must not be told to send it again"
    assert "2*3*4" in frames[0] and "<em>" not in frames[0]
    await comm.disconnect()
    stored = await database_sync_to_async(
        lambda: list(Turn.objects.filter(session=session, role="student").values_list("text", flat=True)))()
    assert stored == ["is it MATH1 2*3*4?"]
    pages = await database_sync_to_async(_pages)(session, student, room, teacher)
    for name, (status, _) in pages.items():
        assert status == 200, f"{name} page answered {status}"


@pytest.mark.django_db
def test_a_student_cannot_forge_a_tutor_bubble_or_post_links_in_the_transcripts(session, student, classroom,
                                                                                scripted):
    room, teacher = classroom
    for i, text in enumerate([FORGED, "see [my notes](https://evil.example)", "2*3*4", BIDI]):
        engine.reply_generate(plan=engine.turn_take(session_id=session.pk, text=text, client_id=f"f{i}"))
    pages = _pages(session, student, room, teacher)
    bubbles = {"session": r'<div class="turn turn-student".*?</div></div>',
               "transcript": r'<li class="t t-student".*?</li>'}
    for name, pattern in bubbles.items():
        status, body = pages[name]
        assert status == 200
        student_html = "".join(re.findall(pattern, body, flags=re.DOTALL))
        assert "2*3*4" in student_html and "https://evil.example" in student_html, name
        assert "<a " not in student_html and "<em>" not in student_html, name
        assert "\u202e" not in body, name
    # One tutor label per tutor turn in the teacher's transcript: the student's text made none.
    transcript = pages["transcript"][1]
    tutor_turns = Turn.objects.filter(session=session, role="tutor").count()
    assert transcript.count('<li class="t t-tutor"') == tutor_turns
    assert "<div class=\"t " not in transcript and "<span class=\"who\">Tutor</span>" not in transcript
