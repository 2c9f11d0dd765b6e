"""Time the teacher's pages on a generated class (default: 200 students over 50 skills).

The data goes into a fresh, migrated test database (for SQLite a temporary file, like the real
deployment's; for PostgreSQL ``test_<name>``), destroyed at the end, so the benchmark never touches
the development or production data. Pages
are requested through Django's test client (URL routing, middleware, selectors, templates), after
one warm-up request each; the figures are wall-clock milliseconds per request.

    .venv/bin/python manage.py teacher_bench [--students 200] [--kcs 50] [--answers 60] [--repeat 7] [--json OUT]
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from tqdm import tqdm

from content.models import Course, Hint, Item, KnowledgeComponent, Misconception, Prerequisite, Step
from tracing.models import LearnerKCState, LearnerTraits, Observation
from tutor import roles
from tutor.models import Attempt, Turn, TutoringSession
from tutor.services import role_groups_ensure
from tutor.teaching.models import Classroom, Enrolment

WRONG = ["1/6", "2/6", "5", "0.5", "7/12", "x = 3", "12", "-4"]
MISTAKE_MOVES = ["probe", "hint", "hint", "misconception_feedback", "hint", "bottom_out"]


class QueryCounter:
    """Counts the SQL statements run (whatever DEBUG says)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.n += 1
        return execute(sql, params, many, context)


def page_time(request: Callable[[], Any], *, repeat: int, profile: bool = False,
              expect: int = 200) -> dict[str, Any]:
    """Wall-clock and CPU figures of ``request()`` (a test-client call) over ``repeat`` requests after
    one warm-up, and the SQL statements one request runs."""
    warm = request()
    if warm.status_code != expect:
        raise RuntimeError(f"{getattr(warm, 'request', {}).get('PATH_INFO', '?')} answered {warm.status_code}")
    times, cpu = [], []
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        request()
    response = warm
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        response = request()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(request)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    return {
        "median_ms": round(statistics.median(times), 1),
        # CPU time of this process: what the page costs when the machine is shared.
        "cpu_median_ms": round(statistics.median(cpu), 1),
        "min_ms": round(times[0], 1),
        "max_ms": round(times[-1], 1),
        "p90_ms": round(times[min(len(times) - 1, math.ceil(0.9 * len(times)) - 1)], 1),
        "queries": counter.n,
        "bytes": len(response.content),
    }


