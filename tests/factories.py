"""factory_boy factories for curricula, used across the test suite."""

from typing import Any

import factory
from django.contrib.auth import get_user_model

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
from tutor import roles
from tutor.services import role_groups_ensure


class UserFactory(factory.django.DjangoModelFactory[Any]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    @factory.post_generation
    def password(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        self.set_password(extracted or "pw-123-secret")
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def role(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.groups.add(role_groups_ensure()[extracted])
            if extracted == roles.TEACHER:
                self.is_staff = True
                self.save(update_fields=["is_staff"])


class CourseFactory(factory.django.DjangoModelFactory[Course]):
    class Meta:
        model = Course

    slug = factory.Sequence(lambda n: f"course-{n}")
    title = factory.Sequence(lambda n: f"Course {n}")


class KCFactory(factory.django.DjangoModelFactory[KnowledgeComponent]):
    class Meta:
        model = KnowledgeComponent

    course = factory.SubFactory(CourseFactory)
    slug = factory.Sequence(lambda n: f"kc-{n}")
    name = factory.Sequence(lambda n: f"Concept {n}")
    description = "A concept."


class PrerequisiteFactory(factory.django.DjangoModelFactory[Prerequisite]):
    class Meta:
        model = Prerequisite


class ItemFactory(factory.django.DjangoModelFactory[Item]):
    class Meta:
        model = Item

    course = factory.SubFactory(CourseFactory)
    slug = factory.Sequence(lambda n: f"item-{n}")
    title = factory.Sequence(lambda n: f"Item {n}")
    statement = "Compute $\\frac{1}{2} + \\frac{1}{4}$."
    worked_solution = "Use a common denominator of 4: 2/4 + 1/4 = 3/4."


class StepFactory(factory.django.DjangoModelFactory[Step]):
    class Meta:
        model = Step

    item = factory.SubFactory(ItemFactory)
    prompt = "What is the sum?"
    answer_kind = "expression"
    answer = "3/4"


class HintFactory(factory.django.DjangoModelFactory[Hint]):
    class Meta:
        model = Hint

    step = factory.SubFactory(StepFactory)
    text = "Find a common denominator."


class SubproblemFactory(factory.django.DjangoModelFactory[Subproblem]):
    class Meta:
        model = Subproblem

    step = factory.SubFactory(StepFactory)
    prompt = "What is 1/2 written in quarters?"
    answer_kind = "expression"
    answer = "2/4"


class MisconceptionFactory(factory.django.DjangoModelFactory[Misconception]):
    class Meta:
        model = Misconception

    step = factory.SubFactory(StepFactory)
    name = "adds denominators"
    pattern = "2/6"
    feedback = "It looks like you added the denominators too. What does the denominator count?"
