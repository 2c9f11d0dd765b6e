import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from content import packs
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

COUNTED = (Course, KnowledgeComponent, Prerequisite, Item, Step, Hint, Subproblem, Misconception)


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in COUNTED}


def test_valid_pack_has_no_problems(small_pack):
    assert packs.validate_pack(small_pack) == []


@pytest.mark.django_db
def test_export_then_import_is_lossless(small_pack):
    course = packs.import_pack(small_pack)
    first = packs.export_pack(course=course)
    copy = packs.import_pack(first, slug="mini-copy")
    second = packs.export_pack(course=copy)
    second["course"]["slug"] = first["course"]["slug"]
    assert second == first
    # and nothing of the original was lost on the way out
    assert first["prerequisites"][0]["strength"] in (0.9, 1.0)
    step = first["items"][0]["steps"][0]
    assert step["hints"] == small_pack["items"][0]["steps"][0]["hints"]
    assert step["subproblems"][0]["kc"] == "equivalent"
    assert step["misconceptions"][0]["pattern"] == "2/6"
    assert first["items"][1]["steps"][2]["answer"] == {"kind": "numeric", "value": "2.5", "tolerance": 0.01,
                                                       "units": "cm"}


@pytest.mark.django_db
def test_cyclic_pack_is_rejected_whole_naming_the_cycle(small_pack):
    small_pack["prerequisites"].append({"prerequisite": "equations", "dependent": "equivalent"})
    before = counts()
    with pytest.raises(packs.PackError) as err:
        packs.import_pack(small_pack)
    assert any("cycle" in p and "equivalent" in p and "equations" in p for p in err.value.problems)
    assert counts() == before


@pytest.mark.django_db
def test_every_problem_is_listed_with_its_json_path(small_pack):
    small_pack["items"][0]["kcs"].append("nope")
    small_pack["items"][1]["steps"][1]["answer"]["value"] = "multiply by 3"  # not among the choices
    small_pack["items"][0]["steps"][0]["misconceptions"][0]["pattern_kind"] = "regex"
    small_pack["items"][0]["steps"][0]["misconceptions"][0]["pattern"] = "(unclosed"
    small_pack["prerequisites"].append({"prerequisite": "ghost", "dependent": "adding"})
    problems = packs.validate_pack(small_pack)
    joined = "\n".join(problems)
    assert "$.items[0].kcs[2]: unknown KC 'nope'" in joined
    assert "$.items[1].steps[1].answer: The correct answer must be one of the choices." in joined
    assert "$.items[0].steps[0].misconceptions[0].pattern" in joined
    assert "$.prerequisites[2].prerequisite: unknown KC 'ghost'" in joined
    assert len(problems) == 4


def test_schema_errors_carry_paths(small_pack):
    del small_pack["items"][0]["title"]
    small_pack["items"][1]["difficulty"] = 9
    small_pack["kcs"][0]["slug"] = "has spaces"
    problems = packs.validate_pack(small_pack)
    assert any(p.startswith("$.items[0]:") and "'title' is a required property" in p for p in problems)
    assert any(p.startswith("$.items[1].difficulty:") for p in problems)
    assert any(p.startswith("$.kcs[0].slug:") for p in problems)


def test_non_object_is_rejected():
    assert packs.validate_pack([1, 2, 3])
    assert packs.validate_pack("text")


@pytest.mark.django_db
def test_existing_slug_is_rejected_not_overwritten(small_pack):
    packs.import_pack(small_pack)
    before = counts()
    with pytest.raises(packs.PackError) as err:
        packs.import_pack(small_pack)
    assert "already exists" in err.value.problems[0]
    assert counts() == before


@pytest.mark.django_db
def test_commands_round_trip_and_fail_loudly(tmp_path: Path, small_pack, capsys):
    src = tmp_path / "pack.json"
    src.write_text(json.dumps(small_pack))
    call_command("import_course", str(src))
    out = tmp_path / "out.json"
    call_command("export_course", "mini", str(out))
    assert json.loads(out.read_text())["items"][0]["slug"] == "add-halves-quarters"

    bad = tmp_path / "bad.json"
    small_pack["course"]["slug"] = "other"
    small_pack["prerequisites"].append({"prerequisite": "equations", "dependent": "equivalent"})
    small_pack["items"][0]["kcs"] = ["ghost"]
    bad.write_text(json.dumps(small_pack))
    before = counts()
    with pytest.raises(CommandError, match="2 problem"):
        call_command("import_course", str(bad))
    err = capsys.readouterr().err
    assert "cycle" in err and "$.items[0].kcs[0]" in err
    assert counts() == before

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_course", str(garbage))
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_course", str(tmp_path / "missing.json"))
