"""Write-side operations of the LMS integration: accepting a launch (accounts, classes, enrolments,
assignments), deep linking, roster sync (Names and Role Provisioning) and grade passback
(Assignment and Grade Services).

A launch is accepted in one transaction: if any part is refused, nothing of it is kept (no account
without its class, no enrolment without its account). Calls to the LMS (roster, grades) go through
``tutor.lti.http`` and never run inside a request's transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify
from lti_tool.models import LtiContext, LtiLaunch, LtiRegistration, LtiResourceLink, LtiUser
from lti_tool.utils import sync_data_from_launch
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector

from content.models import Course, Item
from tutor import roles
from tutor.courses.models import CourseGoal
from tutor.lti import http, selectors
from tutor.lti.launch import (
    AGS_CLAIM,
    CONTEXT_CLAIM,
    CUSTOM_CLAIM,
    DEEP_LINKING_CLAIM,
    LaunchRefused,
    ValidLaunch,
    log,
    refusal_context,
    role_of,
    tool_key_ensure,
)
from tutor.lti.models import Assignment, ContextClass, GradeSync, LaunchRefusal, UsedNonce
from tutor.services import role_groups_ensure
from tutor.teaching.models import Classroom, Enrolment

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
# Custom parameters a deep link leaves on the LMS link, read back at launch.
TARGET_PARAM = "tutor_target"
GRADING_PARAM = "tutor_grading"
SCORE_MAXIMUM = 100.0

# ---------------------------------------------------------------------------------------------
# Refusals


def refusal_record(*, request: HttpRequest, step: str, refused: LaunchRefused) -> LaunchRefusal:
    """Log a refused login or launch, and keep it for the administrator (outside any rolled-back
    transaction, so the record survives the refusal)."""
    who = refusal_context(request)
    log.warning("LTI %s refused (%s): %s [iss=%s client_id=%s deployment=%s sub=%s]", step, refused.code,
                refused.detail, who["issuer"], who["client_id"], who["deployment_id"], who["sub"])
    addr = request.META.get("REMOTE_ADDR") or None
    return LaunchRefusal.objects.create(step=step, code=refused.code, detail=refused.detail[:2000], remote_addr=addr,
                                        **{k: v[:255] for k, v in who.items()})


# ---------------------------------------------------------------------------------------------
# Launch


@dataclass
class LaunchOutcome:
    user: Any
    role: str  # "instructor" or "learner"
    kind: str  # "resource", "setup" (an instructor must choose what the link opens) or "deep_link"
    registration: LtiRegistration
    assignment: Assignment | None = None
    resource_link: LtiResourceLink | None = None
    context: LtiContext | None = None
    deep_link: dict[str, Any] = field(default_factory=dict)


def nonce_use(*, issuer: str, nonce: str, expires: int) -> None:
    """Remember an accepted id_token's nonce; a second launch with it is a replay."""
    expires_at = datetime.fromtimestamp(int(expires), tz=UTC)
    nonces_forget_expired()
    try:
        with transaction.atomic():
            UsedNonce.objects.create(issuer=issuer, nonce=nonce, expires_at=expires_at)
    except IntegrityError:
        raise LaunchRefused("replayed", f"nonce {nonce!r} of {issuer} was used before") from None


def nonces_forget_expired(*, now: datetime | None = None) -> int:
    """Nonces of expired id_tokens can go: such a token is refused for its expiry anyway."""
    cutoff = (now or timezone.now()) - timedelta(minutes=10)  # leeway for clock skew
    deleted, _ = UsedNonce.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def _username(registration: LtiRegistration, sub: str, name: str, email: str) -> str:
    """A readable, unique username: the LMS name (or e-mail's local part) and a hash of who they are."""
    digest = hashlib.sha256(f"{registration.issuer}|{registration.client_id}|{sub}".encode()).hexdigest()
    base = slugify(name or email.split("@")[0], allow_unicode=True)[:40].strip("-") or "lms"
    user_model = get_user_model()
    for length in (6, 10, 16, 64):
        candidate = f"{base}-{digest[:length]}"
        if not user_model.objects.filter(username=candidate).exists():
            return candidate
    raise IntegrityError(f"no free username for {sub!r}")


