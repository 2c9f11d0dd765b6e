from django.urls import path

from tutor.research import api as research_api

# Every view has the throttle scope "research": DRF limits them together per user (tutor.ratelimit).
urlpatterns = [
    path("token/", research_api.token_obtain, name="research-token"),
    path("courses/", research_api.courses_granted, name="research-courses"),
    path("courses/<slug:slug>/sessions/", research_api.course_sessions, name="research-sessions"),
    path("courses/<slug:slug>/turns/", research_api.course_turns, name="research-turns"),
    path("courses/<slug:slug>/attempts/", research_api.course_attempts, name="research-attempts"),
    path("courses/<slug:slug>/observations/", research_api.course_observations, name="research-observations"),
    path("courses/<slug:slug>/kc-states/", research_api.course_kc_states, name="research-kc-states"),
    path("courses/<slug:slug>/export.tsv", research_api.course_export_tsv, name="research-export-tsv"),
    path("courses/<slug:slug>/export.jsonl", research_api.course_export_jsonl, name="research-export-jsonl"),
]