class Command(BaseCommand):
    help = "Benchmark the teacher's pages on a generated class; prints milliseconds per page (and writes JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--students", type=int, default=200)
        parser.add_argument("--kcs", type=int, default=50)
        parser.add_argument("--items-per-kc", type=int, default=2)
        parser.add_argument("--answers", type=int, default=60, help="Answers per student.")
        parser.add_argument("--repeat", type=int, default=7, help="Timed requests per page.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", dest="out", type=Path, help="Write the figures here.")
        parser.add_argument("--profile", metavar="PAGE",
                            help="Print a cProfile of one request of this page.")
        parser.add_argument("--phases", action="store_true",
                            help="Also time the selectors alone (without the request and the template).")

    def handle(self, *args: Any, **opts: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="teacher-bench-") as tmp:
            if connection.vendor == "sqlite":
                connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tmp) / "bench.sqlite3")
            old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            # As Django's test runner does: keep one connection for the whole run rather than
            # closing it after every request.
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
            try:
                result = self._run(opts)
            finally:
                request_started.connect(close_old_connections)
                request_finished.connect(close_old_connections)
                connection.creation.destroy_test_db(old_name, verbosity=0)
        self._report(result)
        if opts["out"]:
            Path(opts["out"]).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {opts['out']}")

    # -----------------------------------------------------------------------------------------

    def _generate(self, rng: random.Random, opts: dict[str, Any]) -> dict[str, Any]:
        """The class the pages are timed on (``site_bench`` adds its researcher and log-in to it)."""
        return class_generate(rng, opts)

    def _run(self, opts: dict[str, Any]) -> dict[str, Any]:
        rng = random.Random(opts["seed"])
        started = time.perf_counter()
        world = self._generate(rng, opts)
        # Fresh tables have no planner statistics (PostgreSQL's autovacuum would gather them soon
        # after a real deployment's writes); without them, plans for a few joins go badly wrong.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        generated = time.perf_counter() - started
        client = Client()
        client.force_login(world["teacher"])
        classroom, course = world["classroom"], world["course"]
        busiest = world["busiest"]
        pages = {
            "class": reverse("teacher-class", args=[classroom.pk]),
            "student": reverse("teacher-student", args=[classroom.pk, busiest]),
            "session": reverse("teacher-session", args=[classroom.pk, busiest, world["longest_session"]]),
            "class_items": reverse("teacher-class-items", args=[classroom.pk]),
            "course_items": reverse("teacher-course-items", args=[course.slug]),
            "course_settings": reverse("teacher-course-settings", args=[course.slug]),
            "home": reverse("teacher-home"),
        }
        figures: dict[str, Any] = {}
        for name, url in pages.items():
            figures[name] = {"url": url, **page_time(functools.partial(client.get, url), repeat=opts["repeat"],
                                                      profile=opts.get("profile") == name)}
        phases: dict[str, float] = {}
        if opts.get("phases"):
            from tutor.teaching import selectors as sel

            student = get_user_model().objects.get(pk=busiest)
            for name, call in {
                "class_overview": lambda: sel.class_overview(classroom=classroom),
                "mastery_bulk": lambda: sel.mastery_bulk(
                    course=course, learner_ids=list(classroom.enrolments.values_list("student_id", flat=True)),
                    kc_ids=list(course.kcs.values_list("id", flat=True)), at=[timezone.now()]),
                "item_stats": lambda: sel.item_stats(course=course, classroom=classroom),
                "student_transcripts": lambda: sel.student_transcripts(course=course, student=student),
                "student_mastery_history": lambda: sel.student_mastery_history(course=course, student=student),
            }.items():
                samples = []
                for _ in range(opts["repeat"]):
                    c0 = time.process_time()
                    call()
                    samples.append((time.process_time() - c0) * 1000)
                phases[name] = round(statistics.median(samples), 1)
        return {
            # Wall-clock figures depend on what else the machine is doing: say what it was doing.
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "phases_cpu_ms": phases,
            "database": connection.vendor,
            "students": opts["students"],
            "kcs": opts["kcs"],
            "items": opts["kcs"] * opts["items_per_kc"],
            "answers_per_student": opts["answers"],
            "rows": world["rows"],
            "repeat": opts["repeat"],
            "generate_seconds": round(generated, 1),
            "pages": figures,
        }

    def _report(self, result: dict[str, Any]) -> None:
        if not result:
            return
        self.stdout.write(
            f"{result['students']} students x {result['kcs']} KCs, {result['items']} items, "
            f"{result['answers_per_student']} answers per student ({result['database']}); rows: {result['rows']}"
        )
        self.stdout.write(f"wall-clock ms per request over {result['repeat']} requests (cpu: this process's CPU time); "
                          f"{result['cpus']} CPUs, load average {result['load_average_1m']}")
        self.stdout.write(f"{'page':<16}{'median':>9}{'p90':>9}{'min':>9}{'max':>9}{'cpu':>9}{'queries':>9}{'kB':>8}")
        if result.get("phases_cpu_ms"):
            self.stdout.write("selectors alone, median CPU ms: " + ", ".join(
                f"{k} {v}" for k, v in result["phases_cpu_ms"].items()))
        for name, f in result["pages"].items():
            self.stdout.write(f"{name:<16}{f['median_ms']:>9.1f}{f['p90_ms']:>9.1f}{f['min_ms']:>9.1f}"
                              f"{f['max_ms']:>9.1f}{f['cpu_median_ms']:>9.1f}{f['queries']:>9}"
                              f"{f['bytes'] / 1024:>8.0f}")


