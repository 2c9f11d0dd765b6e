"""What a teacher sees of their classes: read-side queries for the class view, the student view and
item statistics.

Designed for a class of a few hundred students over a course of dozens of KCs: every figure comes
from a handful of aggregate queries over the class (never one query per student), and the learner
model's predictions for the whole class are made in bulk (``mastery_bulk``) from the same stored
rows and the same numpy filter that ``tracing.selectors.mastery_predict`` uses for one learner.

Access rules live here too, so views and tests share them: a teacher sees only the classes they
teach (``Classroom.teachers``) and, in them, only enrolled students; item statistics of a course are
for the teachers who may edit it.
"""

# ruff: noqa: RUF001, RUF002, RUF003  -- Greek letters are the paper's notation (α, σ, γ, μ, ...).
from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db.models import Case, CharField, Count, F, Max, Min, Q, QuerySet, When
from django.utils import timezone

from content import selectors as content_selectors
from content.models import Course, Item, KnowledgeComponent, Misconception, Step
from tracing.selectors import mastery_after_answers, mastery_bulk, traits_for_learner
from tutor import roles
from tutor.courses.services import course_settings, settings_effective, settings_effective_bulk
from tutor.models import Attempt, Turn, TutoringSession
from tutor.teaching.models import Classroom, Enrolment

# "Stuck" signals over the recent window (tuned for a lesson or two a week).
RECENT_DAYS = 7
STUCK_HINTS = 6  # hints asked for in the window
STUCK_BOTTOM_OUTS = 2  # steps whose answer had to be shown, in the window
STUCK_NO_PROGRESS_ATTEMPTS = 5  # this many answers in the window and none right
STUCK_FALLING_KCS = 2  # practised skills whose predicted recall has since fallen below the review threshold
FALLING_MIN_AGE = timedelta(days=1)  # ...counted only a day or more after their last practice
# A cell is drawn as uncertain when the sd of its predicted chance of a correct answer is above this.
UNCERTAIN_SD = 0.12
RECENT_ACTIVITY = 15
WRONG_ANSWERS_SHOWN = 3


# ---------------------------------------------------------------------------------------------
# Access


def classroom_list_for_teacher(*, user: Any) -> QuerySet[Classroom]:
    """The classes this user teaches (all of them for a superuser; none for a non-teacher)."""
    qs = Classroom.objects.select_related("course").order_by("course__title", "name", "id")
    if getattr(user, "is_superuser", False):
        return qs
    if not roles.is_teacher(user):
        return qs.none()
    return qs.filter(teachers=user)


def classroom_for_teacher(*, user: Any, classroom_id: int) -> Classroom | None:
    return classroom_list_for_teacher(user=user).filter(pk=classroom_id).first()


def student_in_classroom(*, classroom: Classroom, student_id: int) -> Any | None:
    enrolment = Enrolment.objects.select_related("student").filter(classroom=classroom, student_id=student_id).first()
    return enrolment.student if enrolment is not None else None


def course_for_editor(*, user: Any, slug: str) -> Course | None:
    """The course if this user may edit it (its teachers and superusers)."""
    return content_selectors.course_list_editable(user=user).filter(slug=slug).first()


def _enrolled(classroom: Classroom) -> QuerySet[Enrolment, Any]:
    return Enrolment.objects.filter(classroom=classroom).values("student_id")


# ---------------------------------------------------------------------------------------------
# The learner model, in bulk


# ---------------------------------------------------------------------------------------------
# The class view


@dataclass(frozen=True)
class Cell:
    p_correct: float
    p_correct_sd: float
    mastery: float
    practised: bool

    @property
    def uncertain(self) -> bool:
        return self.p_correct_sd > UNCERTAIN_SD


