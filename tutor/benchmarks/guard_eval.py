"""The guard's evaluation on labelled data, and a scorer for JSONL files of tutor replies.

A benchmark: nothing at run time imports it. No Django needed::

    python -m tutor.benchmarks.guard_eval score IN.jsonl > OUT.jsonl
    python -m tutor.benchmarks.guard_eval evaluate [--mrbench PATH] [--cases PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from tutor.checking import CheckResult
from tutor.guard.guard import extract_quantities, guard_check


def final_answer(solution: str) -> str | None:
    """The final answer of a worked solution: after '####', after 'answer is', else its last number."""
    if "####" in solution:
        return solution.rsplit("####", 1)[1].strip() or None
    match = re.search(r"answer is[:\s]*([^\n]+?)\s*\.?\s*$", solution, re.I | re.M)
    if match:
        return match[1].strip()
    quantities = [q for q in extract_quantities(solution) if not q.part and not q.word]
    return quantities[-1].text if quantities else None


def _context_text(context: Any) -> str:
    if isinstance(context, str):
        return context
    if isinstance(context, list):
        return "\n".join(
            str(turn.get("content", turn.get("text", ""))) if isinstance(turn, dict) else str(turn) for turn in context
        )
    return json.dumps(context)


def score_record(record: dict[str, Any]) -> dict[str, Any]:
    """Score one ``{"context", "response", "answer"}`` record (no authored move: checks 1, 2, 4)."""
    answer_text = record.get("answer")
    answer = final_answer(str(answer_text)) if answer_text not in (None, "") else None
    verdict = guard_check(
        str(record.get("response", "")),
        answer=answer,
        released=False,
        authored_text="",
        allowed_numbers=[_context_text(record.get("context", ""))],
        move="",
    )
    return {**record, "reveals_answer": verdict.reveals_answer, "score": verdict.score, "reasons": verdict.reasons}


class InputError(Exception):
    pass


def _read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or "response" not in record:
                raise InputError(f"{path}: line {number}: expected an object with a 'response' field")
            yield number, record


def _precision_recall(pairs: list[tuple[bool, bool]]) -> dict[str, float | int]:
    tp = sum(1 for label, predicted in pairs if label and predicted)
    fp = sum(1 for label, predicted in pairs if not label and predicted)
    fn = sum(1 for label, predicted in pairs if label and not predicted)
    return {
        "n": len(pairs),
        "positives": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else float("nan"),
        "recall": round(tp / (tp + fn), 4) if tp + fn else float("nan"),
    }


def _last_attempt(case: dict[str, Any]) -> CheckResult | None:
    """A case's ``last_attempt``: ``{"status": "incorrect", "parsed": "42"}``, as the checker gave it."""
    attempt = case.get("last_attempt")
    if not isinstance(attempt, dict):
        return None
    return CheckResult(status=attempt["status"], parsed=str(attempt.get("parsed", "")),
                       partial=bool(attempt.get("partial", False)))


def evaluate_cases(path: Path) -> dict[str, Any]:
    """Precision/recall of ``reveals_answer`` on hand-labelled cases, and of rejecting a reply
    (not ``passed``) where cases label that too."""
    pairs: list[tuple[bool, bool]] = []
    rejected: list[tuple[bool, bool]] = []
    passed_agree = passed_n = 0
    misses: list[str] = []
    for _, case in _read_jsonl(str(path)):
        verdict = guard_check(
            case["response"],
            answer=case.get("answer"),
            answer_forms=case.get("answer_forms", ()),
            released=case.get("released", False),
            authored_text=case.get("authored_text", ""),
            allowed_numbers=case.get("allowed", ()),
            move=case.get("move", ""),
            last_attempt=_last_attempt(case),
        )
        pairs.append((bool(case["reveals_answer"]), verdict.reveals_answer))
        disagrees = bool(case["reveals_answer"]) != verdict.reveals_answer
        if "passed" in case:
            passed_n += 1
            passed_agree += verdict.passed == bool(case["passed"])
            rejected.append((not case["passed"], not verdict.passed))
            disagrees = disagrees or verdict.passed != bool(case["passed"])
        if disagrees:
            misses.append(case.get("id", "?"))
    return {
        **_precision_recall(pairs),
        "passed_accuracy": round(passed_agree / passed_n, 4) if passed_n else None,
        "rejected": _precision_recall(rejected),
        "disagreements": misses,
    }


