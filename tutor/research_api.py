"""Research API: pseudonymised exports of a course's logs for researchers granted that course.

Every student is a pseudonym and only consenting students appear (see ``tutor.exports``).
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from content.models import Course
from tutor import exports, roles
from tutor.models import Attempt, ResearchGrant


def _granted_course(request: Request, slug: str) -> Course:
    """The course, if the user is a researcher granted it. Without a grant the course is not found,
    so researchers cannot probe which courses exist."""
    if not roles.is_researcher(request.user):
        raise PermissionDenied("Research exports are for researchers.")
    grants = ResearchGrant.objects.filter(researcher_id=request.user.pk, course__slug=slug)
    grant = grants.select_related("course").first()
    if grant is None:
        raise NotFound("No such course among those you are granted.")
    return grant.course


class ResearchAttemptSerializer(serializers.ModelSerializer[Attempt]):
    anon_student_id = serializers.SerializerMethodField()
    session_id = serializers.IntegerField()
    item = serializers.CharField(source="step.item.slug")
    step = serializers.SerializerMethodField()

    class Meta:
        model = Attempt
        fields = ["id", "anon_student_id", "session_id", "item", "step", "raw", "parsed", "outcome", "correct",
                  "partial", "p_correct_before", "created"]

    def get_anon_student_id(self, attempt: Attempt) -> str:
        return exports.pseudonym(attempt.session.student_id)

    def get_step(self, attempt: Attempt) -> int:
        return attempt.step.position + 1


@extend_schema(responses={(200, "text/tab-separated-values"): OpenApiTypes.STR})
@api_view(["GET"])
def course_export_tsv(request: Request, slug: str) -> StreamingHttpResponse:
    """The DataShop tab-delimited transaction export, streamed."""
    course = _granted_course(request, slug)
    response = StreamingHttpResponse(
        exports.tsv_lines(exports.datashop_rows(course=course)), content_type="text/tab-separated-values"
    )
    response["Content-Disposition"] = f'attachment; filename="{course.slug}-datashop.tsv"'
    return response


@extend_schema(responses={200: ResearchAttemptSerializer(many=True)})
@api_view(["GET"])
def course_attempts(request: Request, slug: str) -> Response:
    """The course's attempts, pseudonymised, oldest first, paginated."""
    course = _granted_course(request, slug)
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(exports.export_attempts(course=course), request)
    return paginator.get_paginated_response(ResearchAttemptSerializer(page, many=True).data)