@dataclass
class StudentSummary:
    id: int
    username: str
    # Per KC of the class view, in its order (plain lists: a class is thousands of cells).
    p_correct: list[float]
    p_correct_sd: list[float]
    mastery: list[float]
    practised: list[bool]
    attempts: int = 0  # answers to steps, ever
    correct: int = 0
    recent_attempts: int = 0
    recent_correct: int = 0
    recent_hints: int = 0
    recent_bottom_outs: int = 0  # steps whose answer was shown, in the window
    falling: list[str] = field(default_factory=list)  # practised KCs predicted to fall below review
    last_active: datetime | None = None
    mean_mastery: float = 0.0

    @property
    def cells(self) -> list[Cell]:
        return [Cell(*values) for values in zip(self.p_correct, self.p_correct_sd, self.mastery, self.practised,
                                                strict=True)]

    @property
    def reasons(self) -> list[str]:
        """Why this student looks stuck (empty: not stuck)."""
        out = []
        if self.recent_hints >= STUCK_HINTS:
            out.append(f"asked for {self.recent_hints} hints this week")
        if self.recent_bottom_outs >= STUCK_BOTTOM_OUTS:
            out.append(f"was shown the answer on {self.recent_bottom_outs} steps this week")
        if self.recent_attempts >= STUCK_NO_PROGRESS_ATTEMPTS and self.recent_correct == 0:
            out.append(f"{self.recent_attempts} answers this week, none right")
        if len(self.falling) >= STUCK_FALLING_KCS:
            out.append(f"predicted recall has fallen below the review threshold on {len(self.falling)} skills "
                       "practised before: " + ", ".join(self.falling[:4]) + ("…" if len(self.falling) > 4 else ""))
        return out


@dataclass(frozen=True)
class Activity:
    session_id: int
    student_id: int
    username: str
    item_title: str
    status: str
    updated: datetime
    attempts: int
    correct: int


@dataclass
class ClassOverview:
    classroom: Classroom
    kcs: list[tuple[int, str]]
    students: list[StudentSummary]
    stuck: list[StudentSummary]
    recent: list[Activity]
    review_threshold: float
    since: datetime


