"""The tutor's dialogue policy: what the student is doing (``intent``), which teacher move comes next
(``policy``), and scaffolding derived from worked solutions when none is authored (``derive``).
Plain Python, no Django: the service layer feeds it dataclasses and persists what it returns."""

from tutor.dialogue.derive import DerivedScaffold, derive_scaffold, with_derived_scaffold
from tutor.dialogue.intent import Intent, classify
from tutor.dialogue.policy import (
    ConceptView,
    Decision,
    MathDialCategory,
    MisconceptionView,
    Move,
    PolicySettings,
    StepProgress,
    StepView,
    SubproblemView,
    current_spec,
    decide,
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
    "PolicySettings",
    "StepProgress",
    "StepView",
    "SubproblemView",
    "classify",
    "current_spec",
    "decide",
    "derive_scaffold",
    "subproblem_order",
    "with_derived_scaffold",
]