def class_generate(rng: random.Random, opts: dict[str, Any]) -> dict[str, Any]:
    """A course of ``opts["kcs"]`` skills (a chain of prerequisites) and ``opts["items_per_kc"]`` items
    per skill, its teacher, and a class of ``opts["students"]`` students with ``opts["answers"]``
    answers each, their sessions, turns, observations and learner states. Also seeds the browser
    tests' large class (tests/e2e/test_teacher_pages.py)."""
    from tracing.psikt.online import OnlineModel

    user_model = get_user_model()
    tag = f"bench{rng.randrange(10**8):08d}"
    groups = role_groups_ensure()
    teacher = user_model.objects.create(username=f"{tag}-teacher", is_staff=True)
    teacher.groups.add(groups[roles.TEACHER])
    course = Course.objects.create(slug=tag, title=f"Benchmark {tag}", owner=teacher)
    kcs = KnowledgeComponent.objects.bulk_create(
        KnowledgeComponent(course=course, slug=f"kc-{i}", name=f"Skill {i:02d} of the benchmark", position=i)
        for i in range(opts["kcs"])
    )
    Prerequisite.objects.bulk_create(
        Prerequisite(prerequisite=kcs[i - 1], dependent=kcs[i], strength=0.8) for i in range(1, len(kcs))
    )
    items = Item.objects.bulk_create(
        Item(course=course, slug=f"item-{i}", title=f"Item {i}", statement="Compute.", position=i,
             difficulty=1 + i % 5)
        for i in range(opts["kcs"] * opts["items_per_kc"])
    )
    item_kcs = {item.pk: [kcs[i % len(kcs)]] + ([kcs[(i + 1) % len(kcs)]] if i % 3 == 0 else [])
                for i, item in enumerate(items)}
    for item in items:
        item.kcs.set(item_kcs[item.pk])
    steps = Step.objects.bulk_create(Step(item=item, prompt="What is it?", answer_kind="expression", answer="3/4")
                                     for item in items)
    Hint.objects.bulk_create(Hint(step=s, position=p, text=f"Hint {p + 1}") for s in steps for p in range(3))
    Misconception.objects.bulk_create(Misconception(step=s, name="adds denominators", pattern="2/6",
                                                    feedback="Did you add the bottoms?") for s in steps)
    students = user_model.objects.bulk_create(
        user_model(username=f"{tag}-s{i:03d}", password="!") for i in range(opts["students"])
    )
    students_group = groups[roles.STUDENT]
    students_group.user_set.add(*students)
    classroom = Classroom.objects.create(course=course, name="Benchmark class")
    classroom.teachers.add(teacher)
    Enrolment.objects.bulk_create(Enrolment(classroom=classroom, student=s) for s in students)

    now = timezone.now()
    step_of = {s.item_id: s for s in steps}
    sessions: list[TutoringSession] = []
    plan: list[tuple[TutoringSession, Any, Item, list[bool]]] = []
    for student in students:
        left = opts["answers"]
        skill = rng.gauss(0, 1)
        while left > 0:
            item = rng.choice(items)
            n = min(left, rng.randint(1, 4))
            left -= n
            outcomes = [rng.random() < 1 / (1 + math.exp(-(skill + 0.6 * k))) for k in range(n)]
            session = TutoringSession(student=student, course=course, item=item, step=step_of[item.pk],
                                      status="finished" if outcomes[-1] else "active")
            sessions.append(session)
            plan.append((session, student, item, outcomes))
    TutoringSession.objects.bulk_create(sessions, batch_size=2000)
    turns: list[Turn] = []
    answer_turns: list[tuple[Turn, TutoringSession, Item, bool, str]] = []
    for session, _student, item, outcomes in tqdm(plan, desc="turns", disable=None):
        seq = 1
        turns.append(Turn(session=session, seq=seq, role="tutor", move="present", text="Let's work on this.",
                          item=item, step=step_of[item.pk]))
        hint = 0
        for correct in outcomes:
            raw = "3/4" if correct else rng.choice(WRONG)
            seq += 1
            student_turn = Turn(session=session, seq=seq, role="student", text=raw, item=item,
                                step=step_of[item.pk])
            turns.append(student_turn)
            answer_turns.append((student_turn, session, item, correct, raw))
            move = "praise_advance" if correct else rng.choice(MISTAKE_MOVES)
            if move == "hint":
                hint = min(hint + 1, 3)
            seq += 1
            turns.append(Turn(session=session, seq=seq, role="tutor", move=move, text=f"Tutor: {move}",
                              hint_level=hint if move == "hint" else 0, released_answer=move == "bottom_out",
                              item=item, step=step_of[item.pk]))
    Turn.objects.bulk_create(turns, batch_size=5000)
    Attempt.objects.bulk_create(
        (Attempt(session=session, turn=turn, step=step_of[item.pk], raw=raw, parsed=raw,
                 outcome="correct" if correct else "incorrect", correct=correct)
         for turn, session, item, correct, raw in answer_turns),
        batch_size=5000,
    )
    observations = []
    for i, (_turn, session, item, correct, _raw) in enumerate(answer_turns):
        at = now - timedelta(minutes=len(answer_turns) - i)
        observations.append(Observation(
            learner_id=session.student_id, course=course, item=item, item_ref=str(item.pk),
            kcs=[k.pk for k in item_kcs[item.pk]], correct=correct, at=at, attempt_id=f"{tag}-{i}",
            mastery_after={str(k.pk): rng.random() for k in item_kcs[item.pk]},
        ))
    Observation.objects.bulk_create(observations, batch_size=5000)
    population = OnlineModel.default().population_traits()
    LearnerTraits.objects.bulk_create(
        LearnerTraits(learner=s, course=course, alpha_mean=0.1, alpha_sd=0.02, mu_mean=rng.gauss(0, 1),
                      mu_sd=0.5, sigma_mean=1.0, sigma_sd=0.1, gamma_mean=0.5, gamma_sd=0.1,
                      raw={"loc": [float(population[j] + rng.gauss(0, 0.3)) for j in range(3)],
                           "sd": [0.3, 0.3, 0.3]})
        for s in students
    )
    states = []
    for s in students:
        for k in kcs:
            if rng.random() < 0.85:
                mean = rng.gauss(0.3, 1.2)
                states.append(LearnerKCState(learner=s, kc=k, mean=mean, var=0.4, beta=1.0,
                                             rho=mean, eps=0.3,
                                             practised_at=now - timedelta(hours=rng.uniform(1, 24 * 30))))
    LearnerKCState.objects.bulk_create(states, batch_size=5000)
    answers_by_student: dict[int, int] = {}
    for _turn, session, _item, _correct, _raw in answer_turns:
        answers_by_student[session.student_id] = answers_by_student.get(session.student_id, 0) + 1
    busiest = max(answers_by_student, key=lambda k: answers_by_student[k])
    longest = max((len(outcomes), session.pk) for session, student, _item, outcomes in plan
                  if student.pk == busiest)
    return {
        "teacher": teacher, "course": course, "classroom": classroom, "longest_session": longest[1],
        "busiest": busiest,
        "rows": {"sessions": len(sessions), "turns": len(turns), "attempts": len(answer_turns),
                 "observations": len(observations), "kc_states": len(states)},
    }
