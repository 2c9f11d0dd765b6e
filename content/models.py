"""The curriculum a teacher authors: courses, knowledge components and their prerequisite graph,
items with ordered steps, hint ladders, subproblems and known misconceptions.

Statement text everywhere is Markdown with LaTeX math (``$...$`` and ``$$...$$``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from content.answers import AnswerKind, AnswerSpec


class Course(models.Model):
    class Source(models.TextChoices):
        AUTHORED = "authored", "Authored"
        JUNYI = "junyi", "Imported from Junyi Academy"
        MATHDIAL = "mathdial", "Imported from MathDial"

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown with LaTeX math.")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.AUTHORED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_courses",
    )
    teachers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="taught_courses",
        help_text="Teachers assigned to this course besides its owner.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class KnowledgeComponent(models.Model):
    """A skill or concept the learner model tracks (a KC in learning-science terms)."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="kcs")
    slug = models.SlugField(max_length=200)
    name = models.CharField(max_length=200)
    description = models.TextField(
        blank=True,
        help_text="Markdown with LaTeX. The tutor explains the concept from this text when asked.",
    )
    position = models.PositiveIntegerField(default=0, help_text="Order in the course.")
    source_id = models.CharField(max_length=200, blank=True, help_text="Identifier in an imported source.")

    class Meta:
        ordering = ["course", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="unique_kc_slug_per_course")]
        verbose_name = "knowledge component"

    def __str__(self) -> str:
        return self.name


class Prerequisite(models.Model):
    """An edge of the prerequisite DAG: ``prerequisite`` should be mastered before ``dependent``."""

    prerequisite = models.ForeignKey(KnowledgeComponent, on_delete=models.CASCADE, related_name="unlocks")
    dependent = models.ForeignKey(KnowledgeComponent, on_delete=models.CASCADE, related_name="requires")
    strength = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="How strongly the teacher believes this prerequisite matters (0-1). "
        "The learner model starts from it and learns the real strength from data.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prerequisite", "dependent"], name="unique_prerequisite_edge"),
            models.CheckConstraint(
                condition=~models.Q(prerequisite=models.F("dependent")), name="prerequisite_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prerequisite} → {self.dependent}"

    def clean(self) -> None:
        from content.graph import find_cycle

        if self.prerequisite_id is None or self.dependent_id is None:
            return
        if self.prerequisite_id == self.dependent_id:
            raise ValidationError("A knowledge component cannot be its own prerequisite.")
        if self.prerequisite.course_id != self.dependent.course_id:
            raise ValidationError("Both knowledge components must belong to the same course.")
        edges = list(
            Prerequisite.objects.filter(dependent__course_id=self.dependent.course_id)
            .exclude(pk=self.pk)
            .values_list("prerequisite__slug", "dependent__slug")
        )
        edges.append((self.prerequisite.slug, self.dependent.slug))
        cycle = find_cycle(edges)
        if cycle:
            raise ValidationError("This edge would close a cycle: " + " → ".join(cycle))


class Item(models.Model):
    """A problem. Students work through its steps in order."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="items")
    slug = models.SlugField(max_length=200)
    title = models.CharField(max_length=200)
    statement = models.TextField(help_text="The problem as the student sees it. Markdown with LaTeX.")
    kcs = models.ManyToManyField(KnowledgeComponent, related_name="items", verbose_name="knowledge components")
    difficulty = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="1 = very easy … 5 = very hard. The learner model refines it from data.",
    )
    expected_seconds = models.PositiveIntegerField(default=120, help_text="Typical time to solve.")
    worked_solution = models.TextField(
        blank=True,
        help_text="Hidden from students. The tutor derives hints and subproblems from it "
        "when none are authored, one per paragraph.",
    )
    position = models.PositiveIntegerField(default=0)
    source_id = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="Identifier in an imported source (e.g. a qid)."
    )

    class Meta:
        ordering = ["course", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="unique_item_slug_per_course")]

    def __str__(self) -> str:
        return self.title


class AnswerFields(models.Model):
    """How an answer is checked: shared by steps and subproblems."""

    answer_kind = models.CharField(max_length=20, choices=AnswerKind.choices(), default=AnswerKind.NUMERIC)
    answer = models.CharField(
        max_length=500,
        help_text="Numeric: the value. Expression: any equivalent form (e.g. x = 3, 3/4). "
        "Choice: the text of the correct choice. Text: the canonical answer.",
    )
    tolerance = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)], help_text="Numeric only.")
    units = models.CharField(max_length=50, blank=True, help_text="Numeric only, optional (e.g. cm).")
    choices = models.JSONField(default=list, blank=True, help_text="Choice only: list of choice texts.")
    variants = models.JSONField(
        default=list, blank=True, help_text="Other accepted answers (text answers mainly)."
    )

    class Meta:
        abstract = True

    def answer_spec(self) -> AnswerSpec:
        return AnswerSpec(
            kind=AnswerKind(self.answer_kind),
            answer=self.answer,
            tolerance=self.tolerance,
            units=self.units,
            choices=tuple(self.choices or ()),
            variants=tuple(self.variants or ()),
        )

    def clean(self) -> None:
        problems = self.answer_spec().problems()
        if problems:
            raise ValidationError(problems)


class Step(AnswerFields):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    prompt = models.TextField(help_text="What this step asks. Markdown with LaTeX.")
    explanation = models.TextField(
        blank=True, help_text="Shown after the step is solved or its answer is finally told."
    )

    class Meta:
        ordering = ["item", "position", "id"]

    def __str__(self) -> str:
        return f"{self.item.title} · step {self.position + 1}"


class Hint(models.Model):
    """One rung of a step's hint ladder. The last rung is the bottom-out hint."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="hints")
    position = models.PositiveIntegerField(default=0)
    text = models.TextField(help_text="Markdown with LaTeX.")

    class Meta:
        ordering = ["step", "position", "id"]

    def __str__(self) -> str:
        return f"hint {self.position + 1}"


class Subproblem(AnswerFields):
    """A scaffold: a smaller question that leads toward the step, with its own answer and hints."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="subproblems")
    position = models.PositiveIntegerField(default=0)
    prompt = models.TextField(help_text="Markdown with LaTeX.")
    hints = models.JSONField(default=list, blank=True, help_text="Hint ladder for this subproblem, in order.")
    kc = models.ForeignKey(
        KnowledgeComponent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subproblems",
        help_text="The (often prerequisite) concept this scaffold exercises.",
    )

    class Meta:
        ordering = ["step", "position", "id"]

    def __str__(self) -> str:
        return f"subproblem {self.position + 1}"


class Misconception(models.Model):
    """A known wrong answer or wrong-answer pattern, with feedback aimed at the mistake behind it."""

    class PatternKind(models.TextChoices):
        ANSWER = "answer", "Same answer (checked like the step's answer)"
        REGEX = "regex", "Regular expression on the raw text"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="misconceptions")
    name = models.CharField(max_length=200, help_text="Short label, e.g. 'adds denominators'.")
    pattern_kind = models.CharField(max_length=20, choices=PatternKind.choices, default=PatternKind.ANSWER)
    pattern = models.CharField(max_length=500, help_text="The wrong answer or a regular expression.")
    feedback = models.TextField(help_text="Targeted feedback. Markdown with LaTeX. Must not give the answer.")
    kc = models.ForeignKey(
        KnowledgeComponent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="misconceptions",
        help_text="The concept this mistake implicates.",
    )

    class Meta:
        ordering = ["step", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.pattern_kind == self.PatternKind.REGEX:
            import re

            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValidationError({"pattern": f"Not a valid regular expression: {exc}"}) from exc
