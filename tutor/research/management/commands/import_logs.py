from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tutor.research import log_import


class Command(BaseCommand):
    help = (
        "Import a tab-delimited interaction log (DataShop transactions or ASSISTments) into the learner "
        "model's training data. The whole file is checked first (bad rows are listed with their line "
        "numbers and nothing is written), then imported in one transaction; re-importing adds nothing. "
        "Run fit_tracing afterwards to fit the model. See tutor/research/log_import.py for how external students, "
        "items and KCs are mapped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The log file (UTF-8, tab-delimited, header first).")
        parser.add_argument("--format", default="datashop", help=f"One of: {', '.join(log_import.FORMATS)}.")
        parser.add_argument("--course", help="Course slug (required for ASSISTments; DataShop falls back to "
                                             "each row's Level (Course)).")
        parser.add_argument("--create", action="store_true", help="Create the course(s) if they do not exist.")
        parser.add_argument("--source", help="Names the log's students (log-<source>-<id>); default: the format.")
        parser.add_argument("--kc-model", help="DataShop: which KC (<model>) column to use (default: the first).")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            report = log_import.log_import(
                path=opts["path"], fmt=opts["format"], course=opts["course"], create_courses=opts["create"],
                source=opts["source"], kc_model=opts["kc_model"],
                wrap=lambda rows, phase: tqdm(rows, desc=phase, unit="rows", disable=opts["verbosity"] < 1),
            )
        except log_import.LogImportError as exc:
            raise CommandError(f"Nothing was imported from {opts['path']}:\n{exc}") from exc
        for slug in report.courses_created:
            self.stdout.write(f"Created course {slug}.")
        self.stdout.write(
            f"Read {report.rows} rows: {report.answers} answers ({report.created} new, {report.existing} already "
            f"imported), {report.skipped_hints} hint requests and {report.skipped_other} rows without an outcome "
            f"skipped. {report.matched_items} answers matched an item of the course; created "
            f"{report.learners_created} students and {report.kcs_created} KCs."
        )