def _literal_contains(response: str, answer: Fraction) -> bool:
    """The MRBench proxy label: the response writes the answer's number in digits (1,000 / 35.00 ok)."""
    for match in re.finditer(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d*\.?\d+", response):
        if Fraction(match.group(0).replace(",", "")) == answer:
            return True
    return False


def evaluate_mrbench(path: Path, answers: dict[str, str]) -> dict[str, Any]:
    """Precision/recall of ``reveals_answer`` on MRBench responses whose problem has a known answer."""
    data = json.loads(path.read_text(encoding="utf-8"))
    pairs: list[tuple[bool, bool]] = []
    fresh: list[tuple[bool, bool]] = []  # answer not yet written anywhere in the conversation
    conversations = 0
    for item in data:
        answer = answers.get(item["conversation_id"])
        if answer is None:
            continue
        conversations += 1
        value = Fraction(answer)
        for response in item["tutor_responses"].values():
            scored = score_record(
                {"context": item["conversation_history"], "response": response["response"], "answer": answer}
            )
            pair = (_literal_contains(response["response"], value), scored["reveals_answer"])
            pairs.append(pair)
            if not _literal_contains(item["conversation_history"], value):
                fresh.append(pair)
    return {
        "conversations": conversations,
        **_precision_recall(pairs),
        "answer_not_in_history": _precision_recall(fresh),
    }


# Final answers of the first 44 MathDial problems (in file order) of the MRBench v3 dev set, worked out by
# hand for this evaluation: the data set carries neither answers nor an answer-revealing dimension. Only
# these hand-derived numbers live here, never the data. Keyed by conversation_id.
MRBENCH_ANSWERS: dict[str, str] = {
    "221-362eb11a-f190-42a6-b2a4-985fafdcfa9e": "50",
    "4642-e2ccfa55-280b-421c-9245-25ff56e3f33e": "44",
    "2490-377791e8-3745-4eca-bea1-d07b6eb67afe": "34",
    "2771-097c0756-e6df-4b75-8fd2-19024c173cb7": "5",
    "3260-394d7d67-8e4d-4847-87bb-f792e382524f": "80",
    "3121-6e8e5a1f-707a-47bd-982d-2c2529101bce": "352",
    "3371-1a544434-fb2c-415c-ba29-658642b6d1e7": "30",
    "2672-c8c14096-d003-49fc-8aae-371660962a45": "625",
    "1691-e881a56e-3e20-41f6-a985-f0e3720a8d6b": "7",
    "1921-aa2a1875-8a27-425b-b4ce-1b17c887d041": "38",
    "2932-f970d360-6e6c-4dcb-9b4c-fdd967c9529e": "60",
    "2101-7dc9271a-54d5-470e-9008-42238b83b16d": "105",
    "2501-49e48d81-b2e9-4ca4-9cbb-26a562b85a63": "90",
    "2431-f3fc8f05-81ad-40b9-9af2-8e3b8310d700": "50",
    "5023-9b71a72e-a63d-4039-8d42-40d2c69a28ff": "352",
    "650-a64f6d3d-0455-437c-a636-bf3c53f43d6f": "300",
    "1042-d6c207d3-0fed-48b7-bcf9-915cac7be198": "92",
    "3912-5d9b1073-415e-4547-a3e2-b8f516b011e5": "840",
    "1340-aa89d11e-f7aa-46bd-83bb-88ce9b0a563c": "500",
    "2260-6b718b48-68de-418b-9441-fbdd7fccbd5d": "100",
    "4772-6a340ec8-6707-4903-a640-4c69252b7b0e": "5",
    "1851-08ac123e-7b26-49d1-be29-5ddf0f381018": "90",
    "5001-da37bcbf-83a8-46ba-9e29-e1ffb252af33": "20",
    "3300-9c560f13-aea7-4a4c-9bfd-98bd813dd7f3": "144",
    "3661-2ccdff5e-64ca-4a86-9c5e-d9406a11ec66": "36",
    "5922-199187ae-9fd4-4bb1-8422-625a2f2af303": "90",
    "3800-01b03aa8-5b0e-48a4-b120-9d0f0998811a": "24",
    "2822-2a69004c-035b-49b7-aab9-f2ab5fde4321": "430",
    "1901-3c9871d5-d06f-4c34-ae73-7894113994be": "25000",
    "2162-38ea7f4f-0d0c-411f-80ae-f2401b2fdeb8": "60",
    "3401-41717448-9da5-457a-99ee-b576076c0b53": "75",
    "572-2b7cc24b-1bf3-4ee3-a15d-506bcb80820b": "3",
    "5032-7e6f6017-7c1d-4232-b9cb-13a563f9bf01": "120",
    "1300-2497af18-aae6-4e21-b108-f74a151a590a": "34",
    "1531-0594284f-6fba-4de2-90d2-6bc046e19578": "25000",
    "2100-792311eb-f07a-4d12-8af3-699c087cb4de": "105",
    "3102-2442b7aa-e4d6-4d00-8544-087b607f8b93": "7",
    "5660-b5fb8838-67fb-435f-a604-5bafe1a3b060": "140",
    "4982-cf85b39f-aa4e-47a9-b250-d1c4b2e6cb5d": "4625",
    "5860-7de903b2-d8bc-4a5f-bffd-f70249ce2be8": "19",
    "1071-0f303295-c78e-4510-aaaa-5430722c62c8": "500",
    "3730-50bc852e-d663-4882-b85e-470e9a8dafa2": "18",
    "4291-7dbb5341-a53b-440a-bcc1-bd1ebe282759": "100",
    "2242-738d97ed-11ae-45c1-bf85-06abf3459c3d": "2520000",
}

# The checkout sits beside the project's shared data folder (../shared).
_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MRBENCH = _ROOT.parent / "shared" / "data" / "dialogue" / "mrbench_v3_devset.json"
DEFAULT_CASES = _ROOT / "tests" / "tutor" / "data" / "guard_cases.jsonl"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tutor.benchmarks.guard_eval", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score replies in a JSONL file ('-' for stdin)")
    score.add_argument("input")
    evaluate = commands.add_parser("evaluate", help="precision/recall of reveals_answer on labelled data")
    evaluate.add_argument("--mrbench", type=Path, default=DEFAULT_MRBENCH)
    evaluate.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    args = parser.parse_args(argv)

    try:
        if args.command == "score":
            for _, record in _read_jsonl(args.input):
                sys.stdout.write(json.dumps(score_record(record), ensure_ascii=False) + "\n")
            return 0
        report: dict[str, Any] = {}
        if args.mrbench.is_file():
            report["mrbench_v3_dev"] = evaluate_mrbench(args.mrbench, MRBENCH_ANSWERS)
            report["mrbench_v3_dev"]["labels"] = (
                "MRBench v3 has no answer-revealing dimension; label = the response writes the problem's "
                "final answer (hand-solved) in digits"
            )
        else:
            report["mrbench_v3_dev"] = f"not found: {args.mrbench}"
        report["guard_cases"] = evaluate_cases(args.cases)
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
