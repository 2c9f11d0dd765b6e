import pytest

from content.models import Course, Item, KnowledgeComponent, Prerequisite


@pytest.fixture
def course(db: object) -> Course:
    """Two KCs, one the other's prerequisite, and three items practising them."""
    course = Course.objects.create(slug="fractions", title="Fractions")
    a = KnowledgeComponent.objects.create(course=course, slug="a", name="Equivalent fractions", position=0)
    b = KnowledgeComponent.objects.create(course=course, slug="b", name="Adding fractions", position=1)
    Prerequisite.objects.create(prerequisite=a, dependent=b, strength=0.9)
    for slug, kcs, difficulty in [("i1", [a], 2), ("i2", [b], 4), ("i3", [a, b], 3)]:
        item = Item.objects.create(course=course, slug=slug, title=slug, statement="?", difficulty=difficulty)
        item.kcs.set(kcs)
    return course
