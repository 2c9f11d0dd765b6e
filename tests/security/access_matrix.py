"""Who may reach what: one row per URL route name and per websocket route.

``tests/security/test_access_matrix.py`` walks every URL pattern of ``config.urls`` (admin included)
and every websocket route of ``tutor.routing`` and requests each one as each of seven users. A route
with no row here fails that test, so **when you add a route, add its row here** (in ``ROUTES`` for a
named URL, ``ADMIN_RULES`` for admin pages, ``WEBSOCKETS`` for websocket routes).

The world the requests run in (built by ``tests/security/world.py``):

- ``course`` (slug ``mini``) is owned by ``teacher``; ``student_a`` has a session on its first item,
  with answers; ``student_b`` has a session of their own on the same item;
- ``other_teacher`` owns another course and nothing of ``course``;
- ``researcher`` is granted ``course``; ``ungranted`` is a researcher with no grant;
- everybody except ``anon`` is logged in.

URL arguments are filled by name from ``DEFAULT_ARGS`` (``session_id`` is student A's session,
``slug`` is ``course``…); a row can name others with ``args={"student_id": "student_a.pk"}``
(a dotted path into the world; a value starting with ``'`` is taken literally). ``data`` is the
request body for POST routes.

Expected outcomes: an HTTP status (``OK`` = 200, ``CREATED``, ``FORBIDDEN``, ``NOT_FOUND``,
``NOT_ALLOWED``), ``LOGIN`` (a redirect to a login page), ``REDIRECT`` (any other redirect);
websockets: ``ACCEPT`` or ``REJECT``. Besides the status, every response body is checked for data
the role must never see (another student's messages, students' usernames in research data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK, CREATED, BAD_REQUEST, FORBIDDEN, NOT_FOUND, NOT_ALLOWED = 200, 201, 400, 403, 404, 405
LOGIN = "login"
REDIRECT = "redirect"
ACCEPT = "accept"
REJECT = "reject"

Outcome = int | str

ROLES = ("anon", "student_a", "student_b", "teacher", "other_teacher", "researcher", "ungranted")


@dataclass(frozen=True)
class Row:
    method: str
    expected: dict[str, Outcome]
    args: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] | None = None


def row(method: str, anon: Outcome, student_a: Outcome, student_b: Outcome, teacher: Outcome,
        other_teacher: Outcome, researcher: Outcome, ungranted: Outcome, *, args: dict[str, str] | None = None,
        data: dict[str, Any] | None = None) -> Row:
    return Row(method, dict(zip(ROLES, (anon, student_a, student_b, teacher, other_teacher, researcher, ungranted),
                                strict=True)), args or {}, data)


# URL argument name → where its value comes from in the world.
DEFAULT_ARGS = {
    "session_id": "session_a.pk",
    "slug": "course.slug",
    "course_slug": "course.slug",
    "course_id": "course.pk",
    "item_id": "item.pk",
    "student_id": "student_a.pk",
    "user_id": "student_a.pk",
    "kc_id": "kc.pk",
}

# fmt: off
ROUTES: dict[str, Row] = {
    # name                     method   anon       student_a  student_b  teacher    other_t    researcher ungranted
    "home":               row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    "login":              row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    "logout":             row("POST",  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT),
    "signup":             row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    # Any signed-in user may learn from any course (sessions are always their own).
    "continue-learning":  row("POST",  LOGIN,     REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT),
    "item-start":         row("POST",  LOGIN,     REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT),
    # A session page is its student's alone; teachers read transcripts in the admin.
    "session":            row("GET",   LOGIN,     OK,        NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # The progress page always shows the requesting user's own learner model.
    "progress":           row("GET",   LOGIN,     OK,        OK,        OK,        OK,        OK,        OK),
    # Choosing a course goal (the world has none: the form is refused, never another user's data).
    "goal-choose":        row("POST",  LOGIN,     BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST,
                              BAD_REQUEST),
    # "Try a similar problem" on one's own session only (offered after the worked answer: not yet here).
    "session-similar":    row("POST",  LOGIN,     BAD_REQUEST, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "api-session-create": row("POST",  FORBIDDEN, CREATED,   CREATED,   CREATED,   CREATED,   CREATED,   CREATED,
                              data={"course": "mini", "item": "add-halves-quarters"}),
    "api-session-detail": row("GET",   FORBIDDEN, OK,        NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "api-session-message": row("POST", FORBIDDEN, OK,        NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND,
                               data={"text": "can I have a hint?", "client_id": "matrix"}),
    # The API description is public (it holds no data).
    "api-schema":         row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    "api-docs":           row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    # Authoring views: the course's teachers only; others cannot tell the course exists.
    "course-graph-svg":   row("GET",   LOGIN,     NOT_FOUND, NOT_FOUND, OK,        NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "item-preview":       row("GET",   LOGIN,     NOT_FOUND, NOT_FOUND, OK,        NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # The preview sandbox: a conversation of the teacher's own, never a student's. (The matrix posts
    # JSON; the sandbox reads a form, so its teacher gets "type an answer first".)
    "item-preview-say":   row("POST",  LOGIN,     NOT_FOUND, NOT_FOUND, BAD_REQUEST, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "item-preview-restart": row("POST", LOGIN,    NOT_FOUND, NOT_FOUND, REDIRECT,  NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # Research exports: researchers granted the course; an ungranted researcher cannot tell it exists.
    "research-export-tsv": row("GET",  FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND),
    "research-attempts":  row("GET",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND),
    "research-sessions":  row("GET",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND),
    "research-turns":     row("GET",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND),
    "research-observations": row("GET", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,       NOT_FOUND),
    "research-kc-states": row("GET",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND),
    "research-export-jsonl": row("GET", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,       NOT_FOUND),
    # The list of one's grants: empty for an ungranted researcher.
    "research-courses":   row("GET",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        OK),
    # A token for the researcher whose credentials are posted, whoever is signed in (no session auth).
    "research-token":     row("POST",  OK,        OK,        OK,        OK,        OK,        OK,        OK,
                              data={"username": "researcher-granted", "password": "pw-123-secret"}),
    # A signed-in researcher's own API token, from their front door (created or replaced; nobody else's).
    "research-token-issue": row("POST", LOGIN,    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, REDIRECT,  REDIRECT),
    # Teachers' pages: teachers only (others 403). A class is its own teachers' alone: the world has
    # no class, so any class id is "not found" for both teachers (tests/tutor/test_teacher.py checks a
    # real class, another teacher's class and students outside it). Course pages: the course's authors.
    "teacher-home":       row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, OK,        OK,        FORBIDDEN, FORBIDDEN),
    "teacher-class":      row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"classroom_id": "'999999"}),
    "teacher-class-manage": row("POST", LOGIN,    FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                                args={"classroom_id": "'999999"}, data={"action": "regenerate"}),
    "teacher-class-items": row("GET",  LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                               args={"classroom_id": "'999999"}),
    "teacher-student":    row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"classroom_id": "'999999"}),
    "teacher-session":    row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"classroom_id": "'999999"}),
    # The site's icon, for browsers that ask for /favicon.ico: a redirect to the static file.
    "favicon":            row("GET",   REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT),
    # Health and readiness (tutor/ops): for the proxy and the process manager, nothing private in them.
    "healthz":            row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    "readyz":             row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    # LTI 1.3 (tutor/lti): the key set is public; logins and launches come from an LMS and refuse anything
    # else with a page that says why; a class's LMS page and its actions are its own teachers' alone.
    "lti-jwks":           row("GET",   OK,        OK,        OK,        OK,        OK,        OK,        OK),
    "lti-login":          row("GET",   BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST,
                              BAD_REQUEST, args={"registration_uuid": "'00000000-0000-0000-0000-000000000000"}),
    "lti-launch":         row("POST",  BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST, BAD_REQUEST,
                              BAD_REQUEST),
    # Deep linking and a plain link's set-up: only within an instructor's LMS launch (none here).
    "lti-deep-link":      row("POST",  LOGIN,     FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "lti-link-setup":     row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "lti-class":          row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"classroom_id": "'999999"}),
    "lti-roster-sync":    row("POST",  LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"classroom_id": "'999999"}),
    "lti-grades-send":    row("POST",  LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"classroom_id": "'999999"}),
    # An assignment is looked up among the user's own classes' first: for anyone else it does not exist.
    "lti-grading-set":    row("POST",  LOGIN,     NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND,
                              args={"assignment_id": "'999999"}),
    "teacher-course-items": row("GET", LOGIN,     FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND, FORBIDDEN, FORBIDDEN),
    "teacher-course-settings": row("GET", LOGIN,  FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND, FORBIDDEN, FORBIDDEN),
    "teacher-goal-new":   row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, OK,        NOT_FOUND, FORBIDDEN, FORBIDDEN),
    "teacher-goal-edit":  row("GET",   LOGIN,     FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN,
                              args={"goal_id": "'999999"}),
    # Any signed-in user may join a class with its code (the form page).
    "class-join":         row("GET",   LOGIN,     OK,        OK,        OK,        OK,        OK,        OK),
}

# Admin pages, matched by fnmatch on the route name (or, for unnamed routes, "admin:<pattern>");
# the first matching rule wins. Only teachers are staff: everyone else is sent to the admin login.
# "Own" objects belong to the teacher's course; the other teacher gets a redirect ("no such object").
_OUT = (LOGIN, LOGIN, LOGIN)      # anon, student_a, student_b
_RES = (LOGIN, LOGIN)             # researcher, ungranted
ADMIN_RULES: list[tuple[str, Row]] = [
    ("admin:login",                 row("GET", OK, OK, OK, REDIRECT, REDIRECT, OK, OK)),
    ("admin:logout",                row("POST", *(REDIRECT,) * 7)),
    ("admin:index",                 row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:password_change",       row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:password_change_done",  row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:jsi18n",                row("GET", *_OUT, OK, OK, *_RES)),
    # Autocomplete needs a model and field to ask about; without them it refuses.
    ("admin:autocomplete",          row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:view_on_site",          row("GET", *_OUT, NOT_FOUND, NOT_FOUND, *_RES,
                                        args={"content_type_id": "course_content_type.pk",
                                              "object_id": "course.pk"})),
    ("admin:app_list",              row("GET", *_OUT, OK, OK, *_RES, args={"app_label": "'content"})),
    ("admin:content_course_import", row("GET", *_OUT, OK, OK, *_RES)),
    # Curriculum: both teachers may author, each only their own courses' objects.
    ("admin:content_*_changelist",  row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:content_*_add",         row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:content_*_change",      row("GET", *_OUT, OK, REDIRECT, *_RES)),
    ("admin:content_*_delete",      row("GET", *_OUT, OK, REDIRECT, *_RES)),
    ("admin:content_*_history",     row("GET", *_OUT, OK, REDIRECT, *_RES)),
    ("admin:content/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    # LMS registrations, keys, LMS users and the tutor's LTI records: administrators only (a missing
    # object's history page redirects, as for every model).
    *[(f"admin:{label}_*_history", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES))
      for label in ("lti_tool", "tutor_lti")],
    ("admin:lti_tool_*",            row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:tutor_lti_*",           row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:lti_tool/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    ("admin:tutor_lti/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    # Consent records and research grants: administrators only.
    ("admin:research_consent_*",       row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:research_researchgrant_*", row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    # Experiment conditions: teachers define them for their courses; assignments are made by the system.
    # (The world has no condition yet, so object pages answer "no such object" for both teachers.)
    ("admin:courses_condition_add",   row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:courses_condition*_change", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    ("admin:courses_condition*_history", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    ("admin:courses_condition_delete", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    ("admin:courses_conditionassignment_delete", row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    # Transcripts and attempts: read-only, the course's teachers only.
    # Classes, tutor settings and goals (tutor/courses/admin.py): both teachers may add; the world has
    # none of these rows, so any object page is "no such object" for both.
    ("admin:teaching_classroom_add",   row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:courses_coursesettings_add", row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:courses_coursegoal_add",  row("GET", *_OUT, OK, OK, *_RES)),
    *[(f"admin:{label}_{model}_{view}", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES))
      for label, model in (("teaching", "classroom"), ("courses", "coursesettings"), ("courses", "coursegoal"))
      for view in ("change", "delete", "history")],
    ("admin:tutor_*_changelist",    row("GET", *_OUT, OK, OK, *_RES)),
    ("admin:tutor_*_add",           row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:tutor_*_change",        row("GET", *_OUT, OK, REDIRECT, *_RES)),
    ("admin:tutor_*_delete",        row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:tutor_*_history",       row("GET", *_OUT, OK, REDIRECT, *_RES)),
    ("admin:tutor/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    # The same rules for the other rooms of the tutoring app (condition assignments, the rest of
    # the classes' and courses' pages).
    *[(f"admin:{label}_*_{view}", row("GET", *_OUT, *cells, *_RES))
      for label in ("courses", "teaching")
      for view, cells in (("changelist", (OK, OK)), ("add", (FORBIDDEN, FORBIDDEN)), ("change", (OK, REDIRECT)),
                          ("delete", (FORBIDDEN, FORBIDDEN)), ("history", (OK, REDIRECT)))],
    *[(f"admin:{label}/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES))
      for label in ("courses", "teaching", "research")],
    # Accounts, API tokens and the learner model's tables: administrators only.
    ("admin:auth_*",                row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:authtoken_*",           row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:tracing_fitjob_history", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),  # no such job
    ("admin:tracing_*",             row("GET", *_OUT, FORBIDDEN, FORBIDDEN, *_RES)),
    ("admin:auth/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    ("admin:authtoken/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    ("admin:tracing/*/<path:object_id>/", row("GET", *_OUT, REDIRECT, REDIRECT, *_RES)),
    # The admin's catch-all: unknown admin URLs.
    ("admin:(?P<url>.*)$",          row("GET", *_OUT, NOT_FOUND, NOT_FOUND, *_RES, args={"url": "'no-such-page/"})),
]

WEBSOCKETS: dict[str, Row] = {
    # route pattern                 anon    student_a student_b teacher  other_t  researcher ungranted
    "ws/sessions/<int:session_id>/": row("WS", REJECT, ACCEPT,  REJECT,  REJECT,  REJECT,  REJECT,    REJECT),
}
# fmt: on
