"""The demo course is what a new deployment shows first: it must import cleanly and teach well."""

import json
from pathlib import Path

import pytest

from content import packs
from tutor import guard

DEMO = Path(__file__).resolve().parents[2] / "content" / "fixtures" / "demo_course.json"


def demo():
    return json.loads(DEMO.read_text())


def test_demo_pack_is_valid():
    assert packs.validate_pack(demo()) == []


def test_no_hint_before_the_last_states_the_answer():
    """A hint that states the step's answer is replaced at run time by a generic scaffold, so the
    authored ladder should lead to the answer without saying it (only the bottom-out may)."""
    early = []
    for item in demo()["items"]:
        for s, step in enumerate(item["steps"]):
            answer = step["answer"]["value"]
            forms = [answer, *map(str, step["answer"].get("variants") or [])]
            for h, hint in enumerate(step.get("hints", [])[:-1]):
                verdict = guard.guard_check(
                    hint, answer=answer, answer_forms=forms, released=False, authored_text="",
                    allowed_numbers=[item["statement"], step["prompt"]], move="hint", max_chars=100_000,
                )
                if verdict.reveals_answer:
                    early.append(f"{item['slug']} step {s} hint {h}: {hint}")
    assert early == []


@pytest.mark.django_db
def test_demo_pack_imports():
    course = packs.import_pack(demo())
    assert course.kcs.count() == 13 and course.items.count() == 44
