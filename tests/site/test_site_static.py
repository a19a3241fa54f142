"""Production serving of static files: with DEBUG off and nothing in front of gunicorn, the
admin's stylesheet, the floor's script and the API docs' assets come from STATIC_ROOT
(WhiteNoise), after ``collectstatic``."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client, override_settings


@pytest.mark.parametrize(
    "path",
    [
        "/static/admin/css/base.css",
        "/static/floor/floor.css",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ],
)
def test_collected_static_files_are_served_with_debug_off(tmp_path, path):
    with override_settings(STATIC_ROOT=tmp_path, DEBUG=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        response = Client().get(path)
        assert response.status_code == 200
        assert b"".join(response.streaming_content)  # the file itself, not an error page
        assert Client().get("/static/no-such-file.css").status_code == 404
