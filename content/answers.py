"""How an authored answer is specified. Plain Python: the answer checker and the course-pack
validator use it without Django."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class AnswerKind(enum.StrEnum):
    NUMERIC = "numeric"
    EXPRESSION = "expression"
    CHOICE = "choice"
    TEXT = "text"

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        labels = {
            cls.NUMERIC: "Number (with tolerance and optional units)",
            cls.EXPRESSION: "Algebraic expression or equation",
            cls.CHOICE: "Multiple choice",
            cls.TEXT: "Short text",
        }
        return [(kind.value, labels[kind]) for kind in cls]


@dataclass(frozen=True)
class AnswerSpec:
    kind: AnswerKind
    answer: str
    tolerance: float = 0.0
    units: str = ""
    choices: tuple[str, ...] = field(default_factory=tuple)
    variants: tuple[str, ...] = field(default_factory=tuple)

    def problems(self) -> list[str]:
        """What is wrong with this specification, in words a teacher understands."""
        out: list[str] = []
        if not self.answer.strip():
            out.append("The answer is empty.")
        if self.tolerance < 0:
            out.append("The tolerance cannot be negative.")
        if self.kind == AnswerKind.NUMERIC and self.answer.strip():
            try:
                float(self.answer.replace(",", ""))
            except ValueError:
                if "/" not in self.answer:
                    out.append(f"A numeric answer must be a number, not {self.answer!r}.")
        if self.kind == AnswerKind.CHOICE:
            if len(self.choices) < 2:
                out.append("A multiple-choice answer needs at least two choices.")
            elif self.answer not in self.choices:
                out.append("The correct answer must be one of the choices.")
        if self.kind != AnswerKind.NUMERIC and self.units:
            out.append("Units apply to numeric answers only.")
        return out
