"""URL configuration: the admin, the versioned REST API and its OpenAPI schema and docs."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import error_pages

api_v1 = [
    path("", include("registry.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("governance.api.urls")),
    path("", include("reports.api.urls")),
    path("", include("monitoring.api.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Pages to read, nothing to ask OPTIONS of: drf-spectacular answers an OPTIONS that accepts HTML with a 500.
    # Swagger UI's start-up script is served apart (?script), so the page needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", http_method_names=["get", "head"]),
         name="api-docs"),
    # ReDoc styles its page with <style> elements it writes itself (no nonce) and searches in a worker it makes
    # from a blob: its page alone allows both.
    path("api/redoc/", csp_replace({"style-src": [SELF, UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
        SpectacularRedocView.as_view(url_name="schema", http_method_names=["get", "head"])), name="api-redoc"),
    # Last: any other path under /api/ is a JSON 404, whether or not DEBUG is on (Django's debug 404 page is
    # HTML). Only paths ending in a slash, so that Django still redirects /api/v1/models to /api/v1/models/.
    re_path(r"^api/(?:.*/)?\Z", error_pages.api_not_found),
]

handler400 = "config.api.bad_request"
handler404 = "config.error_pages.not_found"
handler500 = "config.error_pages.server_error"

admin.site.site_header = "modelgov — model governance"
admin.site.site_title = "modelgov"
admin.site.index_title = "Registry, approvals and audit log"
