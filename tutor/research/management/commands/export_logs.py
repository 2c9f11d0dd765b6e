from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from content.models import Course
from tutor.research import exports
from tutor.research.models import ResearchGrant


def _day(option: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--{option} {value!r} is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = (
        "Export a course's pseudonymised interaction logs (consenting students only): "
        "datashop (tab-delimited transactions), csv or parquet (the same rows), jsonl (every dialogue turn). "
        "Columns are documented in tutor/research/exports.py."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, help=f"One of: {', '.join(exports.FORMATS)}.")
        parser.add_argument("--course", required=True, help="Course slug.")
        parser.add_argument("--since", help="Only turns on or after this day (YYYY-MM-DD, UTC).")
        parser.add_argument("--until", help="Only turns before this day (YYYY-MM-DD, UTC; the day is excluded).")
        parser.add_argument("--out", required=True, type=Path, help="File to write (replaced when complete).")
        parser.add_argument(
            "--identifiable-for", metavar="RESEARCHER",
            help="Add usernames, for this researcher only: refused unless their grant on the course is identifiable.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        fmt = opts["format"]
        if fmt not in exports.FORMATS:
            raise CommandError(f"Unknown format {fmt!r}; choose one of {', '.join(exports.FORMATS)}.")
        course = Course.objects.filter(slug=opts["course"]).first()
        if course is None:
            raise CommandError(f"No course with slug {opts['course']!r}.")
        since, until = _day("since", opts["since"]), _day("until", opts["until"])
        if since is not None and until is not None and since >= until:
            raise CommandError("--until must be after --since.")
        identifiable = False
        if opts["identifiable_for"]:
            grant = ResearchGrant.objects.filter(researcher__username=opts["identifiable_for"], course=course).first()
            if grant is None or not grant.identifiable:
                raise CommandError(
                    f"{opts['identifiable_for']!r} holds no identifiable grant on {course.slug}: "
                    "exports for them stay pseudonymised (an administrator sets the grant in the admin)."
                )
            identifiable = True
        out = Path(opts["out"])
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder.")
        unit = "turns" if fmt == "jsonl" else "rows"
        n = exports.export_write(
            fmt=fmt, course=course, path=out, since=since, until=until, identifiable=identifiable,
            wrap=lambda rows: tqdm(rows, unit=unit, desc=course.slug, disable=opts["verbosity"] < 1),
        )
        self.stdout.write(f"Wrote {n} {unit} to {out}.")
