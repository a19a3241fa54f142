"""gunicorn's settings for the web tier: ``gunicorn -c gunicorn.conf.py inventory_site.wsgi``.

Read by the README's production commands, the Containerfile, compose.yaml and bench/api_sales.py;
every value can be changed by an environment variable (or a command-line flag, which wins):

- ``GUNICORN_BIND`` (default ``0.0.0.0:8000``);
- ``WEB_CONCURRENCY``: worker processes (default: 2 per core plus 1, at most 8); each holds its
  own database connection per thread (``CONN_MAX_AGE``), so workers x threads x web machines must
  stay below PostgreSQL's ``max_connections``;
- ``GUNICORN_THREADS`` (default 2, gthread workers: a slow client or a slow query does not block
  its worker's other thread);
- ``GUNICORN_TIMEOUT`` (default 60 s: a worker silent that long is killed and replaced; the
  longest requests are imports through the admin, bigger files go through ``import_items``);
- ``GUNICORN_ACCESS_LOG``: ``-`` (default) writes one JSON line per request to stdout, with the
  request's id (the response's ``X-Request-ID``, set by ``inventory_site.logs``) so an access line
  and the application's log lines of one request join; empty turns the access log off.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from gunicorn.glogging import Logger


def _workers() -> int:
    return min(8, 2 * (os.cpu_count() or 1) + 1)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", _workers()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # on SIGTERM, requests in flight get this long to finish
keepalive = 5  # behind a load balancer that keeps connections open
max_requests = 10_000  # recycle workers now and then (a slow leak never grows unbounded)
max_requests_jitter = 1_000  # ... not all at once
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")  # proxies trusted for X-Forwarded-*
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn's runtime control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): two
# servers on one machine (a benchmark beside the demo) would fight over it. Off unless asked for.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


class JsonAccessLogger(Logger):
    """One JSON object per request (values escaped by ``json.dumps``, so a quote in a URL cannot
    break the line). The query string is left out: it may carry search terms or tokens."""

    def access(self, resp, req, environ, request_time) -> None:  # noqa: ANN001 - gunicorn's signature
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-")
        entry = {
            "time": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "request_id": request_id,
        }
        self.access_log.info(json.dumps(entry))


logger_class = JsonAccessLogger