def class_overview(*, classroom: Classroom, now: datetime | None = None,
                   students: Collection[int] | None = None) -> ClassOverview:
    """Students × KCs from the learner model, who looks stuck and why, and recent sessions.

    ``students``: only these students' rows (and no recent sessions), for the live class view's
    updates; the figures are the same as on the whole page."""
    now = now or timezone.now()
    since = now - timedelta(days=RECENT_DAYS)
    course = classroom.course
    taught = course_settings(course)
    review = taught.review_threshold
    kcs = list(KnowledgeComponent.objects.filter(course=course).order_by("position", "id").values_list("id", "name"))
    kc_ids = [k for k, _ in kcs]
    kc_name = dict(kcs)
    enrolled = _enrolled(classroom)
    if students is not None:
        enrolled = enrolled.filter(student_id__in=list(students))
    roster_rows = Enrolment.objects.filter(classroom=classroom)
    if students is not None:
        roster_rows = roster_rows.filter(student_id__in=list(students))
    roster = list(
        roster_rows.order_by("student__username", "student_id").values_list("student_id", "student__username")
    )
    ids = [s for s, _ in roster]
    bulk = mastery_bulk(course=course, learner_ids=ids, kc_ids=kc_ids, at=[now],
                        mastery_threshold=taught.mastery_threshold)
    # Each student's own thresholds (an experiment condition may change them), as the tutor uses.
    thresholds = settings_effective_bulk(course=course, student_ids=ids)
    summaries: dict[int, StudentSummary] = {}
    for sid, username in roster:
        seen = bulk.practised.get(sid, {})
        long_ago = bulk.practised_before(sid, now - FALLING_MIN_AGE)
        p, sd = bulk.p_correct[now].get(sid, []), bulk.p_correct_sd[now].get(sid, [])
        mastery = bulk.mastery[now].get(sid, [])
        practised = [k in seen for k in kc_ids]
        # Forgotten since practice: answered a while ago, now predicted below the student's review threshold.
        review_own = thresholds[sid].review_threshold
        falling = [kc_name[k] for j, k in enumerate(kc_ids) if k in long_ago and p[j] < review_own]
        mean_mastery = sum(mastery) / len(mastery) if mastery else 0.0
        summaries[sid] = StudentSummary(sid, username, p, sd, mastery, practised, falling=falling,
                                        mean_mastery=mean_mastery)

    attempts = Attempt.objects.filter(
        session__course=course, session__sandbox=False, session__student_id__in=enrolled, subproblem__isnull=True
    )
    for row in attempts.values("session__student_id").annotate(
        n=Count("id"),
        ok=Count("id", filter=Q(correct=True)),
        rn=Count("id", filter=Q(created__gte=since)),
        rok=Count("id", filter=Q(created__gte=since, correct=True)),
        last=Max("created"),
    ):
        s = summaries[row["session__student_id"]]
        s.attempts, s.correct, s.recent_attempts, s.recent_correct = row["n"], row["ok"], row["rn"], row["rok"]
        s.last_active = row["last"]
    tutor_turns = Turn.objects.filter(
        session__course=course, session__sandbox=False, session__student_id__in=enrolled, role=Turn.Role.TUTOR,
        created__gte=since,
    )
    # One pass over the week's hints and bottom-outs: per session, the hints and the steps whose
    # answer was shown.
    per_session = tutor_turns.filter(move__in=("hint", "bottom_out")).values("session__student_id", "session_id")
    counted = per_session.annotate(h=Count("id", filter=Q(move="hint")),
                                   b=Count("step_id", distinct=True, filter=Q(move="bottom_out")))
    for student_id, hints, shown in counted.values_list("session__student_id", "h", "b"):
        summaries[student_id].recent_hints += hints
        summaries[student_id].recent_bottom_outs += shown
    # The latest sessions first, then counts for those alone (not for every session of the class).
    latest = [] if students is not None else list(
        TutoringSession.objects.filter(course=course, sandbox=False, student_id__in=enrolled)
        .order_by("-updated", "-id").values_list("id", flat=True)[:RECENT_ACTIVITY]
    )
    recent_rows = {
        s.pk: s for s in TutoringSession.objects.filter(pk__in=latest).select_related("student", "item").annotate(
            n_attempts=Count("attempts", filter=Q(attempts__subproblem__isnull=True)),
            n_correct=Count("attempts", filter=Q(attempts__subproblem__isnull=True, attempts__correct=True)),
        )
    }
    recent = [
        Activity(s.pk, s.student_id, s.student.username, s.item.title, s.get_status_display(), s.updated,
                 s.n_attempts, s.n_correct)
        for s in (recent_rows[pk] for pk in latest)
    ]
    ordered = [summaries[s] for s in ids]
    stuck = sorted((s for s in ordered if s.reasons), key=lambda s: (-len(s.reasons), s.username))
    return ClassOverview(classroom, kcs, ordered, stuck, recent, review, since)


# ---------------------------------------------------------------------------------------------
# The student view


@dataclass(frozen=True)
class Trait:
    name: str
    words: str  # in plain words, relative to the course's population
    detail: str  # the number behind it
    z: float  # standard deviations from the population mean (unconstrained scale)
    confident: bool  # False while the posterior is still close to the population prior


def _describe(z: float, high: str, low: str, typical: str) -> str:
    if z >= 1.0:
        return f"{high} (well above most learners)"
    if z >= 0.4:
        return high
    if z <= -1.0:
        return f"{low} (well below most learners)"
    if z <= -0.4:
        return low
    return typical


