"""The redactor of non-identifiable research exports (issue 19, defect 11): what it takes out, and
the maths it leaves alone."""

from __future__ import annotations

import pytest

from tutor.research.redaction import Redactor


@pytest.mark.parametrize(("text", "expected"), [
    ("mail ada.lovelace@example.com now", "mail [EMAIL] now"),
    ("call +44 20 7946 0958", "call [PHONE]"),
    ("or (212) 555-0188 tonight", "or [PHONE] tonight"),
    ("my number is 555 0199", "my number is [PHONE]"),
    ("I live at 221B Baker Street, London", "I live at [ADDRESS]"),
    ("send it to 12 Elm Road please", "send it to [ADDRESS] please"),
    ("NW1 6XE", "[ADDRESS]"),
    ("Springfield, IL 62704", "Springfield, [ADDRESS]"),
    ("see https://ada.example/p?q=1 or www.ada.example", "see [URL] or [URL]"),
    ("my site is ada.dev", "my site is [URL]"),
    ("My name is Grace Hopper.", "My name is [NAME]."),
    ("ask Bob-Classmate or LOVELACE", "ask [NAME] or [NAME]"),
])
def test_personal_details_are_replaced(text, expected):
    redactor = Redactor(["bob-classmate", "Lovelace", "al"])
    assert redactor.redact(text)[0] == expected


@pytest.mark.parametrize("text", [
    "2*3*4 = 24", "x = 5", "3/4", "1 000 pens", "12345", "0.75", "3.14159265358979", "-7 + 12 = 5",
    "he walks 3 blocks down the road", "x^2 + 2x + 1 = 0", "$\\frac{1}{2}$", "1/2 + 1/4 = 3/4",
    "I think it's 1234567", "35 x 10^-1", "the total is 1,250,000", "al and I added them",
])
def test_maths_and_ordinary_words_are_left_alone(text):
    assert Redactor(["bob-classmate", "al"]).redact(text) == (text, 0)
