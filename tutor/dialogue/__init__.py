"""The tutor's dialogue policy: what the student is doing (``intent``), which teacher move comes next
(``policy``), which authored sentences answer a question (``explain``), and scaffolding derived
from worked solutions when none is authored (``derive``). Plain Python, no Django: the service
layer feeds it dataclasses and persists what it returns."""

from tutor.dialogue.derive import DerivedScaffold, derive_scaffold, reasoning, with_derived_scaffold
from tutor.dialogue.intent import Intent, acknowledgement, classify, is_manipulation
from tutor.dialogue.policy import (
    ConceptView,
    Decision,
    MathDialCategory,
    MisconceptionView,
    Move,
    Opening,
    PolicySettings,
    StepProgress,
    StepView,
    SubproblemView,
    after_item,
    current_spec,
    decide,
    explanation,
    opening,
    shown_answer,
    subproblem_order,
)

__all__ = [
    "ConceptView",
    "Decision",
    "DerivedScaffold",
    "Intent",
    "MathDialCategory",
    "MisconceptionView",
    "Move",
    "Opening",
    "PolicySettings",
    "StepProgress",
    "StepView",
    "SubproblemView",
    "acknowledgement",
    "after_item",
    "classify",
    "current_spec",
    "decide",
    "derive_scaffold",
    "explanation",
    "is_manipulation",
    "opening",
    "reasoning",
    "shown_answer",
    "subproblem_order",
    "with_derived_scaffold",
]
