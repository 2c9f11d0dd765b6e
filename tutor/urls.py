from django.contrib.auth import views as auth_views
from django.urls import path

from tutor import api, progress, views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("courses/<slug:slug>/continue/", views.continue_learning, name="continue-learning"),
    path("courses/<slug:slug>/goal/", views.goal_choose, name="goal-choose"),
    path("items/<int:item_id>/start/", views.item_start, name="item-start"),
    path("sessions/<int:session_id>/", views.session_page, name="session"),
    path("sessions/<int:session_id>/similar/", views.session_similar, name="session-similar"),
    path("courses/<slug:slug>/progress/", progress.progress_page, name="progress"),
    path("api/tutor/sessions/", api.session_create, name="api-session-create"),
    path("api/tutor/sessions/<int:session_id>/", api.session_detail, name="api-session-detail"),
    path("api/tutor/sessions/<int:session_id>/messages/", api.session_message, name="api-session-message"),
]
