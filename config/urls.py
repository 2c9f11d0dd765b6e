from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.csp import swagger_ui_policy
from tutor import front_doors
from tutor.research import views as research_views
from tutor.teaching.views import class_join


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico whatever the page links: send them to the site's icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    # Each role's front door (tutor/front_doors.py).
    path("", front_doors.home, name="home"),
    path("research/token/", research_views.token_issue, name="research-token-issue"),
    path("", include("tutor.ops.urls")),  # /healthz and /readyz (deploy/, docs/deploy.md)
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from this URL rather than inline; Swagger UI
    # itself comes from drf-spectacular-sidecar (static files), in a page of ours.
    path("api/docs/", swagger_ui_policy(SpectacularSwaggerSplitView.as_view(
        url_name="api-schema", template_name="api/swagger_ui.html")), name="api-docs"),
    path("content/", include("content.urls")),
    path("api/research/", include("tutor.research.urls")),
    path("teach/", include("tutor.teaching.urls")),
    path("classes/join/", class_join, name="class-join"),
    path("lti/", include("tutor.lti.urls")),
    path("", include("tutor.urls")),
]
