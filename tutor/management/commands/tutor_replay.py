"""Scripted students through the real tutoring engine, with the configured language model, and a
report per conversation: the teacher moves, the share of replies the model phrased (sent as the
model wrote them, past the guard), whether every "why" got an explanation, and any reply sent twice.

Script: JSON Lines, one conversation per line::

    {"item": "<slug or source id>", "student": ["first message", "/next", ...],
     "name": "...", "course": "<slug>", "settings": {"allow_telling": false},
     "expect": {"moves": ["hint", null, ...], "includes": [...], "excludes": [...],
                "next_item_differs": true}}

Only ``item`` and ``student`` are required. ``/next`` presses Next item (the planner's choice; the
conversation goes on there). ``settings`` overrides the course's dialogue settings for this
conversation. ``expect`` is checked against the moves, which the policy chooses whatever the model:
the same script serves the scripted backend and a real one.
"""

import json
import re
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from content.models import Course, Item
from tutor import engine
from tutor.guard import unshowable
from tutor.models import Turn, TutoringSession
from tutor.planning import services as planning

NEXT_ITEM = "/next"
# An independent reading of "is this a why-question?", so the report does not grade the classifier
# by itself.
WHY = re.compile(r"\bwhy\b|\bhow\s+come\b", re.IGNORECASE)
EXPLAIN = "explain_concept"


def _said(text: str) -> str:
    return " ".join(text.split()).casefold()


def model_phrased(turn: Turn) -> bool:
    """Was this reply sent as the model wrote it (past the guard), rather than the authored text?"""
    return (turn.state == Turn.State.COMPLETE and turn.backend not in ("", engine.AUTHORED_ONLY)
            and bool((turn.guard or {}).get("passed")))


