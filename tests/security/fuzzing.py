"""Shared settings for the property-based fuzz tests.

``FUZZ_EXAMPLES`` sets the number of inputs per target (CI runs a modest number; the documented long
run uses 10000). ``FUZZ_REPORT=PATH`` appends one JSON line per target with what was tried.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
# The suite's 300 s per-test timeout fits the CI form; a long run takes as long as it takes.
TIMEOUT = pytest.mark.timeout(300 if EXAMPLES <= 1000 else 0)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # per-input time is asserted explicitly, with a bound that tolerates shared machines
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)

# Pieces of hostile input, mixed into generated text.
HOSTILE = [
    "9**9**9**9", "10^10^10^10", "1e999999", "(" * 200, ")" * 50, "\\frac{", "\\frac{1}{", "}}}}", "$$", "$",
    "\x00", "\u202e", "\ufeff", "x" * 3000, "1/0", "0/0", "sqrt(-1)", "= = =", "x=3=4", "\\sqrt{\\sqrt{\\sqrt{",
    "<script>alert(1)</script>", "'; DROP TABLE tutor_turn; --", "%s%s%n", "{{7*7}}", "${7*7}", "NaN", "inf",
    "-0", "0x1F", "1_000", "١٢٣", "½", "3/4 m", "3.5 cm", "12 %", "a)", "b", "2", "x = 4", "4 = x",
]


@dataclass
class Tally:
    target: str
    examples: int = 0
    failures: int = 0
    accepted: int = 0  # inputs that took the success path (read, imported), not just a refusal
    max_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def timed(self, ms: float) -> None:
        self.examples += 1
        self.max_ms = max(self.max_ms, ms)
        if self.examples % 1000 == 0:  # a long run that is stopped still leaves its count
            self.write(partial=True)

    def write(self, partial: bool = False) -> None:
        path = os.environ.get("FUZZ_REPORT")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"target": self.target, "examples": self.examples, "failures": self.failures,
                                  "accepted": self.accepted,
                                  "max_ms_per_input": round(self.max_ms, 2),
                                  "seconds": round(time.perf_counter() - self.started, 1),
                                  "partial": partial}) + "\n")