def student_traits(*, course: Course, student: Any) -> list[Trait]:
    """The learner model's traits of one student, in words, compared with the population the fit
    learned (the population's mean and spread on the model's unconstrained scale)."""
    est = traits_for_learner(course=course, learner=student)
    pop = est.population
    loc, sd, mu, mu_sd = est.loc, est.sd, est.mu_mean, est.mu_sd

    def z(value: float, centre: float, scale: float) -> float:
        return (value - centre) / scale if scale > 0 else 0.0

    za = z(loc[0], pop["log_alpha_loc"], pop["log_alpha_scale"])
    zs = z(loc[1], pop["log_sigma_loc"], pop["log_sigma_scale"])
    zg = z(loc[2], pop["logit_gamma_loc"], pop["logit_gamma_scale"])
    zm = z(mu, pop["mu_loc"], pop["mu_scale"])
    alpha = math.exp(loc[0])
    half_life = math.log(2) / alpha if alpha > 0 else float("inf")
    gamma = 1 / (1 + math.exp(-loc[2]))
    return [
        Trait("Forgetting", _describe(za, "forgets quickly", "retains well", "forgets at a typical rate"),
              f"knowledge fades halfway back to their usual level in about {half_life:.1f} days (α = {alpha:.3f}/day)",
              za, sd[0] < 0.9 * pop["log_alpha_scale"]),
        Trait("Overall level", _describe(zm, "generally strong", "generally finds this course hard",
                                         "about average for the course"),
              f"long-term level μ = {mu:+.2f} ± {mu_sd:.2f} (logit)", zm, mu_sd < 0.9 * pop["mu_scale"]),
        Trait("Prerequisites", _describe(zg, "benefits strongly from prerequisites",
                                         "learns new skills fairly independently of prerequisites",
                                         "builds on prerequisites as much as most learners"),
              f"prerequisite sensitivity γ = {gamma:.2f}", zg, sd[2] < 0.9 * pop["logit_gamma_scale"]),
        Trait("Consistency", _describe(zs, "knowledge swings from day to day", "knowledge is steady",
                                       "typically steady"),
              f"volatility σ = {math.exp(loc[1]):.2f}", zs, sd[1] < 0.9 * pop["log_sigma_scale"]),
    ]


MOVE_LABELS = {
    "present": "presents the problem",
    "praise_advance": "praise",
    "misconception_feedback": "misconception feedback",
    "probe": "probing question",
    "hint": "hint",
    "open_subproblem": "subproblem",
    "subproblem_praise": "subproblem solved",
    "explain_concept": "explains a concept",
    "bottom_out": "bottom-out: answer shown",
    "redirect": "back on topic",
    "encourage": "encourages",
}


@dataclass(frozen=True)
class TranscriptTurn:
    seq: int
    role: str
    text: str
    move: str
    hint_level: int
    released_answer: bool
    outcome: str  # attempts: correct / incorrect / unreadable
    misconception: str
    subproblem: bool
    created: datetime

    @property
    def move_label(self) -> str:
        return MOVE_LABELS.get(self.move, self.move.replace("_", " "))


@dataclass
class SessionTranscript:
    id: int
    item_title: str
    status: str
    created: datetime
    updated: datetime
    turns: list[TranscriptTurn]

    @property
    def hints(self) -> int:
        return sum(1 for t in self.turns if t.move == "hint")

    @property
    def bottom_outs(self) -> int:
        return sum(1 for t in self.turns if t.move == "bottom_out")

    @property
    def attempts(self) -> int:
        return sum(1 for t in self.turns if t.outcome and not t.subproblem)


def student_transcripts(*, course: Course, student: Any, session_id: int | None = None) -> list[SessionTranscript]:
    """Every session of the student in the course (or just ``session_id``), newest first, with every
    turn (two queries)."""
    qs = TutoringSession.objects.filter(course=course, student=student, sandbox=False)
    if session_id is not None:
        qs = qs.filter(pk=session_id)
    return _transcripts(qs)


def _transcripts(qs: QuerySet[TutoringSession]) -> list[SessionTranscript]:
    sessions = {
        s.pk: SessionTranscript(s.pk, s.item.title, s.get_status_display(), s.created, s.updated, [])
        for s in qs.select_related("item").order_by("-created", "-id")
    }
    turns = (
        Turn.objects.filter(session_id__in=list(sessions))
        .select_related("attempt__misconception")
        .order_by("session_id", "seq")
    )
    for t in turns:
        attempt = getattr(t, "attempt", None)
        sessions[t.session_id].turns.append(TranscriptTurn(
            seq=t.seq, role=t.role, text=t.text or t.authored_text, move=t.move, hint_level=t.hint_level,
            released_answer=t.released_answer,
            outcome=attempt.outcome if attempt is not None else "",
            misconception=attempt.misconception.name if attempt is not None and attempt.misconception else "",
            subproblem=bool(attempt is not None and attempt.subproblem_id), created=t.created,
        ))
    return list(sessions.values())


