from django.urls import path

from content import views

urlpatterns = [
    path("courses/<slug:slug>/graph.svg", views.course_graph_svg, name="course-graph-svg"),
]
