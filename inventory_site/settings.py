"""Settings, read from environment variables with defaults that run on a laptop.

Production differs only by environment (see README, "Production"):
``DATABASE_URL`` (default: a SQLite file beside the code), ``REPLICA_DATABASE_URL`` (optional: a
read replica for reports and exports), ``CELERY_BROKER_URL`` (default: an
embedded filesystem broker that needs no server), ``EMAIL_URL``, ``SECRET_KEY``, ``DEBUG``,
``ALLOWED_HOSTS``, ``TIME_ZONE``, ``CURRENCY``; with ``DEBUG=false`` also the security settings
below (HTTPS, HSTS, secure cookies), and a ``SECRET_KEY`` is then required (docs/security.md).
"""

from copy import copy
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("INVENTORY_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
    TIME_ZONE=(str, "UTC"),
    CURRENCY=(str, "EUR"),
)

DEBUG = env("DEBUG")
DEV_SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY in ("", DEV_SECRET_KEY):
    raise ImproperlyConfigured("DEBUG is false: set SECRET_KEY to a long random value (docs/security.md).")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static files (no CDN)
    "guardian",
    "simple_history",
    "import_export",
    "django_celery_beat",
    "axes",
    "django_htmx",
    "common",  # shared plumbing below the apps; owns the API idempotency store
    "catalog",
    "stock",
    "counting",
    "purchasing",
    "reports",
]

MIDDLEWARE = [
    # First: every response (health checks too) carries X-Request-ID, and every log line its id.
    "inventory_site.logs.RequestIdMiddleware",
    # /healthz and /readyz answer before the host check and the HTTPS redirect (a probe comes over
    # plain HTTP with the pod's address as Host) and open no session (inventory_site/health.py).
    "inventory_site.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves STATIC_ROOT (after collectstatic) from the app server itself: gunicorn alone gives a
    # styled admin, the floor's scripts and the API docs' assets, with no web server in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "inventory_site.sessions.ShiftSessionMiddleware",  # sessions end SESSION_HOURS after sign-in
    "inventory_site.middleware.AdminQueryHygieneMiddleware",  # NUL in an admin query string: 400, not 500
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a refused (locked-out) login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "inventory_site.urls"
WSGI_APPLICATION = "inventory_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# No DATABASE_URL: a SQLite file. SQLite serialises writers; IMMEDIATE takes the write lock at
# BEGIN so two postings never interleave a read and a write (docs/database.md).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'inventory.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    # A persistent connection is checked (SELECT 1) before its first use in each request, so one
    # broken while idle (a database restart between requests) is replaced, not failed on
    # (common/outage.py, docs/operations.md "When the database is away").
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
    # Server-side parameters let psycopg prepare statements that run again and again (the
    # posting path): planning them cost more than running them (docs/database.md). Set
    # DATABASE_PREPARED_STATEMENTS=false behind a connection pooler in transaction mode.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
        "DATABASE_PREPARED_STATEMENTS", default=True
    ):
        DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
# A streaming replica for reports and exports (common/replica.py, docs/scaling.md): reads inside
# common.replica.replica_reads() go there, everything else and every write to the primary.
if env.str("REPLICA_DATABASE_URL", default=""):
    DATABASES["replica"] = env.db_url("REPLICA_DATABASE_URL")
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS"):
        if _key in DATABASES["default"]:
            DATABASES["replica"].setdefault(_key, copy(DATABASES["default"][_key]))
    # Under the test runner the alias is the default database: no test creates a replica's database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["common.replica.ReplicaRouter"]
ATOMIC_REQUESTS = False  # services own their transactions (STYLE.md, habit 4)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# AxesStandaloneBackend first: it refuses locked-out credentials before any backend checks them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "common.backends.OneQueryModelBackend",  # model permissions in one statement (common/backends.py)
    "django.contrib.auth.backends.ModelBackend",  # passwords and sessions
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "admin:login"
# After a login without a (safe) next=: the user's home, /admin/ for staff, /floor/ for clerks.
LOGIN_REDIRECT_URL = "home"
# Every signed-in session ends this many hours after sign-in (a shift on a shared handheld),
# however busy; the cookie's own age is the same (docs/security.md, "Sessions").
SESSION_HOURS = env.int("SESSION_HOURS", default=12)
SESSION_COOKIE_AGE = SESSION_HOURS * 3600