def account_for(*, lti_user: LtiUser, role: str) -> Any:
    """The tutor account of an LMS user, made on first need with no usable password (they sign in
    through the LMS), in the role the LMS gives them. Names and e-mail follow the LMS."""
    user_model = get_user_model()
    user = lti_user.auth_user
    if user is None:
        user = user_model(username=_username(lti_user.registration, lti_user.sub, lti_user.name, lti_user.email))
        user.set_unusable_password()
        user.save()
        lti_user.auth_user = user
        lti_user.save(update_fields=["auth_user", "datetime_modified"])
    changed = []
    for attr, value, limit in (("first_name", lti_user.given_name, 150), ("last_name", lti_user.family_name, 150),
                               ("email", lti_user.email, 254)):
        value = (value or "")[:limit]
        if value and getattr(user, attr) != value:
            setattr(user, attr, value)
            changed.append(attr)
    group = roles.TEACHER if role == "instructor" else roles.STUDENT
    user.groups.add(role_groups_ensure()[group])
    if role == "instructor" and not user.is_staff:  # teachers author in the admin (as tutor.services.user_create)
        user.is_staff = True
        changed.append("is_staff")
    if changed:
        user.save(update_fields=changed)
    user._role_cache = None  # roles.has_role caches per user object
    return user


def context_class_for(*, context: LtiContext, course: Course) -> ContextClass:
    """The class tied to this LMS course for this tutor course, made on first need. Its roster comes
    from the LMS, so the join code is closed."""
    existing = ContextClass.objects.select_related("classroom").filter(context=context, course=course).first()
    if existing is not None:
        return existing
    name = (context.title or context.label or f"LMS course {context.id_on_platform}")[:200]
    classroom = Classroom.objects.create(course=course, name=name, joining_open=False)
    return ContextClass.objects.create(context=context, course=course, classroom=classroom)


def target_parse(value: str) -> tuple[Course, CourseGoal | None, Item | None]:
    """``course:<slug>``, ``goal:<id>`` or ``item:<id>`` (as a deep link leaves it) to rows."""
    kind, _, key = (value or "").partition(":")
    if kind == "course":
        course = Course.objects.filter(slug=key).first()
        if course is not None:
            return course, None, None
    elif kind == "goal" and key.isdigit():
        goal = CourseGoal.objects.select_related("course").filter(pk=int(key)).first()
        if goal is not None:
            return goal.course, goal, None
    elif kind == "item" and key.isdigit():
        item = Item.objects.select_related("course").filter(pk=int(key), steps__isnull=False).distinct().first()
        if item is not None:
            return item.course, None, item
    raise LaunchRefused("unknown_target", f"target {value!r}")


def _ags_fields(claims: dict[str, Any]) -> dict[str, Any]:
    ags = claims.get(AGS_CLAIM) or {}
    return {"lineitem_url": str(ags.get("lineitem") or "")[:1000],
            "lineitems_url": str(ags.get("lineitems") or "")[:1000],
            "ags_scopes": [str(s) for s in ags.get("scope") or []]}


def assignment_create(*, resource_link: LtiResourceLink, target: str, grading: str,
                      claims: dict[str, Any] | None = None) -> Assignment:
    course, goal, item = target_parse(target)
    if grading not in Assignment.Grading.values:
        grading = Assignment.Grading.COMPLETION if item is not None else Assignment.Grading.MASTERY
    context_class = context_class_for(context=resource_link.context, course=course)
    fields = _ags_fields(claims or {})
    title = (resource_link.title or (item.title if item else goal.name if goal else course.title))[:500]
    return Assignment.objects.create(resource_link=resource_link, context_class=context_class, course=course, goal=goal,
                                     item=item, grading=grading, title=title, **fields)


