"""Personal details taken out of free text, for research exports whose grant is not identifiable.

A consented student may still type who they are ("I'm Ada Lovelace, ada@example.com, 221B Baker
Street") or name a classmate. ``Redactor.redact`` replaces each such span with a label
(``[NAME]``, ``[EMAIL]``, ``[PHONE]``, ``[URL]``, ``[ADDRESS]``) and says how many it replaced:

- names: the usernames, first and last names of the course's people (given by the caller), and
  whatever follows "my name is" / "call me" in capitals;
- e-mail addresses and URLs (with a scheme, ``www.``, or a common top-level domain);
- phone numbers: Google's libphonenumber (the ``phonenumbers`` package, run offline) for numbers
  valid in ``phone_regions`` or written internationally, and digit runs after words like "phone";
- street addresses: a house number and a street type ("12 Elm Road", "221B Baker Street"), what
  follows "I live at/on", UK postcodes and US state+ZIP.

The patterns favour removing too much over too little, but leave maths alone: numbers, fractions,
equations and decimals are not phone numbers unless they look like one (seven digits or more that
libphonenumber accepts). No model is loaded; nothing here imports Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

NAME, EMAIL, PHONE, URL, ADDRESS = "[NAME]", "[EMAIL]", "[PHONE]", "[URL]", "[ADDRESS]"
MIN_NAME_CHARS = 3  # shorter usernames ("al", "x") would take ordinary words and maths with them

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_TLDS = "com|org|net|edu|gov|io|dev|app|info|me|co|uk|us|de|fr|nl|es|it|ca|au|ch|eu|tv|ly|gg|xyz|site|online"
_URL = re.compile(
    rf"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']+|\b(?:[a-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_PHONE_WORDS = re.compile(
    r"\b(?:phone|mobile|cell|tel|telephone|whats ?app|number is|call me|text me|ring me)\b\D{0,20}?"
    r"(\+?\d[\d\s().-]{5,}\d)",
    re.IGNORECASE,
)
_STREET_TYPES = (
    "street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|terrace|close|"
    "crescent|square|sq|parkway|pkwy|highway|hwy|gardens|grove|row|walk|hill|strasse|straße"
)
# A street's name is written with capitals ("12 Elm Road"), which keeps word problems ("walks 3 blocks
# down the road") out.
_STREET = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'-]*\.?\s+){{1,4}}(?i:{_STREET_TYPES})\b\.?"
    r"(?:,?\s+(?i:apt|apartment|flat|unit)\.?\s*\w+)?"
)
_LIVE_AT = re.compile(r"\b(?:i live|i'm living|i am living|my address is|address:)\s+(?:at|on|in)?\s*([^.!?\n]{3,60})",
                      re.IGNORECASE)
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|[A-Z]{2}\s+\d{5}(?:-\d{4})?)\b")
_MY_NAME = re.compile(r"\b(?i:my name is|my name's|call me|i am called|i'm called)\s+"
                      r"((?:[A-Z][\w'-]+)(?:\s+[A-Z][\w'-]+){0,2})")
_DIGITS = re.compile(r"\d")


def _inside_a_number(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` continues a longer number or expression (``3.14159265358``,
    ``x^2125550188``): a decimal part or an operand, not a phone number."""
    before = text[start - 1] if start > 0 else ""
    after = text[end:end + 2]
    return (before.isdigit() or before in ".,^*/=_") or (after[:1].isdigit() or
                                                          (after[:1] in ".," and after[1:2].isdigit()))


class Redactor:
    """Redacts the spans described in the module docstring; ``names`` are the people to find."""

    def __init__(self, names: Iterable[str] = (), *, phone_regions: Iterable[str] = ("US", "GB")) -> None:
        words = sorted({n.strip() for n in names if n and len(n.strip()) >= MIN_NAME_CHARS}, key=len, reverse=True)
        self._names = (re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
                       if words else None)
        self._regions = tuple(phone_regions)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, label) of every personal detail found, overlapping ones merged."""
        found: list[tuple[int, int, str]] = []
        found += [(m.start(), m.end(), EMAIL) for m in _EMAIL.finditer(text)]
        found += [(m.start(), m.end(), URL) for m in _URL.finditer(text)]
        if len(_DIGITS.findall(text)) >= 7:
            for region in self._regions:
                found += [(m.start, m.end, PHONE) for m in phonenumbers.PhoneNumberMatcher(
                    text, region, leniency=phonenumbers.Leniency.VALID) if not _inside_a_number(text, m.start, m.end)]
            found += [(m.start(1), m.end(1), PHONE) for m in _PHONE_WORDS.finditer(text)]
        found += [(m.start(), m.end(), ADDRESS) for m in _STREET.finditer(text)]
        found += [(m.start(1), m.end(1), ADDRESS) for m in _LIVE_AT.finditer(text)]
        found += [(m.start(), m.end(), ADDRESS) for m in _POSTCODE.finditer(text)]
        found += [(m.start(1), m.end(1), NAME) for m in _MY_NAME.finditer(text)]
        if self._names is not None:
            found += [(m.start(), m.end(), NAME) for m in self._names.finditer(text)]
        merged: list[tuple[int, int, str]] = []
        for start, end, label in sorted(found, key=lambda s: (s[0], -s[1])):
            if merged and start < merged[-1][1]:
                prev = merged[-1]
                merged[-1] = (prev[0], max(prev[1], end), prev[2])
            else:
                merged.append((start, end, label))
        return merged

    def redact(self, text: str | None) -> tuple[str, int]:
        """``text`` with every span replaced by its label, and the number of spans replaced."""
        if not text:
            return text or "", 0
        spans = self.spans(text)
        out, last = [], 0
        for start, end, label in spans:
            out += [text[last:start], label]
            last = end
        out.append(text[last:])
        return "".join(out), len(spans)