# --- Login throttling (django-axes) ---------------------------------------------------------------
# Five failed logins for one username from one IP address lock that pair out for an hour, and
# five failed logins from one address (any usernames) lock the address; a successful login
# clears the count. authenticate() needs the request (tests: force_login).
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(hours=1)
# Also by address alone: password spraying (one password tried on many usernames) from one
# address sums its failures and locks the address. A locked-out user's API token is refused
# from the locked address too (common.api.auth).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/reports/lockout.html"

# --- Security (docs/security.md) ------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True
CURRENCY = env("CURRENCY")

# --- Clerk pages (/floor/, docs/floor.md) ----------------------------------------------------------
# A scrap or adjustment from the floor bigger than this many base units, or worth more than this
# (in CURRENCY, at the current unit cost), waits for a manager's approval before it posts.
STOCK_ADJUSTMENT_APPROVAL_QUANTITY = env.str("STOCK_ADJUSTMENT_APPROVAL_QUANTITY", default="10")
STOCK_ADJUSTMENT_APPROVAL_VALUE = env.str("STOCK_ADJUSTMENT_APPROVAL_VALUE", default="100")

# --- Ledger (docs/ledger.md) ------------------------------------------------------------------
# On PostgreSQL a one-line posting of a moving-average item runs as one call of the database
# function stock_post_line (migration stock 0006) instead of seven statements; false sends
# every posting through the Python path (the two write the same rows, tests compare them).
STOCK_POSTING_FUNCTION = env.bool("STOCK_POSTING_FUNCTION", default=True)
# On PostgreSQL a batch of 20 or more lines that bring stock in from outside (receipts, opening
# balances, gains, returns) or take moving-average stock out (sales, scrap, losses) is posted as
# sets, in a fixed number of statements (stock/services/bulk.py); false sends it through the
# Python path line by line (the two write the same rows, tests compare them).
STOCK_POSTING_SETS = env.bool("STOCK_POSTING_SETS", default=True)
# The daily expiry alert (stock.expiry_alerts) lists lots with stock expiring within this many days.
STOCK_EXPIRY_ALERT_DAYS = env.int("STOCK_EXPIRY_ALERT_DAYS", default=14)
# Postings may be back-dated (occurred_at) this many days; further back needs the adjust
# permission in the posting's warehouses (docs/ledger.md, "Back-dating").
STOCK_BACKDATE_DAYS = env.int("STOCK_BACKDATE_DAYS", default=7)

# --- Reports (docs/reports.md) ------------------------------------------------------------------
# The inventory journal's account code per movement kind (kind=code pairs, comma-separated in
# the environment variable), e.g. INVENTORY_JOURNAL_ACCOUNTS="receipt=1400,issue=5000".
INVENTORY_JOURNAL_ACCOUNTS = {
    "receipt": "1400",
    "supplier_return": "1400",
    "issue": "5000",
    "customer_return": "5000",
    "adjustment": "5900",
    "scrap": "5910",
    "transfer": "1410",
    "revaluation": "5950",
    **env.dict("INVENTORY_JOURNAL_ACCOUNTS", default={}),
}

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves it; before the first collectstatic it is empty
STATICFILES_DIRS = [path for path in [BASE_DIR / "static"] if path.is_dir()]  # git keeps no empty folder

# --- Mail -------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_CONFIG["EMAIL_BACKEND"])
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="inventory@localhost")

# --- Celery -----------------------------------------------------------------------------------
# No CELERY_BROKER_URL: kombu's filesystem transport in var/broker, so one machine needs no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue per kind of work (docs/scaling.md, "Celery queues"): a worker started
# without -Q consumes every queue below (one machine, demo.sh); with -Q it takes only the kinds
# named (`celery -A inventory_site worker -Q imports` on a machine of its own), so a slow import or
# report never holds back an alert. Routes match task names (glob, first match wins); a task that
# matches none goes to "default".
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue(name) for name in ("default", "alerts", "imports", "reports", "webhooks")]
CELERY_TASK_ROUTES = {
    "*alert*": {"queue": "alerts"},  # reorder, low-stock, expiry, ... mails
    "*import*": {"queue": "imports"},
    "*webhook*": {"queue": "webhooks"},
    "reports.*": {"queue": "reports"},
    "*.reconcile*": {"queue": "reports"},  # reads the whole ledger
}

