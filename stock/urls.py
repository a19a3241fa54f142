"""The clerk pages under ``/floor/`` (docs/floor.md)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "floor"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.FloorLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="floor:login"), name="logout"),
    path("warehouse/", views.choose_warehouse, name="warehouse"),
    path("lookup/", views.lookup, name="lookup"),
    path("labels/", views.labels, name="labels"),
    path("labels/<str:kind>/<int:pk>.svg", views.label_svg, name="label_svg"),
    path("<slug:slug>/", views.job_view, name="job"),
]
