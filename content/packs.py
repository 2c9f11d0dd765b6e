"""Course packs: a whole course as one documented JSON document.

The format is ``content/schema/course_pack.schema.json``. Import validates everything first
(schema, references, the prerequisite DAG, every answer specification) and reports every problem
with its JSON path; only a pack with no problem is written, in one transaction. Export writes the
same format back, so export → import → export gives the same document.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from django.db import transaction

from content.answers import AnswerKind, AnswerSpec
from content.graph import find_cycle
from content.models import (
    Course,
    Hint,
    Item,
    KnowledgeComponent,
    Misconception,
    Prerequisite,
    Step,
    Subproblem,
)

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "course_pack.schema.json"
FORMAT = "tutor-course-pack"
VERSION = 1
# A pack nests about six levels (course → items → steps → subproblems → answer → choices); a deeper
# document is refused before validation, whose recursion (and error messages) it would overflow.
MAX_DEPTH = 32


class PackError(Exception):
    """A pack that cannot be imported; ``problems`` lists each one with its JSON path."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s) in the course pack:\n" + "\n".join(problems))
        self.problems = problems


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def _spec(answer: dict[str, Any]) -> AnswerSpec:
    return AnswerSpec(
        kind=AnswerKind(answer["kind"]),
        answer=answer["value"],
        tolerance=float(answer.get("tolerance", 0.0)),
        units=answer.get("units", ""),
        choices=tuple(answer.get("choices", ())),
        variants=tuple(answer.get("variants", ())),
    )


def _too_deep(data: Any) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False