def _assignment_for_launch(launch: ValidLaunch, resource_link: LtiResourceLink) -> Assignment | None:
    assignment = Assignment.objects.select_related("context_class__classroom", "course").filter(
        resource_link=resource_link).first()
    if assignment is not None:
        fields = _ags_fields(launch.claims)
        # The platform may add or move the line item later (e.g. grading switched on in the LMS).
        changed = [k for k, v in fields.items() if v and getattr(assignment, k) != v]
        for k in changed:
            setattr(assignment, k, fields[k])
        if changed:
            assignment.save(update_fields=[*changed, "updated"])
        return assignment
    custom = launch.claims.get(CUSTOM_CLAIM) or {}
    target = custom.get(TARGET_PARAM)
    if not isinstance(target, str) or not target:
        return None
    return assignment_create(resource_link=resource_link, target=target, grading=str(custom.get(GRADING_PARAM, "")),
                             claims=launch.claims)


def launch_accept(*, launch: ValidLaunch, attempts: int = 3) -> LaunchOutcome:
    """Turn a checked launch into an account in its class (all or nothing). A class following the
    teacher's "open the link now" launches at once: when a concurrent first launch made the same
    class or LMS user first (a unique constraint), the launch is taken again and finds those rows."""
    for attempt in range(attempts):
        try:
            return _launch_accept(launch=launch)
        except (IntegrityError, OperationalError) as exc:
            # SQLite reports the same race as a lock on a stale snapshot.
            if attempt == attempts - 1 or (isinstance(exc, OperationalError) and "locked" not in str(exc)):
                raise
            log.info("LTI launch of %s met a concurrent first launch; taking it again", launch.claims.get("sub"))
    raise AssertionError("unreachable")


@transaction.atomic
def _launch_accept(*, launch: ValidLaunch) -> LaunchOutcome:
    role = launch.role
    if not role:
        raise LaunchRefused("missing_role", f"roles {launch.claims.get('https://purl.imsglobal.org/spec/lti/claim/roles')}")
    message_type = launch.message_type
    if message_type not in ("LtiResourceLinkRequest", "LtiDeepLinkingRequest"):
        raise LaunchRefused("unsupported_message", message_type)
    context_claim = launch.claims.get(CONTEXT_CLAIM) or {}
    if not context_claim.get("id"):
        raise LaunchRefused("no_context", "no context claim")
    if message_type == "LtiDeepLinkingRequest" and role != "instructor":
        raise LaunchRefused("not_a_teacher", "deep linking by a learner")
    nonce_use(issuer=launch.issuer, nonce=launch.claims["nonce"], expires=launch.claims["exp"])

    lti_launch = LtiLaunch(launch.message)
    sync_data_from_launch(lti_launch)  # django-lti: the LMS user, context, membership and resource link
    user = account_for(lti_user=lti_launch.user, role=role)
    context = lti_launch.context
    outcome = LaunchOutcome(user=user, role=role, kind="resource", registration=launch.registration, context=context)
    if message_type == "LtiDeepLinkingRequest":
        outcome.kind = "deep_link"
        outcome.deep_link = {"registration": launch.registration.pk, "deployment_id": launch.deployment.deployment_id,
                             "settings": launch.claims.get(DEEP_LINKING_CLAIM) or {}, "context": context.pk}
        return outcome
    resource_link = lti_launch.resource_link
    outcome.resource_link = resource_link
    assignment = _assignment_for_launch(launch, resource_link)
    if assignment is None:
        if role != "instructor":
            raise LaunchRefused("not_set_up", f"resource link {resource_link.id_on_platform!r} has no target")
        outcome.kind = "setup"
        return outcome
    outcome.assignment = assignment
    classroom = assignment.context_class.classroom
    if role == "instructor":
        classroom.teachers.add(user)
    else:
        Enrolment.objects.get_or_create(classroom=classroom, student=user)
        GradeSync.objects.get_or_create(assignment=assignment, student=user, defaults={"lti_user": lti_launch.user})
    return outcome


