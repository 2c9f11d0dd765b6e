import json
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from content.models import Course, Item
from tutor import engine
from tutor.models import Turn


class Command(BaseCommand):
    help = (
        "Run scripted students through the real tutoring engine with the configured LLM backend. "
        'Each script line: {"item": "<slug or source id>", "student": ["first message", ...]}.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--course", required=True, help="Course slug.")
        parser.add_argument("--script", required=True, type=Path, help="JSONL script.")
        parser.add_argument("--json", dest="out", type=Path, help="Write the transcripts here (default: stdout).")
        parser.add_argument("--student", default="replay-student", help="Username the scripted student uses.")
        parser.add_argument("--candidates", type=int, default=2, help="LLM candidates per tutor turn.")

    def handle(self, *args: Any, **opts: Any) -> None:
        course = Course.objects.filter(slug=opts["course"]).first()
        if course is None:
            raise CommandError(f"No course with slug {opts['course']!r}")
        opts["script"] = Path(opts["script"])
        opts["out"] = Path(opts["out"]) if opts["out"] else None
        if not opts["script"].is_file():
            raise CommandError(f"{opts['script']}: no such file")
        scripts = []
        for lineno, line in enumerate(opts["script"].read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CommandError(f"{opts['script']}:{lineno}: not JSON ({exc.msg})") from exc
            if (not isinstance(entry, dict) or not isinstance(entry.get("item"), str)
                    or not isinstance(entry.get("student"), list)
                    or not all(isinstance(m, str) for m in entry["student"])):
                raise CommandError(f'{opts["script"]}:{lineno}: expected {{"item": str, "student": [str, ...]}}')
            item = Item.objects.filter(course=course).filter(
                Q(slug=entry["item"]) | Q(source_id=entry["item"])).first()
            if item is None:
                raise CommandError(f"{opts['script']}:{lineno}: no item {entry['item']!r} in {course.slug}")
            scripts.append((entry, item))
        user_model = get_user_model()
        student, _ = user_model.objects.get_or_create(username=opts["student"])
        results = []
        for entry, item in scripts:
            session = engine.session_start(student=student, item=item)
            session.status = session.Status.FINISHED  # a fresh session for every script line
            session.save(update_fields=["status"])
            session = engine.session_start(student=student, item=item)
            for message in entry["student"]:
                started = time.perf_counter()
                plan = engine.turn_take(session_id=session.pk, text=message)
                engine.reply_generate(plan=plan, candidates=opts["candidates"])
                Turn.objects.filter(pk=plan.student_turn_id).update(
                    latency_ms=round((time.perf_counter() - started) * 1000, 2))
            turns = [
                {"role": t.role, "text": t.text, "move": t.move, "mathdial": t.mathdial_move,
                 "hint_level": t.hint_level, "released_answer": t.released_answer, "guard": t.guard,
                 "state": t.state, "latency_ms": t.latency_ms}
                for t in session.turns.order_by("seq")
            ]
            results.append({"item": entry["item"], "session": session.pk, "turns": turns})
        body = json.dumps(results, indent=2, ensure_ascii=False)
        if opts["out"]:
            opts["out"].write_text(body + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {len(results)} transcripts to {opts['out']}")
        else:
            self.stdout.write(body)
