"""The tutoring API: start a session, post a message, read the transcript (same engine as the chat)."""

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, throttle_scope
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from content.models import Item
from tutor import engine, selectors
from tutor.ratelimit import TUTOR_MESSAGE_SCOPE
from tutor.serializers import MessageSerializer, SessionStartSerializer, TranscriptSerializer


def _transcript(session_id: int, user) -> Response:  # type: ignore[no-untyped-def]
    session = selectors.session_for_student(student=user, session_id=session_id)
    if session is None:
        raise NotFound("No such session.")
    return Response(TranscriptSerializer({"session": session, "turns": list(session.turns.order_by("seq"))}).data)


@extend_schema(request=SessionStartSerializer, responses={201: TranscriptSerializer})
@api_view(["POST"])
def session_create(request: Request) -> Response:
    form = SessionStartSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    item = (
        Item.objects.filter(course__slug=form.validated_data["course"], steps__isnull=False)
        .filter(Q(slug=form.validated_data["item"]) | Q(source_id=form.validated_data["item"]))
        .distinct()
        .first()
    )
    if item is None:
        raise ValidationError({"item": "No tutorable item with that slug or source id in that course."})
    session = engine.session_start(student=request.user, item=item)
    response = _transcript(session.pk, request.user)
    response.status_code = status.HTTP_201_CREATED
    return response


@extend_schema(request=MessageSerializer, responses={200: TranscriptSerializer})
@api_view(["POST"])
@throttle_scope(TUTOR_MESSAGE_SCOPE)  # shared with the chat socket, per user
def session_message(request: Request, session_id: int) -> Response:
    session = selectors.session_for_student(student=request.user, session_id=session_id)
    if session is None:
        raise NotFound("No such session.")
    if session.status != session.Status.ACTIVE:
        raise ValidationError({"detail": "This session is finished; start a new one."})
    form = MessageSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    plan = engine.turn_take(session_id=session.pk, text=form.validated_data["text"],
                            client_id=form.validated_data["client_id"])
    if not plan.duplicate:
        engine.reply_generate(plan=plan)
    return _transcript(session.pk, request.user)


@extend_schema(responses={200: TranscriptSerializer})
@api_view(["GET"])
def session_detail(request: Request, session_id: int) -> Response:
    return _transcript(session_id, request.user)
