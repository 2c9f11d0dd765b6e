import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from content import packs
from content.models import Course


class Command(BaseCommand):
    help = "Export a course as a course pack (JSON; format in content/schema/course_pack.schema.json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("path", type=Path, help="Output file, or - for standard output.")

    def handle(self, *args: Any, **opts: Any) -> None:
        course = Course.objects.filter(slug=opts["slug"]).first()
        if course is None:
            raise CommandError(f"No course with slug {opts['slug']!r}")
        body = json.dumps(packs.export_pack(course=course), indent=2, ensure_ascii=False) + "\n"
        if str(opts["path"]) == "-":
            self.stdout.write(body, ending="")
            return
        tmp = opts["path"].with_suffix(opts["path"].suffix + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(opts["path"])
        self.stderr.write(f"Wrote {opts['path']}")
