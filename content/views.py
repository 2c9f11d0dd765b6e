from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from content import selectors
from content.graph_svg import graph_svg
from content.models import Course, Item


@login_required
def course_graph_svg(request: HttpRequest, slug: str) -> HttpResponse:
    course = get_object_or_404(Course, slug=slug)
    if not selectors.course_can_edit(user=request.user, course=course):
        raise Http404("No such course")
    nodes, edges = selectors.course_graph(course=course)
    return HttpResponse(graph_svg(nodes, edges), content_type="image/svg+xml")


@login_required
def item_preview(request: HttpRequest, item_id: int) -> HttpResponse:
    """The item as a student would see it: statement and step prompts, no answers or solution."""
    try:
        item = selectors.item_for_preview(item_id=item_id)
    except Item.DoesNotExist as exc:
        raise Http404("No such item") from exc
    if not selectors.course_can_edit(user=request.user, course=item.course):
        raise Http404("No such item")
    return render(request, "content/item_preview.html", {"item": item})
