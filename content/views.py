from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from content import selectors
from content.graph_svg import graph_svg
from content.models import Course


@login_required
def course_graph_svg(request: HttpRequest, slug: str) -> HttpResponse:
    course = get_object_or_404(Course, slug=slug)
    if not selectors.course_can_edit(user=request.user, course=course):
        raise Http404("No such course")
    nodes, edges = selectors.course_graph(course=course)
    return HttpResponse(graph_svg(nodes, edges), content_type="image/svg+xml")