# --- API ----------------------------------------------------------------------------------------
# Days an Idempotency-Key's stored answer is kept for replays (docs/api.md, "Idempotency"); the
# daily job stock.purge_idempotency_keys deletes older ones. The ledger keeps its keys forever.
API_IDEMPOTENCY_RETENTION_DAYS = env.int("API_IDEMPOTENCY_RETENTION_DAYS", default=30)
# The OpenAPI schema and its docs pages (/api/v1/schema/, docs/, redoc/) without signing in?
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
# Throttling (docs/api.md): requests per user, and invalid tokens per client address (beyond it
# every token from that address gets 429 with Retry-After until the window passes). DRF rate
# syntax, "<n>/<second|minute|hour|day>"; empty: no limit. Counters live in the cache below.
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="1200/minute")
API_THROTTLE_AUTH_FAILURES = env.str("API_THROTTLE_AUTH_FAILURES", default="20/minute")
# API tokens older than this many hours are refused (0: never expire); renew one with
# manage.py create_api_token USER --rotate.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=0)
# The throttles' counters: set CACHE_URL=redis://... with more than one web worker, or each
# worker counts on its own (the default, a local-memory cache per process).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DjangoModelPermissions with GET needing the view permission too (docs/api.md).
    "DEFAULT_PERMISSION_CLASSES": ["common.api.permissions.ModelPermissions"],
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.api.auth.TokenAuthentication",  # shops, POS, ERPs: Authorization: Token <key>
        "rest_framework.authentication.SessionAuthentication",  # the browsable API and the docs page
    ],
    "DEFAULT_THROTTLE_CLASSES": ["common.api.auth.UserRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "common.api.errors.exception_handler",
    # JSON bodies only, behind the input-hygiene rule (nesting, NUL, lone surrogates: docs/security.md)
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.HygienicJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Perpetual inventory API",
    "DESCRIPTION": "Stock levels, movements, reservations, sales and returns for shops, POS terminals and ERPs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.api.errors.postprocess_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "LocationKindEnum": "catalog.models.LocationKind",
        "MovementKindEnum": "stock.models.MovementKind",
        "PostableMovementKindEnum": "stock.api.REQUESTABLE_KIND_CHOICES",
    },
}

# --- Simple history ---------------------------------------------------------------------------
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- Operations (docs/operations.md) --------------------------------------------------------------
# /readyz marks the last successful reconciliation or backup "stale" past these ages.
READYZ_MAX_RECONCILIATION_AGE_HOURS = env.int("READYZ_MAX_RECONCILIATION_AGE_HOURS", default=36)
READYZ_MAX_BACKUP_AGE_HOURS = env.int("READYZ_MAX_BACKUP_AGE_HOURS", default=36)
READYZ_BROKER_TIMEOUT_SECONDS = env.int("READYZ_BROKER_TIMEOUT_SECONDS", default=2)
# A request that cannot reach the database answers 503 with this Retry-After (common/outage.py):
# about the time PostgreSQL takes to restart.
DATABASE_RETRY_AFTER_SECONDS = env.int("DATABASE_RETRY_AFTER_SECONDS", default=5)

# Backups (manage.py backup, the nightly job): where they go and how many are kept.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)
# What `backup --verify` runs on the restored copy (manage.py arguments), and for how long at most.
BACKUP_VERIFY_COMMANDS = [["reconcile"]]
BACKUP_VERIFY_TIMEOUT_SECONDS = env.int("BACKUP_VERIFY_TIMEOUT_SECONDS", default=3600)

# Logs: one JSON object per line with the request's id (inventory_site/logs.py); LOG_FORMAT=text
# for people reading a terminal (the default with DEBUG on).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "inventory_site.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "inventory_site.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
