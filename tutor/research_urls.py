from django.urls import path

from tutor import research_api

urlpatterns = [
    path("courses/<slug:slug>/export.tsv", research_api.course_export_tsv, name="research-export-tsv"),
    path("courses/<slug:slug>/attempts/", research_api.course_attempts, name="research-attempts"),
]
