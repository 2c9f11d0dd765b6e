"""Sync every class tied to an LMS course from the LMS's roster (Names and Role Provisioning)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from tutor.lti import services
from tutor.lti.models import ContextClass


class Command(BaseCommand):
    help = "Sync the rosters of the classes tied to LMS courses."

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        links = list(ContextClass.objects.select_related("context__deployment__registration"))
        for link in tqdm(links, desc="LMS rosters", disable=options["verbosity"] < 1):
            try:
                report = services.roster_sync(context_class=link)
            except services.LmsServiceError as exc:
                failed += 1
                self.stderr.write(f"{link}: {exc}")
            else:
                self.stdout.write(f"{link}: {report.learners} learners, {report.instructors} instructors, "
                                  f"{report.removed} removed")
        if failed:
            self.stderr.write(f"{failed} of {len(links)} rosters failed")
