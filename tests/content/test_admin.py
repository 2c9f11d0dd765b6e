import pytest
from django.urls import reverse

from content.models import Hint, Item, KnowledgeComponent, Misconception, Prerequisite, Step, Subproblem
from tests.factories import (
    CourseFactory,
    ItemFactory,
    KCFactory,
    PrerequisiteFactory,
    StepFactory,
    UserFactory,
)
from tutor import roles


@pytest.fixture
def teacher(db):
    return UserFactory(username="teach", role=roles.TEACHER)


@pytest.fixture
def course(teacher):
    return CourseFactory(slug="fractions", title="Fractions", owner=teacher)


def inline_management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_teacher_adds_kc_with_prerequisite(client, teacher, course):
    base = KCFactory(course=course, slug="equivalent", name="Equivalent fractions")
    client.force_login(teacher)
    data = {"course": course.pk, "slug": "adding", "name": "Adding fractions", "description": "",
            "position": 1, "source_id": "",
            **inline_management("requires", 1), "requires-0-prerequisite": base.pk, "requires-0-strength": "0.8"}
    resp = client.post(reverse("admin:content_knowledgecomponent_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    new = KnowledgeComponent.objects.get(slug="adding")
    edge = Prerequisite.objects.get(dependent=new)
    assert edge.prerequisite == base and edge.strength == 0.8


def test_admin_rejects_a_cycle_naming_it(client, teacher, course):
    a = KCFactory(course=course, slug="a", name="Alpha")
    b = KCFactory(course=course, slug="b", name="Beta")
    c = KCFactory(course=course, slug="c", name="Gamma")
    PrerequisiteFactory(prerequisite=a, dependent=b)
    PrerequisiteFactory(prerequisite=b, dependent=c)
    client.force_login(teacher)
    data = {"course": course.pk, "slug": "a", "name": "Alpha", "description": "", "position": 0, "source_id": "",
            **inline_management("requires", 1), "requires-0-prerequisite": c.pk, "requires-0-strength": "1"}
    resp = client.post(reverse("admin:content_knowledgecomponent_change", args=[a.pk]), data)
    assert resp.status_code == 200
    text = resp.content.decode()
    assert "would make a cycle" in text
    assert "Alpha → Beta → Gamma → Alpha" in text.replace("&gt;", ">")
    assert not Prerequisite.objects.filter(prerequisite=c, dependent=a).exists()


def test_model_clean_rejects_cycle_too(course):
    from django.core.exceptions import ValidationError

    a = KCFactory(course=course, slug="a")
    b = KCFactory(course=course, slug="b")
    PrerequisiteFactory(prerequisite=a, dependent=b)
    with pytest.raises(ValidationError, match="cycle"):
        Prerequisite(prerequisite=b, dependent=a).full_clean()


def test_teacher_sees_only_own_courses(client, teacher, course):
    other = CourseFactory(slug="secret", title="Someone else's course")
    other_item = ItemFactory(course=other)
    client.force_login(teacher)
    listing = client.get(reverse("admin:content_course_changelist")).content.decode()
    assert "Fractions" in listing and "Someone else" not in listing
    assert client.get(reverse("admin:content_course_change", args=[other.pk])).status_code in (302, 403, 404)
    assert client.get(reverse("admin:content_item_change", args=[other_item.pk])).status_code in (302, 403, 404)
    assert client.get(reverse("course-graph-svg", args=["secret"])).status_code == 404
    assert client.get(reverse("item-preview", args=[other_item.pk])).status_code == 404


def test_assigned_teacher_may_edit(client, course):
    helper = UserFactory(username="helper", role=roles.TEACHER)
    course.teachers.add(helper)
    client.force_login(helper)
    assert client.get(reverse("admin:content_course_change", args=[course.pk])).status_code == 200


def test_student_cannot_author(client, course):
    student = UserFactory(username="stud", role=roles.STUDENT)
    client.force_login(student)
    resp = client.get(reverse("admin:content_course_changelist"))
    assert resp.status_code == 302  # not staff: sent to the admin login


def test_graph_picture_and_preview(client, teacher, course):
    a = KCFactory(course=course, slug="a", name="Alpha")
    b = KCFactory(course=course, slug="b", name="Beta")
    PrerequisiteFactory(prerequisite=a, dependent=b)
    item = ItemFactory(course=course, statement="Compute $\\frac{1}{2}+\\frac{1}{4}$. <script>alert(1)</script>")
    item.kcs.add(a)
    StepFactory(item=item, answer="3/4", prompt="What is the sum?")
    client.force_login(teacher)
    svg = client.get(reverse("course-graph-svg", args=["fractions"]))
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"Alpha" in svg.content and b"Beta" in svg.content and b"marker-end" in svg.content
    page = client.get(reverse("admin:content_course_change", args=[course.pk])).content.decode()
    assert reverse("course-graph-svg", args=["fractions"]) in page
    # Drawn into the page, in a box a static style sheet makes scrollable: no inline style for the CSP to block.
    graph = page[page.index('<div class="prereq-graph"'):page.index("Open the graph full size")]
    assert "<svg" in graph and "<title>Alpha</title>" in graph and "style=" not in graph
    assert "css/authoring.css" in page
    preview = client.get(reverse("item-preview", args=[item.pk])).content.decode()
    assert "What is the sum?" in preview
    # The live sandbox (tests/tutor/teaching/test_sandbox.py): the conversation states no answer; the
    # author sees it only under "What the tutor knows about this item".
    conversation = preview[preview.index('id="sandbox"'):]
    assert "3/4" not in conversation and "common denominator" not in preview
    assert "<script>alert" not in preview
    assert 'class="math math-inline"' in preview


def test_teacher_adds_item_with_step_then_hints_subproblem_misconception(client, teacher, course):
    kc = KCFactory(course=course, slug="adding")
    client.force_login(teacher)
    data = {"course": course.pk, "slug": "new-item", "title": "New item", "statement": "Add $1/3 + 1/3$.",
            "kcs": [kc.pk], "difficulty": 2, "expected_seconds": 60, "worked_solution": "", "position": 0,
            "source_id": "",
            **inline_management("steps", 1), "steps-0-position": 0, "steps-0-prompt": "Sum?",
            "steps-0-answer_kind": "expression", "steps-0-answer": "2/3", "steps-0-tolerance": 0,
            "steps-0-units": "", "steps-0-choices": "", "steps-0-variants": "", "steps-0-explanation": ""}
    resp = client.post(reverse("admin:content_item_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    step = Item.objects.get(slug="new-item").steps.get()
    data = {"item": step.item.pk, "position": 0, "prompt": "Sum?", "answer_kind": "expression", "answer": "2/3",
            "tolerance": 0, "units": "", "choices": "", "variants": "", "explanation": "",
            **inline_management("hints", 2), "hints-0-position": 0, "hints-0-text": "Same denominators?",
            "hints-1-position": 1, "hints-1-text": "So it is 2/3.",
            **inline_management("subproblems", 1), "subproblems-0-position": 0,
            "subproblems-0-prompt": "What is 1 + 1?", "subproblems-0-answer_kind": "numeric",
            "subproblems-0-answer": "2", "subproblems-0-tolerance": 0, "subproblems-0-units": "",
            "subproblems-0-choices": "", "subproblems-0-variants": "",
            "subproblems-0-hints": "Count them.\nOne and one.", "subproblems-0-kc": kc.pk,
            **inline_management("misconceptions", 1), "misconceptions-0-name": "adds denominators",
            "misconceptions-0-pattern_kind": "answer", "misconceptions-0-pattern": "2/6",
            "misconceptions-0-feedback": "Did you add the bottoms?", "misconceptions-0-kc": kc.pk}
    resp = client.post(reverse("admin:content_step_change", args=[step.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    step.refresh_from_db()
    assert [h.text for h in step.hints.all()] == ["Same denominators?", "So it is 2/3."]
    assert step.subproblems.get().hints == ["Count them.", "One and one."]
    assert step.subproblems.get().kc == kc
    assert step.misconceptions.get().pattern == "2/6"
    assert step.misconceptions.get().kc == kc


def _authored_fields(model) -> set[str]:
    return {f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key and f.name != "step"}


def test_step_page_offers_every_field_of_the_step_and_its_inlines(client, teacher, course):
    """The step admin and its inlines name their fields (so the admin builds no throwaway form to find
    them): every field an author can set stays on the page, with a blank form per inline for "Add another"."""
    step = StepFactory(item=ItemFactory(course=course))
    client.force_login(teacher)
    html = client.get(reverse("admin:content_step_change", args=[step.pk])).content.decode()
    for name in _authored_fields(Step):
        assert f'name="{name}"' in html, name
    for prefix, model in (("hints", Hint), ("subproblems", Subproblem), ("misconceptions", Misconception)):
        assert f'id="{prefix}-empty"' in html, prefix
        for name in _authored_fields(model):
            assert f'name="{prefix}-__prefix__-{name}"' in html, (prefix, name)


def test_admin_rejects_bad_answer_spec(client, teacher, course):
    item = ItemFactory(course=course)
    step = StepFactory(item=item)
    client.force_login(teacher)
    data = {"item": item.pk, "position": 0, "prompt": "Pick", "answer_kind": "choice", "answer": "c",
            "tolerance": 0, "units": "", "choices": "a\nb", "variants": "", "explanation": "",
            **inline_management("hints", 0), **inline_management("subproblems", 0),
            **inline_management("misconceptions", 0)}
    resp = client.post(reverse("admin:content_step_change", args=[step.pk]), data)
    assert resp.status_code == 200
    assert "must be one of the choices" in resp.content.decode()


def test_pack_import_from_admin(client, teacher, small_pack):
    import io
    import json

    client.force_login(teacher)
    bad = dict(small_pack, kcs=[])
    resp = client.post(reverse("admin:content_course_import"),
                       {"pack": io.BytesIO(json.dumps(bad).encode())}, format="multipart")
    assert resp.status_code == 200 and "unknown KC" in resp.content.decode()
    upload = io.BytesIO(json.dumps(small_pack).encode())
    upload.name = "mini.json"
    resp = client.post(reverse("admin:content_course_import"), {"pack": upload})
    assert resp.status_code == 302
    from content.models import Course

    assert Course.objects.get(slug="mini").owner == teacher
