"""URL map: the admin for managers; the API and clerk pages arrive with their issues."""

from django.contrib import admin
from django.urls import include, path

from inventory_site import (
    beat_admin,  # noqa: F401 - replaces the Periodic tasks admin before admin.site.urls
    history_admin,  # noqa: F401 - history pages answer 404 to an id that is no id
)
from inventory_site.admin_login import StaffLoginForm
from inventory_site.api import api_urls
from inventory_site.sessions import home
from reports.admin import audit_trail_view
from reports.views import dashboard_index, report_view, reports_index_view

admin.site.site_header = admin.site.site_title = "Perpetual inventory"
admin.site.site_url = None  # the header links the floor pages instead (templates/admin/base_site.html)
admin.site.login_form = StaffLoginForm

# A database that cannot be reached: 503 with Retry-After instead of a 500 (inventory_site/errors.py).
handler500 = "inventory_site.errors.server_error"

urlpatterns = [
    path("", home, name="home"),  # staff to /admin/, clerks to /floor/ (LOGIN_REDIRECT_URL)
    # Before admin/: the admin's catch-all would otherwise answer it.
    path("admin/audit-trail/", admin.site.admin_view(audit_trail_view), name="audit_trail"),
    path("admin/", admin.site.admin_view(dashboard_index), name="dashboard"),  # the managers' home
    path("admin/report/", admin.site.admin_view(reports_index_view), name="reports"),
    path("admin/report/<slug:name>/", admin.site.admin_view(report_view), name="report"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_urls())),  # REST API, schema and docs (docs/api.md)
    path("floor/", include("stock.urls")),
]
