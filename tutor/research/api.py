"""Research API: pseudonymised logs of the courses a researcher is granted.

Authentication is a token (``Authorization: Token <key>``) from ``POST /api/research/token/``, from
``manage.py research_token USERNAME`` or from the admin; a signed-in researcher's browser session
also works. Every student is a pseudonym and only students whose latest consent record is positive
appear (see ``tutor.research.exports``). A course the researcher is not granted answers 404, so its existence
is not revealed. ``identifiable=true`` adds usernames, and is refused (403) unless the grant says
``identifiable``.

Lists (sessions, turns, attempts, learner-model observations and KC states) are ordered by id and
paginated with cursors (``next``/``previous`` links), so a large table is read page by page at
constant cost. Exports (DataShop TSV, JSONL) stream: rows are produced while the response is sent,
in constant memory under WSGI and ASGI alike.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate, get_user_model
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_scope
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from content.models import Course, KnowledgeComponent
from tracing import selectors as tracing_selectors
from tutor import roles
from tutor.models import Attempt, Turn, TutoringSession
from tutor.research import exports
from tutor.research.models import ResearchGrant
from tutor.research.serializers import (
    GrantedCourseSerializer,
    ResearchAttemptSerializer,
    ResearchKCStateSerializer,
    ResearchObservationSerializer,
    ResearchQuerySerializer,
    ResearchSessionSerializer,
    ResearchTurnSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)

STREAM_LINES_PER_CHUNK = 500


class ResearchCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:  # DRF answers 404 for a mangled cursor; it is bad input
            raise ValidationError({"cursor": "Invalid cursor: follow the next/previous links as given."}) from exc


def _require_researcher(request: Request) -> None:
    if not roles.is_researcher(request.user):
        raise PermissionDenied("The research API is for researchers.")


def _grant(request: Request, slug: str) -> ResearchGrant:
    """The researcher's grant on the course. Without one the course is not found, so researchers
    cannot probe which courses exist."""
    _require_researcher(request)
    grant = ResearchGrant.objects.filter(researcher_id=request.user.pk, course__slug=slug).select_related("course")
    found = grant.first()
    if found is None:
        raise NotFound("No such course among those you are granted.")
    return found


def _query(request: Request, grant: ResearchGrant) -> dict[str, Any]:
    query = ResearchQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    if data["identifiable"] and not grant.identifiable:
        raise PermissionDenied("Your grant on this course does not include students' identities.")
    return data


def _dated(qs: QuerySet[Any], field: str, query: dict[str, Any]) -> QuerySet[Any]:
    if query.get("since") is not None:
        qs = qs.filter(**{f"{field}__gte": query["since"]})
    if query.get("until") is not None:
        qs = qs.filter(**{f"{field}__lt": query["until"]})
    return qs


def _context(course: Course, query: dict[str, Any], student_ids: Iterable[int]) -> dict[str, Any]:
    identifiable = bool(query.get("identifiable"))
    users = get_user_model().objects.filter(pk__in=set(student_ids)) if identifiable else None
    return {
        "anon": exports.Pseudonyms(),
        "conditions": exports.conditions_by_student(course=course),
        "identifiable": identifiable,
        "usernames": dict(users.values_list("pk", "username")) if users is not None else {},
        "kc_slugs": dict(KnowledgeComponent.objects.filter(course=course).values_list("pk", "slug")),
        "redaction": exports.Redaction(course, identifiable=identifiable),
    }


def _paginated(name: str, child: type[serializers.BaseSerializer[Any]]) -> Any:
    return inline_serializer(name=name, fields={
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": child(many=True),
    })


PAGE_PARAMETERS: list[Any] = [
    ResearchQuerySerializer,
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From a previous page's next/previous link."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page (default 100, at most 1000)."),
]


def _list_view(
    name: str,
    doc: str,
    *,
    rows: Callable[[Course], QuerySet[Any]],
    date_field: str,
    serializer: type[serializers.Serializer[Any]],
    student_of: Callable[[Any], int],
) -> Any:
    """A paginated list of one kind of row of a granted course, filtered by ``date_field``: the
    research API's lists differ only in these arguments. ``doc`` is the operation's description."""

    def view(request: Request, slug: str) -> Response:
        grant = _grant(request, slug)
        query = _query(request, grant)
        paginator = ResearchCursorPagination()
        page = paginator.paginate_queryset(_dated(rows(grant.course), date_field, query), request) or []
        context = _context(grant.course, query, (student_of(row) for row in page))
        return paginator.get_paginated_response(serializer(page, many=True, context=context).data)

    view.__name__ = view.__qualname__ = name
    view.__doc__ = doc
    listed = serializer.__name__.removesuffix("Serializer")
    return extend_schema(parameters=PAGE_PARAMETERS, responses={200: _paginated(f"Paginated{listed}List", serializer)})(
        api_view(["GET"])(throttle_scope("research")(view))
    )


# ---------------------------------------------------------------------------------------------
# Token and granted courses


@extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer}, auth=[])
@api_view(["POST"])
@throttle_scope("research")
@authentication_classes([])
@permission_classes([AllowAny])
def token_obtain(request: Request) -> Response:
    """A researcher's API token (created on first request, the same one afterwards), for the
    header ``Authorization: Token <token>``."""
    form = TokenRequestSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    # A locked-out address or name (django-axes) gets None here; axes' middleware answers 429.
    user = authenticate(request._request, username=form.validated_data["username"],
                        password=form.validated_data["password"])
    if user is None:
        raise ValidationError({"detail": "Wrong username or password."})
    if not roles.is_researcher(user):
        raise PermissionDenied("API tokens are for researchers.")
    token, _ = Token.objects.get_or_create(user=user)
    return Response({"token": token.key}, status=status.HTTP_200_OK)


@extend_schema(responses={200: GrantedCourseSerializer(many=True)})
@api_view(["GET"])
@throttle_scope("research")
def courses_granted(request: Request) -> Response:
    """The courses you are granted, with whether each grant includes identities."""
    _require_researcher(request)
    grants = ResearchGrant.objects.filter(researcher_id=request.user.pk).select_related("course").order_by(
        "course__slug")
    return Response(GrantedCourseSerializer(grants, many=True).data)


# ---------------------------------------------------------------------------------------------
# Lists


def _sessions(course: Course) -> QuerySet[TutoringSession]:
    return (
        TutoringSession.objects.filter(course=course, sandbox=False, student__in=exports.consenting_students())
        .select_related("item").annotate(n_turns=Count("turns"))
    )


def _turns(course: Course) -> QuerySet[Turn]:
    return Turn.objects.filter(
        session__course=course, session__sandbox=False, session__student__in=exports.consenting_students()
    ).select_related("session", "item", "step", "attempt")


def _attempts(course: Course) -> QuerySet[Attempt]:
    return Attempt.objects.filter(
        session__course=course, session__sandbox=False, session__student__in=exports.consenting_students()
    ).select_related("session", "step", "step__item", "misconception")


def _observations(course: Course) -> QuerySet[Any]:
    return tracing_selectors.observations_for_course(course=course, learners=exports.consenting_students())


def _kc_states(course: Course) -> QuerySet[Any]:
    return tracing_selectors.kc_states_for_course(course=course, learners=exports.consenting_students())


course_sessions = _list_view(
    "course_sessions", "Tutoring sessions, filtered by their start time.",
    rows=_sessions, date_field="created", serializer=ResearchSessionSerializer, student_of=lambda s: s.student_id)
course_turns = _list_view(
    "course_turns", "Every turn of the dialogue (student and tutor), filtered by time.",
    rows=_turns, date_field="created", serializer=ResearchTurnSerializer, student_of=lambda t: t.session.student_id)
course_attempts = _list_view(
    "course_attempts", "Checked answers, filtered by time.",
    rows=_attempts, date_field="created", serializer=ResearchAttemptSerializer,
    student_of=lambda a: a.session.student_id)
course_observations = _list_view(
    "course_observations",
    "The learner model's training data (tutor answers and imported logs), filtered by answer time.",
    rows=_observations, date_field="at", serializer=ResearchObservationSerializer, student_of=lambda o: o.learner_id)
course_kc_states = _list_view(
    "course_kc_states",
    "The learner model's current state per student and KC, filtered by the time of the last answer.",
    rows=_kc_states, date_field="practised_at", serializer=ResearchKCStateSerializer,
    student_of=lambda s: s.learner_id)


# ---------------------------------------------------------------------------------------------
# Streamed exports


def _chunks(lines: Iterator[str], size: int = STREAM_LINES_PER_CHUNK) -> Iterator[bytes]:
    while True:
        chunk = "".join(itertools.islice(lines, size))
        if not chunk:
            return
        yield chunk.encode()


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Under ASGI Django would read a synchronous iterator to the end before sending anything (all
    in memory); pulling one chunk at a time on the request's thread keeps the stream lazy."""
    take = sync_to_async(lambda: next(chunks, b""), thread_sensitive=True)
    while chunk := await take():
        yield chunk


