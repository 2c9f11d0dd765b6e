from pathlib import Path

import pytest
from django.core.management import call_command

from content.models import Course, Item, KnowledgeComponent, Prerequisite

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
JUNYI = DATA / "kt" / "junyi_exercise_prerequisites.csv"
MATHDIAL = DATA / "dialogue" / "mathdial_example.jsonl"


@pytest.mark.django_db
@pytest.mark.skipif(not JUNYI.exists(), reason="shared data not beside the checkout")
def test_junyi_graph_import(capsys):
    call_command("import_course", str(JUNYI), format="junyi")
    out = capsys.readouterr().out
    course = Course.objects.get(slug="junyi")
    # 837 rows, of which two repeat an exercise already listed: 835 distinct exercises.
    assert KnowledgeComponent.objects.filter(course=course).count() == 835
    assert Item.objects.filter(course=course).count() == 835
    edges = Prerequisite.objects.filter(dependent__course=course).count()
    assert "835 exercises, 978 prerequisite links kept, 10 skipped" in out
    assert edges == 978
    assert out.count("skipped: link") == 10
    kc = KnowledgeComponent.objects.get(course=course, source_id="adding_fractions")
    assert kc.requires.exists()


@pytest.mark.django_db
@pytest.mark.skipif(not MATHDIAL.exists(), reason="shared data not beside the checkout")
def test_mathdial_import_keeps_qid_answer_and_misconception():
    call_command("import_course", str(MATHDIAL), format="mathdial")
    item = Item.objects.get(course__slug="mathdial", source_id="5000794")
    step = item.steps.get()
    assert step.answer_kind == "numeric" and step.answer == "30"
    assert "24 + 6 = 30" in item.worked_solution
    mis = step.misconceptions.get()
    assert mis.pattern == "42"
    assert "fixated" in mis.feedback
    assert "30" not in mis.feedback  # targeted feedback never hands over the answer
    # The step asks the problem's own question; the worked solution stays the item's.
    assert step.prompt == "How many pens will he have?" and step.explanation == ""
    other = Item.objects.get(course__slug="mathdial", source_id="5000195")
    assert other.steps.get().answer == "72"


@pytest.mark.django_db
def test_mathdial_bad_lines_are_reported_not_fatal(tmp_path, capsys):
    f = tmp_path / "m.jsonl"
    f.write_text('{"qid": "1", "question": "What is 2+2?", "ground_truth": "2+2 = 4\\\\n 4"}\nnot json\n[1]\n'
                 '{"qid": "2", "question": "No answer", "ground_truth": "words only"}\n')
    call_command("import_course", str(f), format="mathdial", slug="md-test")
    out = capsys.readouterr().out
    assert "line 2: not JSON" in out and "line 3: not a JSON object" in out and "no final number" in out
    assert Item.objects.get(course__slug="md-test").steps.get().answer == "4"


SAMPLE = Path(__file__).resolve().parents[1] / "tutor" / "data" / "conversations" / "mathdial_sample.jsonl"


@pytest.mark.django_db
def test_mathdial_misconception_feedback_speaks_to_the_student():
    """'A common slip leads to 1540. What teachers notice here: student forgot to multiply the food
    by 12.' was the dataset's note pasted in; the student now reads a tutor speaking to them."""
    call_command("import_course", str(SAMPLE), format="mathdial", slug="md-sample")
    step = Item.objects.get(course__slug="md-sample", source_id="mrbench-madeline").steps.get()
    assert step.prompt == ("How much money does Madeline spend on her dog per year if there are 4 weeks in a "
                           "month?")
    feedback = step.misconceptions.get().feedback
    assert feedback.startswith("Check whether you remembered to multiply the food by 12.")
    for pasted in ("What teachers notice", "student", "A common slip", "1540", "2640"):
        assert pasted not in feedback
    monty = Item.objects.get(course__slug="md-sample", source_id="5000195").steps.get()
    assert monty.misconceptions.get().feedback.startswith(
        "Check whether you were making the unit of measure more complicated than necessary.")


@pytest.mark.parametrize(("note", "spoken"), [
    ("The student confused the area with the perimeter", "Check whether you mixed up the area and the perimeter."),
    ("He thinks that half a dozen is 12", "Check whether it is really true that half a dozen is 12."),
    ("Student did not convert minutes to hours", "Check whether you remembered to convert minutes to hours."),
    ("The student adds the denominators", "Check whether you add the denominators."),
    ("Her answer ignores the tax", "Something to check: your answer ignores the tax."),
])
def test_teachers_notes_are_turned_to_the_student(note, spoken):
    from content.importers import _student_feedback

    assert _student_feedback(note, answer="7").startswith(spoken)
    # A note that states the right answer is left out rather than read to the student.
    assert "7" not in _student_feedback("The student should have got 7 boxes", answer="7")
