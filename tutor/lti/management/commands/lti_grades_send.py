"""Send LMS scores that changed (and retry failed ones whose back-off is over).

Run it every minute or so (cron, a systemd timer), or keep it running with ``--loop SECONDS``.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from tutor.lti import services
from tutor.lti.models import GradeSync


class Command(BaseCommand):
    help = "Compute the LMS scores marked as changed and send them (Assignment and Grade Services)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", type=float, default=0.0, metavar="SECONDS",
                            help="Run again every SECONDS until stopped (default: once).")
        parser.add_argument("--limit", type=int, default=500, help="At most this many scores per run.")
        parser.add_argument("--all", action="store_true",
                            help="First mark every score for computing (mastery fades with time).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            GradeSync.objects.update(dirty=True)
        while True:
            due = min(GradeSync.objects.filter(dirty=True).count(), options["limit"])
            with tqdm(total=due, desc="LMS scores", disable=not due or options["verbosity"] < 1) as bar:
                run = services.grades_send_due(limit=options["limit"], progress=bar)
            self.stdout.write(f"sent {run.sent}, unchanged {run.unchanged}, failed {run.failed}, "
                              f"no gradebook {run.unsupported}")
            if not options["loop"]:
                return
            time.sleep(options["loop"])