@transaction.atomic
def link_setup(*, resource_link: LtiResourceLink, teacher: Any, target: str, grading: str) -> Assignment:
    """An instructor chooses what a plain LMS link opens (one made without deep linking)."""
    existing = Assignment.objects.filter(resource_link=resource_link).first()
    if existing is not None:
        return existing
    try:
        assignment = assignment_create(resource_link=resource_link, target=target, grading=grading)
    except LaunchRefused as exc:
        raise ValueError(exc.message) from exc
    assignment.context_class.classroom.teachers.add(teacher)
    return assignment


# ---------------------------------------------------------------------------------------------
# Deep linking


def deep_link_response(*, deep_link: dict[str, Any], target: str, grading: str, launch_url: str,
                       gradebook: bool) -> tuple[str, str]:
    """The signed LtiDeepLinkingResponse for one chosen course, goal or item, and where to POST it.
    The choice travels as custom parameters of the link and comes back with each launch."""
    course, goal, item = target_parse(target)
    registration = LtiRegistration.objects.get(pk=deep_link["registration"])
    tool_key_ensure()
    title = item.title if item else f"{goal.name} · {course.title}" if goal else course.title
    resource = (DeepLinkResource().set_url(launch_url).set_title(title)
                .set_custom_params({TARGET_PARAM: target, GRADING_PARAM: grading}))
    if gradebook:
        resource.set_lineitem(LineItem().set_score_maximum(SCORE_MAXIMUM).set_label(title[:255])
                              .set_resource_id(target).set_tag("tutor"))
    dl_settings = deep_link["settings"]
    link = DeepLink(registration.to_registration(), deep_link["deployment_id"], dl_settings)
    return link.get_response_jwt([resource]), str(dl_settings["deep_link_return_url"])


# ---------------------------------------------------------------------------------------------
# Names and Role Provisioning


class LmsServiceError(Exception):
    """The LMS could not be reached or refused a service call (the message says which)."""


def _connector(registration: LtiRegistration) -> ServiceConnector:
    tool_key_ensure()
    return ServiceConnector(registration.to_registration(), requests_session=http.session())