@dataclass(frozen=True)
class Struggle:
    item_id: int
    title: str
    attempts: int
    wrong: int
    hints: int
    bottom_outs: int
    solved: bool

    @property
    def score(self) -> int:
        return self.wrong + self.hints + 3 * self.bottom_outs


def student_struggles(*, course: Course, student: Any, limit: int = 10) -> list[Struggle]:
    """Items the student found hard (wrong answers, hints, answers shown), hardest first."""
    stats: dict[int, dict[str, Any]] = defaultdict(lambda: {"attempts": 0, "wrong": 0, "hints": 0, "bottom": 0,
                                                            "solved": False})
    for row in Attempt.objects.filter(session__course=course, session__student=student, session__sandbox=False,
                                      subproblem__isnull=True) \
            .values("session__item_id").annotate(n=Count("id"), wrong=Count("id", filter=Q(correct=False))):
        stats[row["session__item_id"]].update(attempts=row["n"], wrong=row["wrong"])
    turns = Turn.objects.filter(session__course=course, session__student=student, session__sandbox=False,
                                role=Turn.Role.TUTOR)
    for item_id, n in turns.filter(move="hint").values("session__item_id").annotate(n=Count("id")).values_list(
            "session__item_id", "n"):
        stats[item_id]["hints"] = n
    for item_id, _session, _step in turns.filter(move="bottom_out").values_list(
            "session__item_id", "session_id", "step_id").distinct():
        stats[item_id]["bottom"] += 1
    for item_id in TutoringSession.objects.filter(course=course, student=student, sandbox=False,
                                                  status=TutoringSession.Status.FINISHED).values_list("item_id",
                                                                                                      flat=True):
        if item_id in stats:
            stats[item_id]["solved"] = True
    titles = dict(Item.objects.filter(pk__in=list(stats)).values_list("id", "title"))
    out = [Struggle(i, titles.get(i, "?"), s["attempts"], s["wrong"], s["hints"], s["bottom"], s["solved"])
           for i, s in stats.items()]
    out = [s for s in out if s.score > 0]
    out.sort(key=lambda s: (-s.score, s.title))
    return out[:limit]


@dataclass(frozen=True)
class MasteryPoint:
    at: datetime
    mastery: float
    predicted: bool = False  # the last point: the model's prediction now (forgetting since)


def student_mastery_history(*, course: Course, student: Any, now: datetime | None = None
                            ) -> dict[int, list[MasteryPoint]]:
    """Per KC: mastery after each of the student's answers on it (``Observation.mastery_after``),
    then the model's prediction now."""
    now = now or timezone.now()
    history: dict[int, list[MasteryPoint]] = defaultdict(list)
    for kc, points in mastery_after_answers(learner=student, course=course).items():
        history[kc] = [MasteryPoint(at, value) for at, value in points]
    if history:
        kc_ids = sorted(history)
        taught = settings_effective(course=course, student=student, assign=False)
        predicted = mastery_bulk(course=course, learner_ids=[student.pk], kc_ids=kc_ids, at=[now],
                                 mastery_threshold=taught.mastery_threshold)
        for kc_id, mastery in zip(kc_ids, predicted.mastery[now][student.pk], strict=True):
            history[kc_id].append(MasteryPoint(now, mastery, predicted=True))
    return dict(history)


# ---------------------------------------------------------------------------------------------
# The preview sandbox: a teacher tries an item as a student would (TutoringSession.sandbox)


def item_for_sandbox(*, user: Any, item_id: int) -> Item | None:
    """The item, with its steps' hints and misconceptions, if ``user`` may edit its course."""
    item = content_selectors.item_for_preview_or_none(item_id=item_id)
    if item is None or not content_selectors.course_can_edit(user=user, course=item.course):
        return None
    return item