class Command(BaseCommand):
    help = (
        "Run scripted students through the real tutoring engine with the configured LLM backend and report, "
        'per conversation, the moves, the model-phrased share and whether every "why" got an explanation. '
        'Each script line: {"item": "<slug or source id>", "student": ["first message", "/next", ...]} '
        '(optional: "name", "course", "settings", "expect").'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--course", help="Course slug for lines that do not name one.")
        parser.add_argument("--script", required=True, type=Path, help="JSONL script.")
        parser.add_argument("--json", dest="out", type=Path, help="Write the transcripts here (default: stdout).")
        parser.add_argument("--student", default="replay-student",
                            help="Username prefix of the scripted students (one per conversation).")
        parser.add_argument("--candidates", type=int, default=2, help="LLM candidates per tutor turn.")

    def handle(self, *args: Any, **opts: Any) -> None:
        script = Path(opts["script"])
        out = Path(opts["out"]) if opts["out"] else None
        if not script.is_file():
            raise CommandError(f"{script}: no such file")
        conversations = [self._parse(script, lineno, line, opts["course"])
                         for lineno, line in enumerate(script.read_text(encoding="utf-8").splitlines(), start=1)
                         if line.strip()]
        results = []
        for n, (entry, course, item) in enumerate(conversations, start=1):
            student, _ = get_user_model().objects.get_or_create(username=f"{opts['student']}-{n}")
            results.append(self._converse(entry, course, item, student, candidates=opts["candidates"]))
        body = json.dumps(results, indent=2, ensure_ascii=False)
        if out:
            out.write_text(body + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {len(results)} transcripts to {out}")
            self.stdout.write(self._report(results))
        else:
            self.stdout.write(body)
            self.stderr.write(self._report(results))

    def _parse(self, script: Path, lineno: int, line: str, default_course: str | None) -> tuple[
            dict[str, Any], Course, Item]:
        where = f"{script}:{lineno}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{where}: not JSON ({exc.msg})") from exc
        if (not isinstance(entry, dict) or not isinstance(entry.get("item"), str)
                or not isinstance(entry.get("student"), list)
                or not all(isinstance(m, str) for m in entry["student"])):
            raise CommandError(f'{where}: expected {{"item": str, "student": [str, ...]}}')
        settings = entry.get("settings") or {}
        if not isinstance(settings, dict) or set(settings) - set(engine.POLICY_OVERRIDES):
            raise CommandError(f"{where}: settings may set only {', '.join(engine.POLICY_OVERRIDES)}")
        slug = entry.get("course") or default_course
        if not slug:
            raise CommandError(f"{where}: no course (give --course or a \"course\" on the line)")
        course = Course.objects.filter(slug=slug).first()
        if course is None:
            raise CommandError(f"{where}: no course with slug {slug!r}")
        item = Item.objects.filter(course=course).filter(Q(slug=entry["item"]) | Q(source_id=entry["item"])).first()
        if item is None:
            raise CommandError(f"{where}: no item {entry['item']!r} in {course.slug}")
        return entry, course, item

    def _converse(self, entry: dict[str, Any], course: Course, item: Item, student: Any, *,
                  candidates: int) -> dict[str, Any]:
        session = self._fresh_session(student, item)
        sessions = [session]
        overrides = entry.get("settings") or None
        for message in entry["student"]:
            if message.strip() == NEXT_ITEM:
                nxt, _reason = planning.item_next(student=student, course=course)
                if nxt is None:
                    break
                session = engine.session_start(student=student, item=nxt)
                sessions.append(session)
                continue
            started = time.perf_counter()
            plan = engine.turn_take(session_id=session.pk, text=message, policy_overrides=overrides)
            engine.reply_generate(plan=plan, candidates=candidates)
            Turn.objects.filter(pk=plan.student_turn_id).update(
                latency_ms=round((time.perf_counter() - started) * 1000, 2))
        turns: list[dict[str, Any]] = []
        for s in sessions:
            if turns:
                turns.append({"role": "action", "text": NEXT_ITEM, "item": s.item.slug})
            turns += [
                {"role": t.role, "text": t.text, "move": t.move, "mathdial": t.mathdial_move,
                 "hint_level": t.hint_level, "released_answer": t.released_answer, "guard": t.guard,
                 "state": t.state, "backend": t.backend, "latency_ms": t.latency_ms,
                 "model_phrased": model_phrased(t) if t.role == Turn.Role.TUTOR and t.reply_to_id else None}
                for t in s.turns.order_by("seq")
            ]
        result = {"name": entry.get("name", entry["item"]), "course": course.slug, "item": entry["item"],
                  "session": session.pk, "sessions": [s.pk for s in sessions],
                  "items": [s.item.slug for s in sessions], "turns": turns}
        result["summary"] = summarise(turns)
        result["problems"] = expectation_problems(entry.get("expect") or {}, result)
        return result

    @staticmethod
    def _fresh_session(student: Any, item: Item) -> TutoringSession:
        session = engine.session_start(student=student, item=item)
        session.status = TutoringSession.Status.FINISHED  # a fresh session for every conversation
        session.save(update_fields=["status"])
        return engine.session_start(student=student, item=item)

    @staticmethod
    def _report(results: list[dict[str, Any]]) -> str:
        lines = []
        for r in results:
            s = r["summary"]
            whys = f"{s['whys_explained']}/{s['whys']}" if s["whys"] else "-"
            lines.append(
                f"{r['name']}: moves {' '.join(s['moves'])}; model-phrased {s['model_phrased']}/{s['replies']} "
                f"({s['model_phrased_share']:.0%}); why explained {whys}"
                f"{' (every why)' if s['every_why_explained'] else ''}; repeated replies {s['repeated_replies']}"
                + (f"; PROBLEMS: {'; '.join(r['problems'])}" if r["problems"] else "")
            )
        replies = sum(r["summary"]["replies"] for r in results)
        phrased = sum(r["summary"]["model_phrased"] for r in results)
        whys = sum(r["summary"]["whys"] for r in results)
        explained = sum(r["summary"]["whys_explained"] for r in results)
        lines.append(
            f"{len(results)} conversations: model-phrased {phrased}/{replies} ({phrased / max(replies, 1):.0%}); "
            f"why explained {explained}/{whys}; repeated replies "
            f"{sum(r['summary']['repeated_replies'] for r in results)}; "
            f"conversations with problems {sum(1 for r in results if r['problems'])}"
        )
        return "\n".join(lines)


def summarise(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Per conversation: the tutor's moves in reply, how many replies the model phrased, the why
    questions and whether each got an explanation, and replies sent word for word before."""
    moves: list[str] = []
    replies = phrased = whys = explained = repeated = instructions = 0
    said: set[str] = set()
    for i, turn in enumerate(turns):
        if turn["role"] == Turn.Role.TUTOR:
            key = _said(turn["text"])
            repeated += key in said
            said.add(key)
            instructions += unshowable(turn["text"]) is not None
        if turn["role"] != Turn.Role.STUDENT:
            continue
        reply = turns[i + 1] if i + 1 < len(turns) and turns[i + 1]["role"] == Turn.Role.TUTOR else None
        moves.append(reply["move"] if reply else "")
        if reply is None:
            continue
        replies += 1
        phrased += bool(reply["model_phrased"])
        if WHY.search(turn["text"]):
            whys += 1
            explained += reply["move"] == EXPLAIN
    return {"moves": moves, "replies": replies, "model_phrased": phrased,
            "model_phrased_share": phrased / replies if replies else 0.0, "whys": whys, "whys_explained": explained,
            "every_why_explained": whys == explained, "repeated_replies": repeated,
            "instructions_shown": instructions}


def expectation_problems(expect: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Where the conversation went otherwise than its script expects (empty when it did not)."""
    moves = result["summary"]["moves"]
    problems = []
    wanted = expect.get("moves") or []
    for n, (want, got) in enumerate(zip(wanted, moves, strict=False), start=1):
        if want is not None and want != got:
            problems.append(f"reply {n}: expected {want}, got {got}")
    if len(wanted) > len(moves):
        problems.append(f"expected {len(wanted)} replies, got {len(moves)}")
    problems += [f"no {m} move" for m in expect.get("includes") or [] if m not in moves]
    problems += [f"a {m} move" for m in expect.get("excludes") or [] if m in moves]
    if expect.get("next_item_differs") and (len(result["items"]) < 2 or result["items"][1] == result["items"][0]):
        problems.append(f"Next item served {result['items'][1:] or 'nothing'} after {result['items'][0]}")
    if result["summary"]["instructions_shown"]:
        problems.append(f"{result['summary']['instructions_shown']} replies showed the model's instructions or markup")
    if result["summary"]["repeated_replies"]:
        problems.append(f"{result['summary']['repeated_replies']} replies repeated word for word")
    if not result["summary"]["every_why_explained"]:
        problems.append("a why-question without an explanation")
    return problems