def _streamed(request: Request, lines: Iterator[str], *, content_type: str, filename: str) -> StreamingHttpResponse:
    chunks = _chunks(lines)
    body: Any = _async_chunks(chunks) if isinstance(request._request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@extend_schema(parameters=[ResearchQuerySerializer],
               responses={(200, "text/tab-separated-values"): OpenApiTypes.STR})
@api_view(["GET"])
@throttle_scope("research")
def course_export_tsv(request: Request, slug: str) -> StreamingHttpResponse:
    """The DataShop tab-delimited transaction export, one row per student message (rows and columns:
    docs/datashop.md), streamed."""
    grant = _grant(request, slug)
    query = _query(request, grant)
    identifiable = bool(query["identifiable"])
    rows = exports.datashop_rows(course=grant.course, since=query.get("since"), until=query.get("until"),
                                 identifiable=identifiable)
    lines = exports.tsv_lines(rows, columns=exports.datashop_columns(identifiable=identifiable))
    return _streamed(request, lines, content_type="text/tab-separated-values; charset=utf-8",
                     filename=f"{grant.course.slug}-datashop.tsv")


@extend_schema(parameters=[ResearchQuerySerializer], responses={(200, "application/jsonl"): OpenApiTypes.STR})
@api_view(["GET"])
@throttle_scope("research")
def course_export_jsonl(request: Request, slug: str) -> StreamingHttpResponse:
    """Every turn of the dialogue, one JSON object per line, streamed."""
    grant = _grant(request, slug)
    query = _query(request, grant)
    rows = exports.dialogue_rows(course=grant.course, since=query.get("since"), until=query.get("until"),
                                 identifiable=bool(query["identifiable"]))
    return _streamed(request, exports.jsonl_lines(rows), content_type="application/jsonl; charset=utf-8",
                     filename=f"{grant.course.slug}-dialogue.jsonl")