def sandbox_session_latest(*, teacher: Any, item: Item) -> TutoringSession | None:
    """The teacher's latest sandbox conversation on ``item``, finished or not."""
    return TutoringSession.objects.filter(student=teacher, item=item, sandbox=True).order_by("-id").first()


def sandbox_transcript(*, session: TutoringSession) -> SessionTranscript:
    """A sandbox conversation, turn by turn, with the moves the tutor chose and how answers were checked."""
    return _transcripts(TutoringSession.objects.filter(pk=session.pk, sandbox=True))[0]


# ---------------------------------------------------------------------------------------------
# Item statistics


# A wrong answer shown as maths (KaTeX) rather than as text: digits, single letters and operators only.
_MATHS_ANSWER = re.compile(r"[0-9A-Za-z\s+\-*/^().,=<>%]+")
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass
class WrongAnswer:
    answer: str
    count: int
    misconception: str  # the name of a misconception that covers it, "" when none does
    misconception_id: int | None
    partial: bool = False  # the checker found it partly right (e.g. the right number without its units)
    add_url: str = ""  # set by the view for teachers who may author the course
    students: int = 0  # how many students gave it

    @property
    def answer_short(self) -> str:
        return _short(self.answer, 80)

    @property
    def answer_shown(self) -> str:
        """The answer for the ``plain`` filter: a bare expression as maths, anything else as typed."""
        short = self.answer_short
        if "$" not in short and _MATHS_ANSWER.fullmatch(short) and not _WORD.search(short):
            return f"${short}$"
        return short

    @property
    def given(self) -> str:
        """How often, in words a teacher reads: "by 1 student", "3 times by 2 students"."""
        who = f"{self.students} student{'' if self.students == 1 else 's'}"
        return f"by {who}" if self.count == self.students else f"{self.count} times by {who}"


@dataclass
class StepStats:
    id: int
    position: int
    prompt: str
    attempts: int = 0
    first_tries: int = 0  # (session, step) pairs
    first_try_correct: int = 0
    bottom_outs: int = 0
    wrong_answers: list[WrongAnswer] = field(default_factory=list)

    @property
    def first_try_rate(self) -> float | None:
        return self.first_try_correct / self.first_tries if self.first_tries else None

    @property
    def first_try_pct(self) -> int | None:
        rate = self.first_try_rate
        return None if rate is None else round(rate * 100)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class ItemStats:
    id: int
    title: str
    sessions: int = 0
    hints: int = 0
    steps: list[StepStats] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return sum(s.attempts for s in self.steps)

    @property
    def first_tries(self) -> int:
        return sum(s.first_tries for s in self.steps)

    @property
    def first_try_correct(self) -> int:
        return sum(s.first_try_correct for s in self.steps)

    @property
    def first_try_rate(self) -> float | None:
        return self.first_try_correct / self.first_tries if self.first_tries else None

    @property
    def bottom_outs(self) -> int:
        return sum(s.bottom_outs for s in self.steps)

    @property
    def first_try_pct(self) -> int | None:
        rate = self.first_try_rate
        return None if rate is None else round(rate * 100)

    @property
    def hints_per_session(self) -> float | None:
        return self.hints / self.sessions if self.sessions else None


@lru_cache(maxsize=4096)
def _covering_misconception(spec: Any, answer: str, patterns: tuple[Any, ...]) -> int | None:
    from tutor.checking import AnswerSpecError, check_answer

    try:
        return check_answer(spec, answer, patterns).misconception_id
    except AnswerSpecError:
        return None


