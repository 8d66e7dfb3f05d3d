"""Blueplane settings: everything comes from the environment, with defaults that run on a fresh machine.

A bad value stops start-up with ImproperlyConfigured naming the variable.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, default)
    if not value.strip():
        raise ImproperlyConfigured(f"{name} is set but empty")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        shown = raw if len(raw) <= 40 else f"{raw[:40]}... ({len(raw)} characters)"  # a one-line message
        raise ImproperlyConfigured(f"{name} must be a whole number, got {shown!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def _home() -> Path:
    home = Path(env_str("BLUEPLANE_HOME", "~/.blueplane")).expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"BLUEPLANE_HOME={home} cannot be created: {exc}") from None
    return home.resolve()


def _secret_key(home: Path) -> str:
    """A per-install key kept in the home folder, so sessions survive restarts without configuration."""
    if key := os.environ.get("BLUEPLANE_SECRET_KEY"):
        return key
    path = home / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _database(home: Path) -> dict:
    url = os.environ.get("BLUEPLANE_DATABASE_URL")
    if url is None:
        path = home / "telemetry.db"
        return _sqlite(path)
    try:
        config = dj_database_url.parse(url)
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"BLUEPLANE_DATABASE_URL is not a database URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return _sqlite(Path(config["NAME"]))
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("BLUEPLANE_DATABASE_URL must be a sqlite:// or postgres:// URL")
    return config


# The write-ahead log's bound (telemetry/ingest/checkpoint.py): above 3/4 of it the fast path's
# checkpoints truncate the WAL, at it the fast path waits for one, and SQLite truncates the file to it
# whenever it starts the log over. Lower it on a small disk; the free space also bounds it.
SQLITE_WAL_MAX_BYTES = env_int("BLUEPLANE_SQLITE_WAL_MAX_MB", 64, minimum=1) * 1024 * 1024
# How long a write waits for another writer's lock before it fails with "database is locked" (the fast
# path then retries with backoff; a slow-path task retries too).
SQLITE_BUSY_TIMEOUT_S = env_int("BLUEPLANE_SQLITE_BUSY_TIMEOUT_S", 20, minimum=1)


def _sqlite(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # WAL lets the API and workers read while the fast path writes; NORMAL is durable
            # across application crashes, which is what WAL needs.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            f"PRAGMA journal_size_limit={SQLITE_WAL_MAX_BYTES};",
            # Take the write lock at BEGIN, so two writers queue instead of failing mid-transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT_S,
        },
        # Tests run the fast path and real workers in other processes: they need a file, not :memory:.
        "TEST": {"NAME": str(path.with_name(f"test_{path.name}"))},
    }


BLUEPLANE_HOME = _home()
SECRET_KEY = _secret_key(BLUEPLANE_HOME)
DEBUG = env_bool("BLUEPLANE_DEBUG", False)
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", *os.environ.get("BLUEPLANE_ALLOWED_HOSTS", "").split()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "telemetry",
    "api",
    "api.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Narrows every read of a request to what its caller's token may see (docs/team.md).
    "api.viewer.ViewerMiddleware",
]

ROOT_URLCONF = "blueplane.urls"
WSGI_APPLICATION = "blueplane.wsgi.application"
ASGI_APPLICATION = "blueplane.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": _database(BLUEPLANE_HOME)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BLUEPLANE_HOME / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("BLUEPLANE_LOG_LEVEL", "INFO").upper()},
}

# --- Redis ---------------------------------------------------------------------------------------
# Unset means: the embedded redis-server that blueplane starts on a unix socket under the home.
BLUEPLANE_REDIS_URL = os.environ.get("BLUEPLANE_REDIS_URL") or None
if BLUEPLANE_REDIS_URL is not None and not BLUEPLANE_REDIS_URL.startswith(
    ("redis://", "rediss://", "unix://")
):
    raise ImproperlyConfigured("BLUEPLANE_REDIS_URL must start with redis://, rediss:// or unix://")
REDIS_SOCKET_PATH = BLUEPLANE_HOME / "redis" / "redis.sock"
REDIS_URL = BLUEPLANE_REDIS_URL or f"unix://{REDIS_SOCKET_PATH}"
# A Redis that does not answer at start-up (frozen, overloaded, loading its file) is waited for this
# long before a command gives up in one line; a second embedded server is never started meanwhile.
REDIS_WAIT_S = env_int("BLUEPLANE_REDIS_WAIT_S", 60, minimum=0)

# The WebSocket feed's channel layer (api/live): Redis pub/sub over the same Redis, so an update is one
# PUBLISH that each web process receives once and hands to its own clients.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "blueplane:live:"},
    }
}
# Messages a live feed client may fall behind by before its backlog is dropped for a fresh snapshot.
LIVE_OUTBOX_SIZE = env_int("BLUEPLANE_LIVE_OUTBOX_SIZE", 64, minimum=1)

# --- Fast path ---------------------------------------------------------------------------------
FASTPATH_BATCH_SIZE = env_int("BLUEPLANE_FASTPATH_BATCH_SIZE", 100, minimum=1)
FASTPATH_FLUSH_MS = env_int("BLUEPLANE_FASTPATH_FLUSH_MS", 100, minimum=1)
FASTPATH_IDLE_SLEEP_S = 0.0  # XREADGROUP already blocks for FASTPATH_FLUSH_MS when idle
FASTPATH_MAX_EVENT_BYTES = env_int("BLUEPLANE_MAX_EVENT_BYTES", 1024 * 1024, minimum=1024)
# An entry idle this long in another consumer's pending list is taken over (its consumer died).
FASTPATH_RECLAIM_IDLE_MS = env_int("BLUEPLANE_FASTPATH_RECLAIM_IDLE_MS", 60_000, minimum=1)
FASTPATH_RECLAIM_EVERY_S = env_int("BLUEPLANE_FASTPATH_RECLAIM_EVERY_S", 5, minimum=0)
# An entry delivered this many times without being acknowledged is poison: dead-letter it.
FASTPATH_MAX_DELIVERIES = env_int("BLUEPLANE_FASTPATH_MAX_DELIVERIES", 5, minimum=1)
FASTPATH_TRIM_EVERY_S = env_int("BLUEPLANE_FASTPATH_TRIM_EVERY_S", 10, minimum=0)
# Read and prepare batches in a second process while runfastpath commits (telemetry/ingest/reader.py):
# on by default where there is a second core to run it.
FASTPATH_READER_PROCESS = env_bool("BLUEPLANE_FASTPATH_READER_PROCESS", (os.cpu_count() or 1) > 1)
# While a fault lasts (database locked, full or read-only, Redis gone) the fast path holds its batch and
# retries with exponential backoff, jittered, up to this long between two tries.
FASTPATH_RETRY_MAX_S = env_int("BLUEPLANE_FASTPATH_RETRY_MAX_S", 5, minimum=1)
# The change stream cdc:events keeps at most this many events (not entries: an entry is a batch).
CDC_MAXLEN = env_int("BLUEPLANE_CDC_MAXLEN", 100_000, minimum=1)
# Dead letters kept in telemetry:dlq (each keeps its whole event up to BLUEPLANE_MAX_EVENT_BYTES).
DLQ_MAXLEN = env_int("BLUEPLANE_DLQ_MAXLEN", 100_000, minimum=1)
# Re-packing: per-session units written at ingest are merged into larger ones once this old.
REPACK_AFTER_S = env_int("BLUEPLANE_REPACK_AFTER_S", 300, minimum=0)
REPACK_MAX_UNIT_EVENTS = env_int("BLUEPLANE_REPACK_MAX_UNIT_EVENTS", 256, minimum=2)

# --- Celery: one block holds every CELERY_* ------------------------------------------------------
if REDIS_URL.startswith("unix://"):
    # kombu spells a unix-socket Redis broker redis+socket://
    CELERY_BROKER_URL = "redis+socket://" + REDIS_URL.removeprefix("unix://")
else:
    CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
# JSON only: a worker that accepted pickle would refuse to start as root (celery.platforms.
# check_privileges). As root it still prints one SecurityWarning when it starts: Celery 5.7 warns for
# any worker whose uid or euid is 0, whatever it accepts, and no setting turns that off (C_FORCE_ROOT
# only lifts the pickle refusal). Run Blueplane as a normal user and there is no warning.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("BLUEPLANE_TASK_TIME_LIMIT_S", 600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
# Must exceed the slowest task, or a still-running task is redelivered to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("BLUEPLANE_VISIBILITY_TIMEOUT_S", CELERY_TASK_TIME_LIMIT + 60, minimum=1),
    # How often a worker looks for tasks of dead workers past their visibility timeout. kombu's default
    # (every 10 s, scanning every 10th time) returns them ~100 s late; scan on every sweep instead.
    "unacked_restore_interval": env_int("BLUEPLANE_UNACKED_RESTORE_INTERVAL_S", 10, minimum=1),
    "unacked_restore_throttle": 1,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(BLUEPLANE_HOME / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "repack-raw-traces": {"task": "telemetry.raw_traces_repack", "schedule": 60.0},
    "sweep-dirty-sessions": {"task": "telemetry.sessions_catch_up", "schedule": 30.0},
    "close-idle-sessions": {"task": "telemetry.sessions_idle_close", "schedule": 60.0},
    "refresh-recent-rollups": {"task": "telemetry.rollups_recent_refresh", "schedule": 300.0},
    "archive-raw-traces": {"task": "telemetry.raw_traces_archive", "schedule": 3600.0},
    # /healthz fails when none ran for HEALTH_WORKER_STALE_S: beat, the broker or every worker is down.
    "worker-heartbeat": {"task": "telemetry.worker_heartbeat", "schedule": 15.0},
}

# --- Slow path: sessions, rollups, archive ------------------------------------------------------
# A catch-up task waits a while before taking the dirty sessions, so that under load one task (and
# one transaction) covers many events of each session instead of a few: a catch-up's fixed cost is
# ~15 ms, an event's ~0.1 ms. The wait adapts (telemetry/processing/coalesce.py): the previous run's
# duration, within MIN..MAX ms, so a quiet system shows derived figures within a few tens of ms
# and a flood still gets the long window. It adds at most MAX ms to the time an event takes to show.
# BLUEPLANE_SLOWPATH_COALESCE_MS, the fixed window this replaced, still works: it sets both bounds
# (a fixed window) unless they are given.
_COALESCE_FIXED_MS = (
    env_int("BLUEPLANE_SLOWPATH_COALESCE_MS", 0, minimum=0)
    if os.environ.get("BLUEPLANE_SLOWPATH_COALESCE_MS") is not None
    else None
)
_COALESCE_DEFAULT_MS = (10, 500) if _COALESCE_FIXED_MS is None else (_COALESCE_FIXED_MS, _COALESCE_FIXED_MS)
SLOWPATH_COALESCE_MIN_MS = env_int("BLUEPLANE_SLOWPATH_COALESCE_MIN_MS", _COALESCE_DEFAULT_MS[0], minimum=0)
SLOWPATH_COALESCE_MAX_MS = env_int("BLUEPLANE_SLOWPATH_COALESCE_MAX_MS", _COALESCE_DEFAULT_MS[1], minimum=0)
# A window past beat's sweep (30 s) would only hold a worker: refused, like a maximum below the minimum.
if not SLOWPATH_COALESCE_MIN_MS <= SLOWPATH_COALESCE_MAX_MS <= 30_000:
    raise ImproperlyConfigured(
        "BLUEPLANE_SLOWPATH_COALESCE_MAX_MS must be between BLUEPLANE_SLOWPATH_COALESCE_MIN_MS and 30000,"
        f" got {SLOWPATH_COALESCE_MAX_MS} (minimum {SLOWPATH_COALESCE_MIN_MS})"
    )
# Work per catch-up run, so memory and lock time stay bounded after a huge import: at most this many
# sessions, and at most this many events per session; a run's sessions are applied in transactions of
# about this many events. What is left stays dirty and a follow-up task is enqueued. A live run
# carries a few thousand events of a few dozen sessions, well inside both; the most a run can take
# (10^6 events) is ~100 s of work, inside the task's time limit.
SLOWPATH_MAX_SESSIONS = env_int("BLUEPLANE_SLOWPATH_MAX_SESSIONS", 100, minimum=1)
SLOWPATH_MAX_EVENTS = env_int("BLUEPLANE_SLOWPATH_MAX_EVENTS", 10_000, minimum=1)
# The dirty marks are split into this many shards, each drained by a task of its own, so that several
# workers share the catch-up instead of repeating it (telemetry/wire.py). 1: one hash, one task at a
# time, a laptop's layout. A team server sets about its number of worker processes, the same on every host.
SLOWPATH_SHARDS = env_int("BLUEPLANE_SLOWPATH_SHARDS", 1, minimum=1)
if SLOWPATH_SHARDS > 64:  # wire.SHARDS_MAX: readers look at every possible shard's key
    raise ImproperlyConfigured(f"BLUEPLANE_SLOWPATH_SHARDS must be at most 64, got {SLOWPATH_SHARDS}")
if SLOWPATH_SHARDS > 1:  # one shard: beat's one catch-up task drains every mark; several: one task each
    CELERY_BEAT_SCHEDULE["sweep-dirty-sessions"]["task"] = "telemetry.slowpath_sweep"
# PostgreSQL: how long the slow path waits for fast-path writes in flight before it reads (store/horizon.py).
RAW_HORIZON_WAIT_MS = env_int("BLUEPLANE_RAW_HORIZON_WAIT_MS", 10_000, minimum=1)
# An active session with no event for this long becomes timed_out (beat and `rebuild` apply the same rule).
BLUEPLANE_SESSION_IDLE_TIMEOUT_S = env_int("BLUEPLANE_SESSION_IDLE_TIMEOUT_S", 30 * 60, minimum=1)
# Raw traces older than this many days move to Parquet files under BLUEPLANE_ARCHIVE_DIR.
# Unset means never: history is kept in the database forever by default.
BLUEPLANE_ARCHIVE_AFTER_DAYS: int | None = (
    env_int("BLUEPLANE_ARCHIVE_AFTER_DAYS", 0, minimum=1)
    if os.environ.get("BLUEPLANE_ARCHIVE_AFTER_DAYS")
    else None
)
BLUEPLANE_ARCHIVE_DIR = Path(env_str("BLUEPLANE_ARCHIVE_DIR", str(BLUEPLANE_HOME / "archive"))).expanduser()

# --- `blueplane up` and the web server (admin, API) ------------------------------------------------
# It listens on BLUEPLANE_BIND:BLUEPLANE_PORT: loopback by default. Any other address needs an API token
# (`blueplane token create NAME`): the server refuses to start without one.
BLUEPLANE_PORT = env_int("BLUEPLANE_PORT", 7531, minimum=1)
if BLUEPLANE_PORT > 65535:
    raise ImproperlyConfigured(f"BLUEPLANE_PORT must be at most 65535, got {BLUEPLANE_PORT}")
BLUEPLANE_BIND = env_str("BLUEPLANE_BIND", "127.0.0.1").strip()
ALLOWED_HOSTS += [BLUEPLANE_BIND] if BLUEPLANE_BIND not in {"0.0.0.0", "::"} else ["*"]

# Claude Code's OpenTelemetry export (OTLP/HTTP): `blueplane up` receives it on
# BLUEPLANE_OTLP_BIND:BLUEPLANE_OTLP_PORT (4318 is OTLP/HTTP's registered port, where Claude Code sends by
# default). A body over BLUEPLANE_OTLP_MAX_BYTES, compressed or inflated, is refused (413); Claude Code's
# largest recorded export is ~75 kB.
OTLP_PORT = env_int("BLUEPLANE_OTLP_PORT", 4318, minimum=1)
if OTLP_PORT > 65535:
    raise ImproperlyConfigured(f"BLUEPLANE_OTLP_PORT must be at most 65535, got {OTLP_PORT}")
OTLP_BIND = env_str("BLUEPLANE_OTLP_BIND", "127.0.0.1").strip()
OTLP_MAX_BYTES = env_int("BLUEPLANE_OTLP_MAX_BYTES", 8 * 1024 * 1024, minimum=1024)

# `blueplane status` warns when the file system of the database or of the home has less free space.
BLUEPLANE_DISK_WARN_BYTES = env_int("BLUEPLANE_DISK_WARN_BYTES", 2**30, minimum=0)

# --- REST API (api/v1) ----------------------------------------------------------------------------
# Requests from loopback need no token unless this is off; every other client needs one.
API_TRUST_LOOPBACK = env_bool("BLUEPLANE_API_TRUST_LOOPBACK", True)
# POST /api/v1/events: at most this many envelopes per request, and this many bytes per request body.
API_INGEST_MAX_EVENTS = env_int("BLUEPLANE_API_INGEST_MAX_EVENTS", 1000, minimum=1)
# A connected machine's forwarder (docs/team.md) posts at most this many events a request (the server
# takes at most its BLUEPLANE_API_INGEST_MAX_EVENTS).
FORWARD_BATCH_EVENTS = env_int("BLUEPLANE_FORWARD_BATCH_EVENTS", 1000, minimum=1)
API_INGEST_MAX_BYTES = env_int("BLUEPLANE_API_INGEST_MAX_MB", 16, minimum=1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_INGEST_MAX_BYTES
# The largest page a list returns (?page_size=).
API_PAGE_SIZE_MAX = 1000

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.v1.access.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.v1.access.LoopbackOrToken"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.v1.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": False,  # money as a JSON number, as the CLI writes it
    # `format` is a query parameter of our own (format=ccusage, format=csv), not a renderer's name.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Blueplane Telemetry API",
    "DESCRIPTION": "Tokens, cost, tools, sessions and pipeline state of AI-assisted coding, from the "
    "local Blueplane store. Loopback clients need no token; others send `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema's URL to validator.swagger.io for a badge: nothing leaves
    # the machine.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Three models have a `status` of their own: each enum gets its model's name instead of a hash.
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "telemetry.models.SessionStatus",
        "ToolStatusEnum": "telemetry.models.ToolStatus",
        "ChangeStatusEnum": "telemetry.models.ChangeStatus",
        "TurnKindEnum": "telemetry.models.TurnKind",
    },
    # Every operation documents the one error shape as its 4XX response (api/v1/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.v1.schema.errors_documented",
    ],
}

# --- Capture (telemetry/capture): where Claude Code keeps its files, what the capture keeps ---------
CLAUDE_CONFIG_DIR = Path(os.environ.get("CLAUDE_CONFIG_DIR") or "~/.claude").expanduser()
CLAUDE_PROJECTS_DIR = Path(
    os.environ.get("BLUEPLANE_CLAUDE_PROJECTS_DIR") or CLAUDE_CONFIG_DIR / "projects"
).expanduser()
CLAUDE_SETTINGS_PATH = Path(
    os.environ.get("BLUEPLANE_CLAUDE_SETTINGS") or CLAUDE_CONFIG_DIR / "settings.json"
).expanduser()
CLAUDE_BIN = os.environ.get("BLUEPLANE_CLAUDE_BIN") or None  # unset: on PATH or where its installers put it
# Cursor's user-level hook configuration (docs: cursor-formats §2.1), for `blueplane install cursor`.
CURSOR_HOOKS_PATH = Path(os.environ.get("BLUEPLANE_CURSOR_HOOKS") or "~/.cursor/hooks.json").expanduser()
# Opt-in: keep prompts, responses, file contents and tool output instead of sizes and hashes.
CAPTURE_STORE_CONTENT = env_bool("BLUEPLANE_STORE_CONTENT", False)
CAPTURE_POLL_S = 0.5
# Hook events spooled while Redis was unreachable are never dropped; past this many bytes waiting,
# `blueplane status` and runcapture's log say so.
CAPTURE_SPOOL_WARN_BYTES = env_int("BLUEPLANE_SPOOL_WARN_BYTES", 64 * 1024 * 1024, minimum=1)
# Cursor's databases (telemetry/capture/cursor_monitor.py), read by runcapture every CURSOR_POLL_S
# seconds. Its User folder is found under HOME (Linux and macOS layouts) unless named here.
CURSOR_USER_DIR = os.environ.get("BLUEPLANE_CURSOR_USER_DIR") or None
CURSOR_POLL_S = env_int("BLUEPLANE_CURSOR_POLL_S", 2, minimum=1)
