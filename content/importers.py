"""Turn public sources into course packs: the Junyi Academy exercise graph and MathDial problems.

Each reader returns ``(pack, report)``; the pack then goes through the same validation and
all-or-nothing import as an authored one (``content.packs.import_pack``).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils.text import slugify

from content.graph import add_edges_acyclic
from content.packs import FORMAT, VERSION

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass
class ImportReport:
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _slug(text: str, taken: set[str]) -> str:
    base = slugify(text)[:180] or "x"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def junyi_pack(path: Path, *, slug: str = "junyi", title: str = "Junyi Academy mathematics") -> tuple[
    dict[str, Any], ImportReport
]:
    """Each exercise becomes a KC with one practice item; the expert prerequisite links become
    edges. A link naming an unknown exercise, or closing a cycle, is skipped and reported.

    Junyi publishes the graph but not the exercises' content, so each item carries a single
    self-assessed step (did you solve this exercise?) and points at the exercise by name: enough
    for the learner model and the planner, not for tutoring dialogue."""
    report = ImportReport()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "name" not in rows[0] or "prerequisites" not in rows[0]:
        raise ValueError(f"{path}: not a Junyi exercise table (needs columns name and prerequisites)")
    taken: set[str] = set()
    slug_of: dict[str, str] = {}
    kcs, items = [], []
    for row in rows:
        name = row["name"].strip()
        if not name or name in slug_of:
            report.skipped.append(f"row for {name!r}: empty name, or the same exercise repeated (first row kept)")
            continue
        kc_slug = _slug(name.replace("_", "-"), taken)
        slug_of[name] = kc_slug
        label = name.replace("_", " ")
        topic = row.get("topic", "")
        area = row.get("area", "")
        kcs.append({
            "slug": kc_slug,
            "name": label[:200],
            "description": f"Junyi exercise `{name}` (area: {area or 'unknown'}, topic: {topic or 'unknown'}).",
            "source_id": name,
        })
        seconds = row.get("seconds_per_fast_problem", "") or ""
        items.append({
            "slug": kc_slug,
            "title": label[:200],
            "statement": f"Work through the Junyi exercise **{label}** ({topic or 'practice'}).",
            "kcs": [kc_slug],
            "difficulty": 3,
            "expected_seconds": max(1, int(float(seconds) * 4)) if _is_number(seconds) else 120,
            "source_id": name,
            "steps": [{
                "prompt": "Did you solve this exercise correctly?",
                "answer": {"kind": "choice", "value": "yes", "choices": ["yes", "no"]},
            }],
        })
    links = []
    for row in rows:
        dependent = row["name"].strip()
        for pre in (row.get("prerequisites") or "").split(","):
            if pre.strip():
                links.append((pre.strip(), dependent))
    kept, skipped = add_edges_acyclic(slug_of.keys(), links)
    report.skipped += [f"link {src} → {dst}: {why}" for (src, dst), why in skipped]
    report.notes.append(f"{len(kcs)} exercises, {len(kept)} prerequisite links kept, {len(skipped)} skipped")
    pack = {
        "format": FORMAT,
        "version": VERSION,
        "course": {"slug": slug, "title": title, "source": "junyi",
                   "description": "Exercises and expert prerequisite links of Junyi Academy."},
        "kcs": kcs,
        "prerequisites": [{"prerequisite": slug_of[s], "dependent": slug_of[d]} for s, d in kept],
        "items": items,
    }
    return pack, report


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lines(text: str) -> list[str]:
    # MathDial stores line breaks as the two characters backslash-n.
    return [line.strip() for line in re.split(r"\\n|\n", text or "") if line.strip()]


def _final_number(text: str) -> str | None:
    lines = _lines(text)
    if not lines:
        return None
    found = _NUMBER.findall(lines[-1])
    if not found:
        return None
    value = found[-1].replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def _question_of(question: str) -> str:
    """The problem's own question (its last sentence that asks one)."""
    asked = [s.strip() for s in _SENTENCE.split(" ".join(question.split())) if s.strip().endswith("?")]
    return asked[-1] if asked else "What is the answer to the question?"


# A teacher's note about "the student" turned to speak to the student.
_TO_YOU = (
    (re.compile(r"^(?:the\s+)?(?:student|learner|child|kid)s?\b", re.I), "you"),
    (re.compile(r"\b(?:the\s+)?(?:student|learner)'s\b", re.I), "your"),
    (re.compile(r"\b(?:the\s+)?(?:student|learner)\b", re.I), "you"),
    (re.compile(r"\b(?:himself|herself|themselves|themself)\b", re.I), "yourself"),
    (re.compile(r"\b(?:his|her|their)\b(?=\s+\w)", re.I), "your"),
    (re.compile(r"\b(?:he|she|they)\b", re.I), "you"),
    (re.compile(r"\b(?:him|them)\b", re.I), "you"),
    (re.compile(r"\byou\s+was\b", re.I), "you were"),
    (re.compile(r"\byou\s+is\b", re.I), "you are"),
    (re.compile(r"\byou\s+has\b", re.I), "you have"),
    (re.compile(r"\byou\s+does\b", re.I), "you do"),
    (re.compile(r"\byou\s+doesn'?t\b", re.I), "you don't"),
)
_THIRD_PERSON = re.compile(r"\byou\s+((?:also|just|only|then|still|often|always|probably)\s+)?([a-z]+?)(ies|es|s)\b")
_NOT_VERBS = {"thi", "thu", "ye", "u", "plu", "minu", "focu", "ha", "wa", "i", "doe"}
_SOFTEN = (
    (re.compile(r"^you\s+(?:forgot|forget|neglected|failed|didn'?t\s+remember)\s+to\s+(.+)$", re.I),
     "Check whether you remembered to {0}."),
    (re.compile(r"^you\s+(?:forgot|forget|missed|left\s+out|ignored|overlooked)\s+(?:about\s+)?(.+)$", re.I),
     "Check whether you included {0}."),
    (re.compile(r"^you\s+did\s*n[o']?t\s+(.+)$", re.I), "Check whether you remembered to {0}."),
    (re.compile(r"^you\s+(?:confused|mixed\s+up)\s+(.+?)\s+(?:with|and)\s+(.+)$", re.I),
     "Check whether you mixed up {0} and {1}."),
    (re.compile(r"^you\s+(?:thought|think|assumed|assume|believed|believe)\s+(?:that\s+)?(.+)$", re.I),
     "Check whether it is really true that {0}."),
)


