"""The framework's floor for ``bench/api_sales.py``: the smallest token-authenticated DRF view
that inserts one row, mounted beside the product's URLs by the bench's own settings
(``bench/api_baseline_settings.py``), never by the product's.

``POST /bench/baseline/`` ``{"note": "..."}``: the project's ``TokenAuthentication`` (with its
address throttle, expiry and lockout checks), ``IsAuthenticated``, the project's JSON parser, a
one-field serializer, one ``INSERT`` into the small table ``bench_baseline_row`` (created by
``create_baseline_table``, not by a migration), 201 ``{"id": ...}``. The middleware is the
product's, as for every request of the same gunicorn.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, models
from django.urls import include, path
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.auth import TokenAuthentication


class BaselineRow(models.Model):
    """One row per baseline request. Not in any migration (``managed = False``): the bench
    creates the table in its scratch database."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False)
    note = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "common"
        db_table = "bench_baseline_row"
        managed = False

    def __str__(self) -> str:
        return self.note


class BaselineView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes: list = []

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=100)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = BaselineRow.objects.create(user=request.user, note=serializer.validated_data["note"])
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)


def create_baseline_table() -> None:
    with connection.schema_editor() as editor:
        editor.create_model(BaselineRow)


# The product's handler500 (a 503 while the database is away, inventory_site/errors.py): a URL
# map of its own would otherwise fall back to Django's plain 500.
handler500 = "inventory_site.errors.server_error"

urlpatterns = [
    path("bench/baseline/", BaselineView.as_view()),
    path("", include("inventory_site.urls")),
]
