"""Property-based fuzzing of what takes outside input: the answer checker, the course-pack importer and
the interaction-log importer. No input may crash them, hang them, or leave half-written records.

    FUZZ_EXAMPLES=10000 FUZZ_REPORT=fuzz.jsonl TUTOR_LLM=scripted .venv/bin/pytest -p no:cacheprovider \
        tests/security/test_fuzz.py tests/security/test_api_fuzz.py
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content import packs
from content.answers import AnswerKind, AnswerSpec
from content.models import Course, Hint, Item, KnowledgeComponent, Misconception, Prerequisite, Step, Subproblem
from tests.conftest import SMALL_PACK
from tests.security.fuzzing import FUZZ, HOSTILE, TIMEOUT, Tally
from tutor.checking import TIME_BOUND_SECONDS, AnswerSpecError, MisconceptionPattern, check_answer

STATUSES = {"correct", "incorrect", "unreadable"}

SPECS = [
    AnswerSpec(kind=AnswerKind.NUMERIC, answer="2.5", tolerance=0.01, units="cm"),
    AnswerSpec(kind=AnswerKind.NUMERIC, answer="-7/2"),
    AnswerSpec(kind=AnswerKind.NUMERIC, answer="12%"),
    AnswerSpec(kind=AnswerKind.EXPRESSION, answer="3/4"),
    AnswerSpec(kind=AnswerKind.EXPRESSION, answer="x = 4"),
    AnswerSpec(kind=AnswerKind.EXPRESSION, answer="2x^2 + 3x - 1"),
    AnswerSpec(kind=AnswerKind.EXPRESSION, answer="\\frac{\\sqrt{2}}{2}"),
    AnswerSpec(kind=AnswerKind.CHOICE, answer="subtract 3", choices=("add 3", "subtract 3", "multiply by 3")),
    AnswerSpec(kind=AnswerKind.TEXT, answer="inverse operation", variants=("inverse", "opposite operation")),
]
MISCONCEPTIONS = [
    MisconceptionPattern(1, "answer", "2/6"),
    MisconceptionPattern(2, "regex", r"(a+)+$"),  # catastrophic backtracking if run unguarded
    MisconceptionPattern(3, "regex", r"(x|x)*y"),
    MisconceptionPattern(4, "regex", r"\d+\s*/\s*\d+"),
    MisconceptionPattern(5, "answer", "x = -4"),
]

hostile_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(HOSTILE), max_size=8).map(" ".join),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet="0123456789+-*/^().=x{}\\ ", max_size=20)),
             max_size=12).map("".join),
    st.from_regex(r"-?\d{1,40}(\.\d{1,40})?(e-?\d{1,6})?\s*(cm|m|%)?", fullmatch=True),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
)

_checker = Tally("tutor.checking.check_answer")


@TIMEOUT
@FUZZ
@given(spec=st.sampled_from(SPECS), raw=hostile_text, mis=st.lists(st.sampled_from(MISCONCEPTIONS), max_size=3))
def test_checker_never_crashes_or_hangs(spec, raw, mis):
    started = time.perf_counter()
    result = check_answer(spec, raw, mis)
    ms = (time.perf_counter() - started) * 1000
    _checker.timed(ms)
    _checker.accepted += result.status != "unreadable"
    assert result.status in STATUSES
    assert ms < TIME_BOUND_SECONDS * 1000, f"{ms:.0f} ms for {raw[:80]!r}"
    if result.misconception_id is not None:
        assert result.status != "correct" and result.misconception_id in {m.id for m in mis}


@TIMEOUT
@FUZZ
@given(spec=st.sampled_from(SPECS), pad=st.sampled_from(["", " ", "  ", "\n", "\t"]))
def test_checker_accepts_the_authored_answer(spec, pad):
    assert check_answer(spec, f"{pad}{spec.answer}{pad}" + (f" {spec.units}" if spec.units else "")).correct


@TIMEOUT
@FUZZ
@given(kind=st.sampled_from(list(AnswerKind)), answer=hostile_text, raw=hostile_text,
       tolerance=st.floats(allow_nan=True, allow_infinity=True), choices=st.lists(st.text(max_size=20), max_size=4))
def test_checker_with_hostile_authored_answers(kind, answer, raw, tolerance, choices):
    spec = AnswerSpec(kind=kind, answer=answer, tolerance=tolerance, choices=tuple(choices))
    started = time.perf_counter()
    try:
        result = check_answer(spec, raw)
    except AnswerSpecError:
        _checker.timed((time.perf_counter() - started) * 1000)
        return
    _checker.timed((time.perf_counter() - started) * 1000)
    assert result.status in STATUSES
    assert (time.perf_counter() - started) < TIME_BOUND_SECONDS


# --- course packs ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.sampled_from(HOSTILE),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_packs(draw: Any) -> Any:
    """The small valid pack with a few of its values replaced, deleted or duplicated."""
    pack = copy.deepcopy(SMALL_PACK)
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(pack) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = pack
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "hostile"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "hostile":
            parent[path[-1]] = draw(st.sampled_from(HOSTILE))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return pack


CONTENT_MODELS = (Course, KnowledgeComponent, Prerequisite, Item, Step, Hint, Subproblem, Misconception)


def _content_rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in CONTENT_MODELS)


_packs = Tally("content.packs.validate_pack/import_pack")


@pytest.mark.django_db
@TIMEOUT
@FUZZ
@given(data=mutated_packs())
def test_pack_import_is_all_or_nothing(data):
    before = _content_rows()
    started = time.perf_counter()
    problems = packs.validate_pack(data)
    assert isinstance(problems, list) and all(isinstance(p, str) and p.startswith("$") for p in problems)
    try:
        course = packs.import_pack(data)
    except packs.PackError as exc:
        _packs.timed((time.perf_counter() - started) * 1000)
        assert exc.problems, "a refused pack says why"
        assert _content_rows() == before, "a refused pack wrote rows"
        return
    _packs.timed((time.perf_counter() - started) * 1000)
    _packs.accepted += 1
    assert not problems, f"imported a pack validate_pack refused: {problems[:3]}"
    exported = packs.export_pack(course=course)
    assert packs.validate_pack(exported) == []
    course.delete()


# --- interaction logs --------------------------------------------------------------------------

DATASHOP_HEADER = ["Anon Student Id", "Time", "Time Zone", "Problem Name", "Step Name", "Outcome",
                   "Level (Course)", "Transaction Id", "KC (Default)"]
cell = st.one_of(st.text(alphabet=st.characters(blacklist_characters="\t\n\r"), max_size=25),
                 st.sampled_from(["CORRECT", "INCORRECT", "HINT", "OK", "BUG", "", "2024-01-02 03:04:05",
                                  "2024-13-45 99:99:99", "UTC", "Mars/Olympus", "mini", "a~~b~~", "x" * 300,
                                  "1700000000", "-1", "0", "1", "NaN"]))
row = st.lists(cell, min_size=0, max_size=11)


@st.composite
def log_files(draw: Any) -> tuple[str, str]:
    fmt = draw(st.sampled_from(["datashop", "assistments"]))
    header = DATASHOP_HEADER if fmt == "datashop" else ["user_id", "item_id", "timestamp", "correct", "skill_id"]
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 5)) == 0:
        header = draw(row)
    lines = ["\t".join(header)]
    for _ in range(draw(st.integers(0, 6))):
        lines.append("\t".join(draw(row)))
    if draw(st.integers(0, 8)) == 0:
        lines.append(draw(st.sampled_from(["\x00\x01", "\ufeffbom", "\t" * 40, "a\rb"])))
    return fmt, "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


_logs = Tally("tutor.research.log_import.log_import")


@pytest.mark.django_db
@TIMEOUT
@FUZZ
@given(sample=log_files())
def test_log_import_is_all_or_nothing(sample, tmp_path_factory, course):
    log_import = pytest.importorskip("tutor.research.log_import")
    from tracing.models import Observation

    fmt, text = sample
    path = tmp_path_factory.mktemp("log") / "log.tsv"
    path.write_text(text, encoding="utf-8", errors="replace")
    before = (Observation.objects.count(), KnowledgeComponent.objects.count(), Course.objects.count())
    started = time.perf_counter()
    try:
        report = log_import.log_import(path=path, fmt=fmt, course=course.slug)
    except log_import.LogImportError as exc:
        _logs.timed((time.perf_counter() - started) * 1000)
        assert exc.args, "a refused log says why"
        assert (Observation.objects.count(), KnowledgeComponent.objects.count(), Course.objects.count()) == before
        return
    _logs.timed((time.perf_counter() - started) * 1000)
    _logs.accepted += 1
    assert report is not None
    # Re-importing the same file adds nothing.
    after = Observation.objects.count()
    log_import.log_import(path=path, fmt=fmt, course=course.slug)
    assert Observation.objects.count() == after


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for tally in (_checker, _packs, _logs):
        if tally.examples:
            tally.write()