def _service_error(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 500 else text[:500] + "…"


@dataclass
class RosterReport:
    learners: int = 0
    instructors: int = 0
    removed: int = 0


def roster_sync(*, context_class: ContextClass) -> RosterReport:
    """Bring the class tied to an LMS course in line with the LMS's roster: active learners are
    enrolled (accounts made as at launch), instructors teach it, and learners the LMS no longer lists
    as active leave the class (their work stays)."""
    context = context_class.context
    registration = context.deployment.registration
    try:
        if not context.memberships_url:
            raise LmsServiceError("The LMS offered no roster service (Names and Role Provisioning) for this course.")
        nrps = NamesRolesProvisioningService(_connector(registration),
                                             {"context_memberships_url": context.memberships_url})
        raw: Any = nrps.get_members()
        if not isinstance(raw, list) or not all(isinstance(m, dict) and isinstance(m.get("user_id"), str)
                                                and isinstance(m.get("roles", []), list) for m in raw):
            raise LmsServiceError("The LMS's roster is not a list of members with user IDs and roles.")
        members = [dict(m) for m in raw]
        report = _roster_apply(context=context, registration=registration, members=members)
    except (LtiException, OSError, ValueError, LmsServiceError) as exc:  # requests' errors are OSErrors
        message = exc.args[0] if isinstance(exc, LmsServiceError) else f"Roster sync failed: {_service_error(exc)}"
        log.warning("LTI roster sync of %s failed: %s", context, exc)
        ContextClass.objects.filter(context=context).update(roster_error=message)
        raise LmsServiceError(message) from exc
    ContextClass.objects.filter(context=context).update(roster_synced_at=timezone.now(), roster_error="")
    return report


@transaction.atomic
def _roster_apply(*, context: LtiContext, registration: LtiRegistration, members: list[dict[str, Any]]) -> RosterReport:
    for member in members:
        member.setdefault("status", "Active")
        member.setdefault("roles", [])
    context.update_memberships(members)  # django-lti's users and memberships
    classrooms = [cc.classroom for cc in ContextClass.objects.select_related("classroom").filter(context=context)]
    report = RosterReport()
    keep: set[int] = set()
    for member in members:
        role = role_of(member["roles"])
        if member["status"] != "Active" or not role:
            continue
        lti_user = LtiUser.objects.get(registration=registration, sub=member["user_id"])
        user = account_for(lti_user=lti_user, role=role)
        for classroom in classrooms:
            if role == "instructor":
                classroom.teachers.add(user)
            else:
                Enrolment.objects.get_or_create(classroom=classroom, student=user)
        if role == "instructor":
            report.instructors += 1
        else:
            report.learners += 1
            keep.add(user.pk)
    lms_students = LtiUser.objects.filter(registration=registration, auth_user__isnull=False).values("auth_user")
    gone = Enrolment.objects.filter(classroom__in=classrooms, student__in=lms_students).exclude(student__in=keep)
    report.removed, _ = gone.delete()
    return report


# ---------------------------------------------------------------------------------------------
# Assignment and Grade Services


def grades_mark_dirty(*, student_id: int, course_id: int) -> int:
    """The student's scores in this course may have changed: compute them again at the next send
    (a row waiting out a back-off keeps its wait)."""
    return GradeSync.objects.filter(student_id=student_id, assignment__course_id=course_id).update(
        dirty=True, updated=timezone.now())


def assignment_grading_set(*, assignment: Assignment, grading: str) -> Assignment:
    if grading not in Assignment.Grading.values:
        raise ValueError(f"Unknown grading {grading!r}")
    if assignment.grading != grading:
        with transaction.atomic():
            assignment.grading = grading
            assignment.save(update_fields=["grading", "updated"])
            GradeSync.objects.filter(assignment=assignment).update(dirty=True, updated=timezone.now())
    return assignment


def grades_retry_now(*, classroom: Classroom) -> int:
    """Send this class's waiting and failed scores at the next run, without waiting out the back-off."""
    return GradeSync.objects.filter(assignment__context_class__classroom=classroom).filter(
        Q(dirty=True) | Q(state=GradeSync.State.FAILED)).update(dirty=True, next_try_at=None, updated=timezone.now())


def retry_delay(failures: int) -> timedelta:
    """Back-off after the n-th failure in a row: doubling from the base, capped."""
    base, cap = settings.TUTOR_LTI_GRADE_RETRY_SECONDS
    return timedelta(seconds=min(float(cap), float(base) * 2 ** max(failures - 1, 0)))


@dataclass
class GradeRun:
    sent: int = 0
    unchanged: int = 0
    failed: int = 0
    unsupported: int = 0


def _lineitem_url(ags: AssignmentsGradesService, assignment: Assignment) -> str:
    if assignment.lineitem_url:
        return assignment.lineitem_url
    wanted = (LineItem().set_score_maximum(SCORE_MAXIMUM).set_label(assignment.title[:255] or "Tutor")
              .set_resource_id(assignment.target).set_tag(f"tutor-{assignment.pk}")
              .set_resource_link_id(assignment.resource_link.id_on_platform))
    found = ags.find_or_create_lineitem(wanted, find_by="resource_link_id")
    url = found.get_id()
    if not url:
        raise LtiException("The LMS returned a line item without an id")
    Assignment.objects.filter(pk=assignment.pk).update(lineitem_url=url)
    assignment.lineitem_url = url
    return url


def grade_send(*, grade: GradeSync, score: float, connector: ServiceConnector, now: datetime) -> None:
    assignment = grade.assignment
    ags = AssignmentsGradesService(connector, {"scope": assignment.ags_scopes, "lineitems": assignment.lineitems_url,
                                               "lineitem": assignment.lineitem_url})
    url = _lineitem_url(ags, assignment)
    done = score >= 1.0 - 1e-9
    completion = assignment.grading == Assignment.Grading.COMPLETION
    progress = "Completed" if done else "InProgress" if score > 0 else "Started"
    payload = (Grade().set_score_given(round(score * SCORE_MAXIMUM, 2)).set_score_maximum(SCORE_MAXIMUM)
               .set_timestamp(now.isoformat(timespec="milliseconds")).set_user_id(grade.lti_user.sub)
               .set_activity_progress(progress)
               .set_grading_progress("FullyGraded" if done or not completion else "Pending"))
    ags.put_grade(payload, LineItem({"id": url}))


def grades_send_due(*, now: datetime | None = None, limit: int = 500, classroom: Classroom | None = None,
                    progress: Any = None) -> GradeRun:
    """Compute the scores marked for it and send those that changed; a failure waits out a growing
    back-off and stays visible (state, count, last error) to the teacher."""
    now = now or timezone.now()
    due = (GradeSync.objects.filter(dirty=True).filter(Q(next_try_at__isnull=True) | Q(next_try_at__lte=now))
           .select_related("assignment__resource_link", "assignment__course", "assignment__goal", "assignment__item",
                           "assignment__context_class__context__deployment__registration", "student", "lti_user")
           .order_by("next_try_at", "id"))
    if classroom is not None:
        due = due.filter(assignment__context_class__classroom=classroom)
    run = GradeRun()
    connectors: dict[int, ServiceConnector] = {}
    for grade in due[:limit]:
        assignment = grade.assignment
        score = selectors.score_compute(assignment=assignment, student=grade.student)
        update: dict[str, Any] = {"score": score, "dirty": False, "next_try_at": None}
        if not assignment.grades_possible:
            update.update(state=GradeSync.State.UNSUPPORTED, last_error="")
            run.unsupported += 1
        elif grade.state == GradeSync.State.SENT and grade.score_sent is not None \
                and abs(grade.score_sent - score) < 1e-9:
            run.unchanged += 1
        else:
            registration = assignment.context_class.context.deployment.registration
            if registration.pk not in connectors:  # one connector per LMS: its access token is reused
                connectors[registration.pk] = _connector(registration)
            connector = connectors[registration.pk]
            try:
                grade_send(grade=grade, score=score, connector=connector, now=now)
            except Exception as exc:  # one learner's failure must not stop the others' grades
                failures = grade.failures + 1
                log.warning("LTI grade for %s on %s failed (%d in a row): %s", grade.student, assignment, failures, exc,
                            exc_info=not isinstance(exc, LtiException | OSError))
                update.update(state=GradeSync.State.FAILED, failures=failures, dirty=True,
                              next_try_at=now + retry_delay(failures), last_error=_service_error(exc))
                run.failed += 1
            else:
                update.update(state=GradeSync.State.SENT, score_sent=score, sent_at=now, failures=0, last_error="")
                run.sent += 1
        update["updated"] = timezone.now()
        # Marked again while this ran (a new answer): keep it marked, so the newer score goes next time.
        if not GradeSync.objects.filter(pk=grade.pk, updated=grade.updated).update(**update):
            update.pop("dirty")
            GradeSync.objects.filter(pk=grade.pk).update(**update)
        if progress is not None:
            progress.update(1)
    return run


# ---------------------------------------------------------------------------------------------
# Landing


def assignment_open(*, student: Any, assignment: Assignment) -> str:
    """Where a learner lands from an LMS link: the item's tutoring session; for a goal, the goal
    becomes theirs and the planner picks the next item toward it; for a course, the planner's next
    item. With nothing left to do, the course's progress page."""
    from django.urls import reverse

    from tutor import engine
    from tutor.courses import services as course_settings
    from tutor.planning import services as planning

    if assignment.item is not None:
        return reverse("session", args=[engine.session_start(student=student, item=assignment.item).pk])
    if assignment.goal is not None:
        course_settings.goal_choose(student=student, course=assignment.course, goal=assignment.goal)
    item, _reason = planning.item_next(student=student, course=assignment.course)
    if item is None:
        return reverse("progress", args=[assignment.course.slug])
    return reverse("session", args=[engine.session_start(student=student, item=item).pk])
