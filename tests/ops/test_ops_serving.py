"""Production serving: ``check --deploy`` is clean under production settings, gunicorn runs
from gunicorn.conf.py with JSON access lines, and the Containerfile and compose.yaml name only
files, commands and settings that exist (docker is not available here: they are read, not run)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-like-secret-" + "k" * 50,
    "ALLOWED_HOSTS": "inventory.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
}


def run(*command: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_check_deploy_is_clean_under_production_settings():
    result = run(sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_a_secret_key():
    """The guard is real: production settings refuse the development key."""
    result = run(sys.executable, "manage.py", "check", "--deploy", env={**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_serves_from_its_config_file_with_json_access_lines():
    port = free_port()
    env = {**os.environ, **PRODUCTION, "SECURE_SSL_REDIRECT": "false", "GUNICORN_BIND": f"127.0.0.1:{port}"}
    env.update({"WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "1"})
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "inventory_site.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stdout.read()
            # Refused at once until gunicorn listens; once it listens, wait for the worker to boot
            # (a retry after a read timeout would be a second request, and a second access line).
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/healthz?token=secret", headers={"X-Request-ID": "probe-1"})
                response = conn.getresponse()
                body = response.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
                time.sleep(0.2)
            finally:
                conn.close()
        assert response.status == 200
        assert json.loads(body) == {"status": "ok"}
        assert response.getheader("X-Request-ID") == "probe-1"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    access = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(access) == 1, output
    line = access[0]
    assert (line["method"], line["path"], line["status"], line["request_id"]) == ("GET", "/healthz", 200, "probe-1")
    assert "secret" not in json.dumps(line)  # the query string is not logged


# --- Containerfile and compose.yaml ---------------------------------------------------------------

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
APP_SERVICES = ("migrate", "web", "worker", "beat")


def settings_read() -> set[str]:
    """Every environment variable the settings and gunicorn.conf.py read."""
    text = (ROOT / "inventory_site/settings.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', text))
    names |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', text))
    names |= set(re.findall(r"^\s+([A-Z_]+)=\(", text, re.MULTILINE))  # environ.Env(DEBUG=(bool, True), ...)
    return names


def test_compose_has_the_five_services_and_a_one_shot_migration():
    assert set(COMPOSE["services"]) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert COMPOSE["services"]["db"]["image"].endswith("postgres:15")  # the version pg_dump 15 in the image restores
    for name in APP_SERVICES:
        service = COMPOSE["services"][name]
        assert service["build"] == {"context": ".", "dockerfile": "Containerfile"}
        assert service["depends_on"], name
    for name in ("web", "worker", "beat"):
        assert COMPOSE["services"][name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_commands_name_modules_and_files_that_exist():
    commands = {name: COMPOSE["services"][name]["command"] for name in APP_SERVICES}
    assert commands["migrate"] == ["python", "manage.py", "migrate", "--noinput"]
    assert commands["web"] == ["gunicorn", "-c", "gunicorn.conf.py", "inventory_site.wsgi"]
    assert commands["worker"][:3] == ["celery", "-A", "inventory_site"] and "worker" in commands["worker"]
    assert commands["beat"][:3] == ["celery", "-A", "inventory_site"] and "beat" in commands["beat"]
    for path in ("manage.py", "gunicorn.conf.py", "inventory_site/wsgi.py", "inventory_site/celery.py"):
        assert (ROOT / path).is_file(), path
    web_check = " ".join(COMPOSE["services"]["web"]["healthcheck"]["test"])
    assert "/readyz" in web_check


def test_compose_sets_only_settings_the_code_reads():
    environment = COMPOSE["services"]["web"]["environment"]
    read = settings_read()
    unknown = sorted(set(environment) - read)
    assert not unknown, f"compose.yaml sets variables no setting reads: {unknown}"
    assert environment["DEBUG"] == "false"
    assert environment["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in environment["DATABASE_URL"]
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert "?" in environment["SECRET_KEY"]  # ${SECRET_KEY:?...}: compose refuses to start without one


def test_containerfile_copies_existing_files_and_runs_the_config():
    text = (ROOT / "Containerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert source == "." or (ROOT / source).exists(), source
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "inventory_site.wsgi"]' in text
    assert "postgresql-client-15" in text  # the backup job's pg_dump
    assert "/healthz" in text
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)  # not root
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
