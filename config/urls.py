from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.csp import swagger_ui_policy
from tutor.teaching.views import class_join

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from this URL rather than inline.
    path("api/docs/", swagger_ui_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("content/", include("content.urls")),
    path("api/research/", include("tutor.research.urls")),
    path("teach/", include("tutor.teaching.urls")),
    path("classes/join/", class_join, name="class-join"),
    path("lti/", include("tutor.lti.urls")),
    path("", include("tutor.urls")),
]