def item_stats(*, course: Course, classroom: Classroom | None = None) -> list[ItemStats]:
    """Per item and step of the course: sessions, answers, first-try success, hints, answers shown
    and the most common wrong answers with the misconception that covers each (the one recorded on
    the attempts, else one authored since that matches it now). ``classroom`` limits the figures
    to its students."""
    from tutor.checking import MisconceptionPattern

    sessions = TutoringSession.objects.filter(course=course, sandbox=False)  # a teacher's sandbox is no student's
    if classroom is not None:
        sessions = sessions.filter(student_id__in=_enrolled(classroom))
    attempts = Attempt.objects.filter(session__in=sessions.values("id"), subproblem__isnull=True)
    items = {i.pk: ItemStats(i.pk, i.title) for i in Item.objects.filter(course=course).order_by("position", "id")}
    steps: dict[int, StepStats] = {}
    step_rows: dict[int, Step] = {}
    for step in Step.objects.filter(item__course=course).order_by("item_id", "position", "id"):
        steps[step.pk] = StepStats(step.pk, step.position, step.prompt)
        step_rows[step.pk] = step
        items[step.item_id].steps.append(steps[step.pk])
    for item_id, n in sessions.values("item_id").annotate(n=Count("id")).values_list("item_id", "n"):
        items[item_id].sessions = n
    for step_id, n in attempts.values("step_id").annotate(n=Count("id")).values_list("step_id", "n"):
        steps[step_id].attempts = n
    # First try: the first answer to a step in each session.
    firsts = attempts.values("session_id", "step_id").annotate(first=Min("id")).values("first")
    for step_id, n, ok in Attempt.objects.filter(id__in=firsts).values("step_id").annotate(
            n=Count("id"), ok=Count("id", filter=Q(correct=True))).values_list("step_id", "n", "ok"):
        steps[step_id].first_tries = n
        steps[step_id].first_try_correct = ok
    tutor_turns = Turn.objects.filter(session__in=sessions.values("id"), role=Turn.Role.TUTOR,
                                      move__in=("hint", "bottom_out"))
    for item_id, step_id, hints, answers_shown in tutor_turns.values("session__item_id", "step_id").annotate(
            h=Count("id", filter=Q(move="hint")),
            b=Count("session_id", distinct=True, filter=Q(move="bottom_out"))).values_list(
            "session__item_id", "step_id", "h", "b"):
        items[item_id].hints += hints
        if step_id in steps:
            steps[step_id].bottom_outs += answers_shown
    # The most common wrong answers per step, as the checker read them (raw text when it could not).
    wrong = (
        attempts.filter(outcome=Attempt.Outcome.INCORRECT)
        .annotate(answer=Case(When(parsed="", then=F("raw")), default=F("parsed"), output_field=CharField()))
        .values("step_id", "answer")
        .annotate(n=Count("id"), mis=Max("misconception_id"), partly=Count("id", filter=Q(partial=True)),
                  who=Count("session__student_id", distinct=True))
        .order_by("step_id", "-n", "answer")
        .values_list("step_id", "answer", "n", "mis", "partly", "who")
    )
    shown: dict[int, list[tuple[str, int, int | None, bool, int]]] = defaultdict(list)
    for step_id, answer, n, mis, partly, who in wrong:
        if len(shown[step_id]) < WRONG_ANSWERS_SHOWN:
            shown[step_id].append((str(answer), n, mis, partly > 0, who))
    misconceptions: dict[int, list[Misconception]] = defaultdict(list)
    for m in Misconception.objects.filter(step_id__in=list(shown)).order_by("step_id", "id"):
        misconceptions[m.step_id].append(m)
    names = {m.pk: m.name for ms in misconceptions.values() for m in ms}
    for step_id, rows in shown.items():
        patterns = tuple(MisconceptionPattern(m.pk, m.pattern_kind, m.pattern)  # type: ignore[arg-type]
                         for m in misconceptions[step_id])
        for answer, n, mis, partly, who in rows:
            mid = mis if mis in names else None
            if mid is None and patterns:
                mid = _covering_misconception(step_rows[step_id].answer_spec(), answer[:500], patterns)
            steps[step_id].wrong_answers.append(
                WrongAnswer(answer[:200], n, names.get(mid, "") if mid else "", mid, partial=partly, students=who))
    return list(items.values())