def _to_you(sentence: str) -> str:
    text = sentence
    for pattern, repl in _TO_YOU:
        text = pattern.sub(repl, text)

    def agree(m: re.Match[str]) -> str:  # "you adds" → "you add"
        stem, ending = m.group(2), m.group(3)
        if stem in _NOT_VERBS or len(stem) < 2:
            return m.group(0)
        base = stem + "y" if ending == "ies" else (stem if ending == "es" and re.search(r"(?:ss|sh|ch|x|z|o)$", stem)
                                                   else stem + ("e" if ending == "es" else ""))
        return f"you {m.group(1) or ''}{base}"

    return _THIRD_PERSON.sub(agree, text)


def _student_feedback(confusion: str, *, answer: str) -> str:
    """Misconception feedback for the student from MathDial's note for teachers: the note turned to
    "you" (and into a question to check where it names a slip), never the dataset's wording about
    "the student", and never a sentence that states the answer."""
    close = "Let's check each quantity in the question again: which ones did you use, and how?"
    note = re.sub(r"\.\s+(?=[a-z])", ", ", " ".join(confusion.split()))  # "correctly. but then" is one sentence
    sentences = [s.strip().rstrip(".") for s in re.split(r"(?<=[.!?])\s+", note) if s.strip()]
    spoken = []
    for sentence in sentences[:2]:
        if answer and re.search(rf"(?<![\d.]){re.escape(answer)}(?![\d])", sentence.replace(",", "")):
            continue
        text = _to_you(sentence)
        for pattern, template in _SOFTEN:
            m = pattern.match(text)
            if m:
                text = template.format(*(g.strip().rstrip(".") for g in m.groups()))
                break
        else:
            text = f"Check whether {text[0].lower() + text[1:]}." if re.match(r"you\b", text, re.I) else (
                f"Something to check: {text}.")
        spoken.append(text)
    return " ".join([*spoken, close])


def mathdial_pack(path: Path, *, slug: str = "mathdial", title: str = "MathDial word problems") -> tuple[
    dict[str, Any], ImportReport
]:
    """Each MathDial record becomes an item keyed by its ``qid``: the question, the worked solution
    and the final numeric answer from ``ground_truth``, and the student's incorrect final answer as
    a known misconception whose feedback comes from ``teacher_described_confusion``."""
    report = ImportReport()
    kc_slug = "multi-step-word-problems"
    items: list[dict[str, Any]] = []
    taken: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                report.skipped.append(f"line {lineno}: not JSON ({exc.msg})")
                continue
            if not isinstance(rec, dict):
                report.skipped.append(f"line {lineno}: not a JSON object")
                continue
            missing = [k for k in ("qid", "question", "ground_truth") if not rec.get(k)]
            if missing:
                report.skipped.append(f"line {lineno}: missing {', '.join(missing)}")
                continue
            qid = str(rec["qid"])
            answer = _final_number(rec["ground_truth"])
            if answer is None:
                report.skipped.append(f"line {lineno} (qid {qid}): no final number in ground_truth")
                continue
            solution = _lines(rec["ground_truth"])
            # The last line of ground_truth is the bare final answer; the solution is the rest.
            worked = "\n\n".join(solution[:-1] if len(solution) > 1 else solution)
            # The worked solution is the item's (shown only at the bottom-out, or to explain "why" once
            # solved); the step asks the problem's own question, not "What is the final answer?".
            step: dict[str, Any] = {
                "prompt": _question_of(rec["question"]),
                "answer": {"kind": "numeric", "value": answer, "tolerance": 1e-6},
            }
            wrong = _final_number(rec.get("student_incorrect_solution", ""))
            if wrong is not None and wrong != answer:
                step["misconceptions"] = [{
                    "name": "typical wrong final answer",
                    "pattern_kind": "answer",
                    "pattern": wrong,
                    "feedback": _student_feedback(rec.get("teacher_described_confusion") or "", answer=answer),
                    "kc": kc_slug,
                }]
            title_words = " ".join(rec["question"].split()[:8])
            items.append({
                "slug": _slug(f"q{qid}", taken),
                "title": (title_words[:190] + "…") if len(rec["question"].split()) > 8 else title_words,
                "statement": rec["question"],
                "kcs": [kc_slug],
                "difficulty": 3,
                "expected_seconds": 300,
                "worked_solution": worked,
                "source_id": qid,
                "steps": [step],
            })
    report.notes.append(f"{len(items)} problems imported, {len(report.skipped)} records skipped")
    pack = {
        "format": FORMAT,
        "version": VERSION,
        "course": {"slug": slug, "title": title, "source": "mathdial",
                   "description": "Math word problems from the MathDial dataset (CC BY-SA 4.0)."},
        "kcs": [{
            "slug": kc_slug,
            "name": "Multi-step word problems",
            "description": "Turning a story into quantities and operations: find what is asked, list what is "
                           "given, and combine the quantities one step at a time.",
        }],
        "prerequisites": [],
        "items": items,
    }
    return pack, report
