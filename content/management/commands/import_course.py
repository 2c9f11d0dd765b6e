from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from content import importers, packs


class Command(BaseCommand):
    help = (
        "Import a course: a course pack (JSON, the default), the Junyi exercise table (--format junyi) "
        "or MathDial records (--format mathdial). An invalid pack is rejected whole, with every "
        "problem listed, and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", choices=["pack", "junyi", "mathdial"], default="pack")
        parser.add_argument("--slug", help="Import under this course slug instead of the pack's own.")
        parser.add_argument("--owner", help="Username of the teacher who owns the imported course.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        owner = None
        if opts["owner"]:
            owner = get_user_model().objects.filter(username=opts["owner"]).first()
            if owner is None:
                raise CommandError(f"No user named {opts['owner']!r}")
        report = None
        try:
            if opts["format"] == "junyi":
                data, report = importers.junyi_pack(path, **({"slug": opts["slug"]} if opts["slug"] else {}))
            elif opts["format"] == "mathdial":
                data, report = importers.mathdial_pack(path, **({"slug": opts["slug"]} if opts["slug"] else {}))
            else:
                data = packs.pack_parse(path.read_bytes())
        except packs.PackError as exc:
            raise CommandError(f"{path}: {'; '.join(exc.problems)}") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if report is not None:
            for line in report.skipped:
                self.stdout.write(f"skipped: {line}")
            for line in report.notes:
                self.stdout.write(line)
        try:
            course = packs.import_pack(data, owner=owner, slug=opts["slug"])
        except packs.PackError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(exc.problems)} problem(s); nothing was imported.") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Imported course {course.slug!r}: {course.kcs.count()} KCs, "
            f"{course.items.count()} items."
        ))
