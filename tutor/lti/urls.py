"""The LMS integration's addresses, under /lti/ (see ``tutor.lti.views`` and docs/lti.md)."""

from django.urls import path

from tutor.lti import views

urlpatterns = [
    path("jwks/", views.jwks, name="lti-jwks"),
    path("login/<uuid:registration_uuid>/", views.login, name="lti-login"),
    path("launch/", views.launch_view, name="lti-launch"),
    path("deep-link/", views.deep_link, name="lti-deep-link"),
    path("link-setup/", views.link_setup, name="lti-link-setup"),
    path("classes/<int:classroom_id>/", views.class_lms, name="lti-class"),
    path("classes/<int:classroom_id>/roster/", views.roster_sync, name="lti-roster-sync"),
    path("classes/<int:classroom_id>/grades/send/", views.grades_send, name="lti-grades-send"),
    path("assignments/<int:assignment_id>/grading/", views.grading_set, name="lti-grading-set"),
]
