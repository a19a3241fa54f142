"""The clerk pages under ``/floor/`` (docs/floor.md)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from .floor import job_page, pages

app_name = "floor"

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", pages.FloorLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="floor:login"), name="logout"),
    path("warehouse/", pages.choose_warehouse, name="warehouse"),
    path("lookup/", pages.lookup, name="lookup"),
    path("labels/", pages.labels, name="labels"),
    path("labels/<str:kind>/<int:pk>.svg", pages.label_svg, name="label_svg"),
    path("<slug:slug>/", job_page.job_view, name="job"),
]
