"""URL map: the admin for managers; the API and clerk pages arrive with their issues."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from inventory_site import beat_admin  # noqa: F401 - replaces the Periodic tasks admin before admin.site.urls
from inventory_site.api import api_urls
from reports.admin import audit_trail_view

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before admin/: the admin's catch-all would otherwise answer it.
    path("admin/audit-trail/", admin.site.admin_view(audit_trail_view), name="audit_trail"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_urls())),  # REST API, schema and docs (docs/api.md)
    path("floor/", include("stock.urls")),
]
