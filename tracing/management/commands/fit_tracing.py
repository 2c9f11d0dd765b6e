"""``python manage.py fit_tracing [--course SLUG] [--steps N] [--refit]``: fit the learner model;
``--refit`` is the continual refit on the answers since the last fit (``services.fit_refit_run``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from content.models import Course
from tracing import services
from tracing.models import Observation


class Command(BaseCommand):
    help = "Fit the PSI-KT learner model of one course (or every course with observations)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--course", help="Course slug; default: every course with observations.")
        parser.add_argument(
            "--steps", type=int, default=None, help="SVI steps (minibatches of windows); 500, or 100 with --refit."
        )
        parser.add_argument("--max-seconds", type=float, default=None, help="Stop a fit after this long.")
        parser.add_argument(
            "--refit",
            action="store_true",
            help="Continual refit: only learners with answers since the last fit move (--steps default 100).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["course"]:
            try:
                courses = [Course.objects.get(slug=options["course"])]
            except Course.DoesNotExist as exc:
                raise CommandError(f"no course with slug {options['course']!r}") from exc
        else:
            ids = Observation.objects.values_list("course_id", flat=True).distinct()
            courses = list(Course.objects.filter(pk__in=ids).order_by("slug"))
        if not courses:
            self.stdout.write("No course has observations yet; nothing to fit.")
            return
        for course in courses:
            if not Observation.objects.filter(course=course).exists():
                self.stdout.write(f"{course.slug}: no observations, skipped")
                continue
            steps = options["steps"] or (100 if options["refit"] else 500)
            with tqdm(total=steps, desc=course.slug, unit="step", file=self.stderr) as bar:

                def progress(step: int, total: int, loss: float, bar: tqdm = bar) -> None:
                    bar.update(step - bar.n)
                    bar.set_postfix(loss=f"{loss:.4f}")

                def encoder_progress(member: int, epoch: int, loss: float, filter_loss: float) -> None:
                    self.stderr.write(
                        f"  history encoder {member + 1}, epoch {epoch}: held-out log-loss {loss:.4f}"
                        f" (filter alone {filter_loss:.4f})"
                    )

                if options["refit"]:
                    fit = services.fit_refit_run(course=course, steps=steps, full_fit_steps=steps, progress=progress)
                    self.stdout.write(
                        f"{course.slug}: refit v{fit.version}: {fit.metrics.get('learners_refitted', 'all')} learners"
                        f" with new answers, in {fit.seconds:.1f}s"
                    )
                    continue
                fit = services.fit_run(
                    course=course,
                    steps=steps,
                    progress=progress,
                    max_seconds=options["max_seconds"],
                    encoder_progress=encoder_progress,
                )
            self.stdout.write(
                self.style.SUCCESS(
                    f"{course.slug}: fit v{fit.version} on {fit.n_observations} answers in {fit.seconds:.1f}s"
                )
            )
            enc = fit.metrics.get("encoder") or {}
            if enc.get("used"):
                self.stdout.write(
                    f"  history encoder kept: held-out log-loss {enc['held_out_log_loss_with_encoder']:.4f}, "
                    f"filter alone {enc['held_out_log_loss_filter']:.4f}"
                )
            elif enc:
                self.stdout.write(f"  history encoder not used: {enc.get('reason', '')}")