def pack_parse(raw: bytes | str) -> Any:
    """The JSON document in ``raw``; ``PackError`` if it is not UTF-8 JSON or nests too deeply."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise PackError([f"$: not UTF-8 text ({exc})"]) from exc
    except json.JSONDecodeError as exc:
        raise PackError([f"$: not valid JSON ({exc})"]) from exc
    except RecursionError as exc:
        raise PackError([f"$: nested more than {MAX_DEPTH} levels deep"]) from exc
    return data


def validate_pack(data: Any) -> list[str]:
    """Every problem in ``data``, each prefixed with its JSON path; empty when the pack is valid."""
    if _too_deep(data):
        return [f"$: nested more than {MAX_DEPTH} levels deep"]
    problems = [
        f"{error.json_path}: {error.message}"
        for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        # References and answers are only meaningful once the structure is right.
        return problems

    kc_slugs: set[str] = set()
    for i, kc in enumerate(data["kcs"]):
        if kc["slug"] in kc_slugs:
            problems.append(f"$.kcs[{i}].slug: duplicate KC slug {kc['slug']!r}")
        kc_slugs.add(kc["slug"])

    edges: list[tuple[str, str]] = []
    seen_edges: set[tuple[str, str]] = set()
    for i, edge in enumerate(data.get("prerequisites", [])):
        pair = (edge["prerequisite"], edge["dependent"])
        for end in ("prerequisite", "dependent"):
            if edge[end] not in kc_slugs:
                problems.append(f"$.prerequisites[{i}].{end}: unknown KC {edge[end]!r}")
        if pair[0] == pair[1]:
            problems.append(f"$.prerequisites[{i}]: a KC cannot be its own prerequisite ({pair[0]!r})")
        elif pair in seen_edges:
            problems.append(f"$.prerequisites[{i}]: duplicate edge {pair[0]!r} → {pair[1]!r}")
        seen_edges.add(pair)
        edges.append(pair)
    cycle = find_cycle([e for e in edges if e[0] != e[1]])
    if cycle:
        problems.append("$.prerequisites: the prerequisites form a cycle: " + " → ".join(cycle))

    item_slugs: set[str] = set()
    for i, item in enumerate(data["items"]):
        where = f"$.items[{i}]"
        if item["slug"] in item_slugs:
            problems.append(f"{where}.slug: duplicate item slug {item['slug']!r}")
        item_slugs.add(item["slug"])
        for k, slug in enumerate(item["kcs"]):
            if slug not in kc_slugs:
                problems.append(f"{where}.kcs[{k}]: unknown KC {slug!r}")
        for s, step in enumerate(item["steps"]):
            problems.extend(_step_problems(step, f"{where}.steps[{s}]", kc_slugs))
    return problems


def _step_problems(step: dict[str, Any], where: str, kc_slugs: set[str]) -> list[str]:
    out = [f"{where}.answer: {p}" for p in _spec(step["answer"]).problems()]
    for j, sub in enumerate(step.get("subproblems", [])):
        out += [f"{where}.subproblems[{j}].answer: {p}" for p in _spec(sub["answer"]).problems()]
        if sub.get("kc") is not None and sub["kc"] not in kc_slugs:
            out.append(f"{where}.subproblems[{j}].kc: unknown KC {sub['kc']!r}")
    for j, mis in enumerate(step.get("misconceptions", [])):
        if mis.get("kc") is not None and mis["kc"] not in kc_slugs:
            out.append(f"{where}.misconceptions[{j}].kc: unknown KC {mis['kc']!r}")
        if mis.get("pattern_kind") == "regex":
            try:
                re.compile(mis["pattern"])
            except re.error as exc:
                out.append(f"{where}.misconceptions[{j}].pattern: not a valid regular expression ({exc})")
    return out


def import_pack(data: Any, *, owner: Any = None, slug: str | None = None) -> Course:
    """Validate and write a pack as a new course; raise ``PackError`` (writing nothing) if invalid.

    ``slug`` imports the pack under another course slug, e.g. to load a second copy."""
    problems = validate_pack(data)
    if not problems:
        target = slug or data["course"]["slug"]
        if Course.objects.filter(slug=target).exists():
            problems.append(
                f"$.course.slug: a course with slug {target!r} already exists "
                "(import it under another slug, or delete the existing course first)"
            )
    if problems:
        raise PackError(problems)
    with transaction.atomic():
        return _write(data, owner=owner, slug=slug or data["course"]["slug"])


def _write(data: dict[str, Any], *, owner: Any, slug: str) -> Course:
    info = data["course"]
    course = Course.objects.create(
        slug=slug,
        title=info["title"],
        description=info.get("description", ""),
        source=info.get("source", Course.Source.AUTHORED),
        owner=owner if getattr(owner, "pk", None) else None,
    )
    kcs = KnowledgeComponent.objects.bulk_create(
        [
            KnowledgeComponent(
                course=course,
                slug=kc["slug"],
                name=kc["name"],
                description=kc.get("description", ""),
                source_id=kc.get("source_id", ""),
                position=pos,
            )
            for pos, kc in enumerate(data["kcs"])
        ]
    )
    kc_by_slug = {kc.slug: kc for kc in kcs}
    Prerequisite.objects.bulk_create(
        [
            Prerequisite(
                prerequisite=kc_by_slug[e["prerequisite"]],
                dependent=kc_by_slug[e["dependent"]],
                strength=float(e.get("strength", 1.0)),
            )
            for e in data.get("prerequisites", [])
        ]
    )
    items = Item.objects.bulk_create(
        [
            Item(
                course=course,
                slug=it["slug"],
                title=it["title"],
                statement=it["statement"],
                difficulty=it.get("difficulty", 3),
                expected_seconds=it.get("expected_seconds", 120),
                worked_solution=it.get("worked_solution", ""),
                source_id=it.get("source_id", ""),
                position=pos,
            )
            for pos, it in enumerate(data["items"])
        ]
    )
    through = Item.kcs.through
    through.objects.bulk_create(
        [
            through(item_id=item.pk, knowledgecomponent_id=kc_by_slug[s].pk)
            for item, it in zip(items, data["items"], strict=True)
            for s in dict.fromkeys(it["kcs"])
        ]
    )
    steps: list[Step] = []
    step_data: list[dict[str, Any]] = []
    for item, it in zip(items, data["items"], strict=True):
        for pos, st in enumerate(it["steps"]):
            steps.append(Step(item=item, position=pos, prompt=st["prompt"],
                              explanation=st.get("explanation", ""), **_answer_fields(st["answer"])))
            step_data.append(st)
    steps = Step.objects.bulk_create(steps)
    hints: list[Hint] = []
    subs: list[Subproblem] = []
    miscs: list[Misconception] = []
    for step, st in zip(steps, step_data, strict=True):
        hints += [Hint(step=step, position=p, text=t) for p, t in enumerate(st.get("hints", []))]
        subs += [
            Subproblem(
                step=step,
                position=p,
                prompt=sp["prompt"],
                hints=list(sp.get("hints", [])),
                kc=kc_by_slug.get(sp["kc"]) if sp.get("kc") else None,
                **_answer_fields(sp["answer"]),
            )
            for p, sp in enumerate(st.get("subproblems", []))
        ]
        miscs += [
            Misconception(
                step=step,
                name=m["name"],
                pattern_kind=m.get("pattern_kind", "answer"),
                pattern=m["pattern"],
                feedback=m["feedback"],
                kc=kc_by_slug.get(m["kc"]) if m.get("kc") else None,
            )
            for m in st.get("misconceptions", [])
        ]
    Hint.objects.bulk_create(hints)
    Subproblem.objects.bulk_create(subs)
    Misconception.objects.bulk_create(miscs)
    return course


def _answer_fields(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "answer_kind": answer["kind"],
        "answer": answer["value"],
        "tolerance": float(answer.get("tolerance", 0.0)),
        "units": answer.get("units", ""),
        "choices": list(answer.get("choices", [])),
        "variants": list(answer.get("variants", [])),
    }


def _answer_json(obj: Step | Subproblem) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": obj.answer_kind, "value": obj.answer}
    if obj.tolerance:
        out["tolerance"] = obj.tolerance
    if obj.units:
        out["units"] = obj.units
    if obj.choices:
        out["choices"] = list(obj.choices)
    if obj.variants:
        out["variants"] = list(obj.variants)
    return out


def export_pack(*, course: Course) -> dict[str, Any]:
    """The course as a pack document (see the schema)."""
    kcs = list(course.kcs.order_by("position", "id"))
    edges = Prerequisite.objects.filter(dependent__course=course).select_related("prerequisite", "dependent")
    items = (
        course.items.order_by("position", "id")
        .prefetch_related("kcs", "steps__hints", "steps__subproblems__kc", "steps__misconceptions__kc")
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "course": {
            "slug": course.slug,
            "title": course.title,
            "description": course.description,
            "source": course.source,
        },
        "kcs": [
            {"slug": kc.slug, "name": kc.name, "description": kc.description, "source_id": kc.source_id}
            for kc in kcs
        ],
        "prerequisites": sorted(
            (
                {"prerequisite": e.prerequisite.slug, "dependent": e.dependent.slug, "strength": e.strength}
                for e in edges
            ),
            key=lambda e: (e["prerequisite"], e["dependent"]),
        ),
        "items": [_item_json(item) for item in items],
    }


def _item_json(item: Item) -> dict[str, Any]:
    return {
        "slug": item.slug,
        "title": item.title,
        "statement": item.statement,
        "kcs": [kc.slug for kc in sorted(item.kcs.all(), key=lambda k: (k.position, k.pk))],
        "difficulty": item.difficulty,
        "expected_seconds": item.expected_seconds,
        "worked_solution": item.worked_solution,
        "source_id": item.source_id,
        "steps": [
            {
                "prompt": step.prompt,
                "answer": _answer_json(step),
                "explanation": step.explanation,
                "hints": [h.text for h in step.hints.all()],
                "subproblems": [
                    {
                        "prompt": sp.prompt,
                        "answer": _answer_json(sp),
                        "hints": list(sp.hints),
                        "kc": sp.kc.slug if sp.kc else None,
                    }
                    for sp in step.subproblems.all()
                ],
                "misconceptions": [
                    {
                        "name": m.name,
                        "pattern_kind": m.pattern_kind,
                        "pattern": m.pattern,
                        "feedback": m.feedback,
                        "kc": m.kc.slug if m.kc else None,
                    }
                    for m in step.misconceptions.all()
                ],
            }
            for step in item.steps.all()
        ],
    }
