from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from content.models import Course
from tutor import exports


class Command(BaseCommand):
    help = (
        "Export a course's pseudonymised interaction logs (consenting students only): "
        "datashop (tab-delimited transactions), csv or parquet (the same rows), jsonl (every dialogue turn)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, help=f"One of: {', '.join(exports.FORMATS)}.")
        parser.add_argument("--course", required=True, help="Course slug.")
        parser.add_argument("--since", help="Only turns on or after this day (YYYY-MM-DD, UTC).")
        parser.add_argument("--out", required=True, type=Path, help="File to write (replaced when complete).")

    def handle(self, *args: Any, **opts: Any) -> None:
        fmt = opts["format"]
        if fmt not in exports.FORMATS:
            raise CommandError(f"Unknown format {fmt!r}; choose one of {', '.join(exports.FORMATS)}.")
        course = Course.objects.filter(slug=opts["course"]).first()
        if course is None:
            raise CommandError(f"No course with slug {opts['course']!r}.")
        since = None
        if opts["since"]:
            try:
                since = date.fromisoformat(opts["since"])
            except ValueError as exc:
                raise CommandError(f"--since {opts['since']!r} is not a date (YYYY-MM-DD).") from exc
        out = Path(opts["out"])
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder.")
        unit = "turns" if fmt == "jsonl" else "rows"
        n = exports.export_write(
            fmt=fmt, course=course, path=out, since=since,
            wrap=lambda rows: tqdm(rows, unit=unit, desc=course.slug, disable=opts["verbosity"] < 1),
        )
        self.stdout.write(f"Wrote {n} {unit} to {out}.")
