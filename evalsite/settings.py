"""Settings for the evaluation service, read from the environment (see README's table).

With no environment at all this runs on the embedded default: SQLite in ./var and a Celery
broker that lives on disk (kombu's filesystem transport), so a fresh laptop needs no server.
`DATABASE_URL=postgres://...` and `CELERY_BROKER_URL=redis://...` switch to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .env import ImproperlyConfiguredEnv, env_bool, env_float, env_int, env_list, env_str
from .private_files import private_dir, private_empty_file, write_private_file

BASE_DIR = Path(__file__).resolve().parent.parent
# Owner-only: it holds the secret key, the demo logins, the SQLite database and the disk broker.
VAR_DIR = private_dir(Path(env_str("EVALSITE_VAR_DIR", str(BASE_DIR / "var"))))

DEBUG = env_bool("DEBUG", False)
# Production sets SECRET_KEY. A laptop run gets a random key made once and kept in ./var
# (ignored by git), so no key is ever committed and sessions survive a restart.
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    import secrets

    _key_file = VAR_DIR / "secret_key"
    write_private_file(_key_file, secrets.token_urlsafe(50), only_if_absent=True)
    SECRET_KEY = _key_file.read_text().strip()
# A given key must be strong: it signs sessions, CSRF tokens and password-reset links. The rule
# is Django's own (security.W009), applied at start-up so that a weak key stops the process
# instead of waiting for someone to run `check --deploy`.
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):
    raise ImproperlyConfiguredEnv(
        "SECRET_KEY is too weak: use at least 50 random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "arena",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login form into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "evalsite.urls"
WSGI_APPLICATION = "evalsite.wsgi.application"

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
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# Not CONN_HEALTH_CHECKS: its `SELECT 1` before each request's first query was ~10% of a web
# worker's samples on the review path (py-spy); a connection the database dropped fails one
# request and is then replaced, as Django closes a connection that errored.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Made owner-only before SQLite opens it (SQLite would create it 0644).
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_empty_file(Path(DATABASES["default"]["NAME"]))
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so two writers queue up instead
    # of failing with "database is locked" when a read transaction tries to upgrade; the long
    # timeout lets a web request wait for a worker's short write. WAL lets readers continue.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests that run a real worker process need a test database on disk that both can open.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
elif env_bool("DB_PREPARED_STATEMENTS", True):
    # Server-side parameters and psycopg's prepared statements: a statement run 5 times on a
    # connection is planned once. The review path's reads join up to six tables and PostgreSQL
    # spent more CPU planning them than running them (5.8 ms against 0.7 ms for the item);
    # with plans kept, PostgreSQL's CPU per next + vote halves (docs/BENCHMARKS.md). Prepared
    # statements live on a connection, so they pay with persistent connections
    # (DB_CONN_MAX_AGE). Set DB_PREPARED_STATEMENTS=0 behind a transaction-pooling PgBouncer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": env_int("DB_PREPARE_THRESHOLD", 5, minimum=0)}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static ---------------------------------------------------------------------
# Django's four validators: "password" (common) or "12345678" (numeric) are refused on every
# sign-up path, not only short ones.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # collectstatic target (production); whitenoise serves it
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
X_FRAME_OPTIONS = "DENY"

# --- Login throttling (django-axes) ---------------------------------------------------------
# Failed logins are counted per username and client address together, on the login form, the
# admin's and the token endpoint alike (all go through `authenticate()`). At the limit that pair
# is refused, even with the right password, until the cool-off has passed with no new attempt
# (an attempt during the lockout starts the cool-off again). Counting the pair, not the address
# alone, keeps one mistyping reviewer from locking out a whole office behind one NAT address.
# Django's ModelBackend with its per-request user read compiled once (arena/auth_backends.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "arena.auth_backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_float("LOGIN_COOLOFF_SECONDS", 15 * 60, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The number of proxies in front of the web process that append to X-Forwarded-For (docker
# compose behind one TLS proxy: 1). 0 ignores the header, which a client could forge.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "arena.client_address.client_address"

# --- API tokens -----------------------------------------------------------------------------
# A token expires this long after it was issued (arena/api/token_auth.py); a password change
# revokes the user's token at once.
API_TOKEN_TTL_HOURS = env_float("API_TOKEN_TTL_HOURS", 24 * 30, minimum=0.001)

# --- HTTPS, cookies and the Content-Security-Policy ------------------------------------------
# Off by default so that a laptop run on http://127.0.0.1 works; production behind a TLS proxy
# turns each on, with SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE above (docker-compose.yml
# does), and `manage.py check --deploy` then warns of nothing.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# "HTTP_X_FORWARDED_PROTO,https": the header the TLS proxy sets, and the value meaning https.
# Only for a proxy that always sets (or strips) that header; otherwise a client could claim https.
_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", [])
if _ssl_header and len(_ssl_header) != 2:
    raise ImproperlyConfiguredEnv(f"SECURE_PROXY_SSL_HEADER={_ssl_header!r} must be 'HEADER,value'")
SECURE_PROXY_SSL_HEADER = tuple(_ssl_header) or None
# Every page's scripts and styles are files of this site (static/arena/): no inline script or
# style attribute, nothing from another origin, so an injected `<script>` or `onerror=` would not
# run even if the sanitiser (arena/rendering.py) let one through. The charts are inline SVG
# elements, which `img-src` does not govern.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # The token class first: DRF answers a failed authentication with the first class's
    # challenge, so a bad or expired token gets 401 with `WWW-Authenticate: Token` (with the
    # session class first it would be a 403 that tells a script nothing).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "arena.api.token_auth.ExpiringTokenAuthentication",  # DRF's, plus expiry
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "arena.api.schema.ArenaAutoSchema",
    "EXCEPTION_HANDLER": "arena.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Blind pairwise evaluation API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response components apart: a read-only `id` is required in an answer and
    # absent from a body (drf-spectacular's advice for clients generated from the schema).
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    private_dir(BROKER_DIR)
    for sub in ("queue", "processed", "control"):
        private_dir(BROKER_DIR / sub)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The disk broker is polled; kombu's default of 1 s delays every task by up to a second.
        "polling_interval": 0.1,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Every task is idempotent (it re-reads rows and claims work with conditional updates), so a
# task may be acknowledged late and re-run when a worker dies in the middle of it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1800, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1860, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# CELERY_BEAT_SCHEDULE is set with generation's settings below (its period is one of them).

# --- Model API ------------------------------------------------------------------------------
GLOBAL_API_BASE_URL = env_str("GLOBAL_API_BASE_URL", "https://global-apis.com/v1")
GLOBAL_API_KEY_ENV = "GLOBAL_API_KEY"
# The local simulated OpenAI-compatible endpoint that `make run` serves when no key is set.
SIMULATED_API_BASE_URL = env_str("SIMULATED_API_BASE_URL", "http://127.0.0.1:8001/v1")
LLM_REQUEST_TIMEOUT = env_float("LLM_REQUEST_TIMEOUT", 120.0, minimum=0.1)
LLM_MAX_ATTEMPTS = env_int("LLM_MAX_ATTEMPTS", 50, minimum=1)
LLM_BACKOFF_BASE = env_float("LLM_BACKOFF_BASE", 1.0, minimum=0.0)
LLM_BACKOFF_MAX = env_float("LLM_BACKOFF_MAX", 60.0, minimum=0.0)
GENERATION_STUCK_AFTER_SECONDS = env_int("GENERATION_STUCK_AFTER_SECONDS", 30, minimum=1)
# The shared limiter counts requests and tokens per endpoint over a sliding window of this
# many seconds ("per minute" in production; tests shorten it to stay fast).
RATE_LIMIT_WINDOW_SECONDS = env_float("RATE_LIMIT_WINDOW_SECONDS", 60.0, minimum=0.1)
# A generation task stops claiming new rows after this long and re-enqueues itself, so that
# no task comes near the Celery time limits however large the campaign.
GENERATION_TASK_SECONDS = env_int("GENERATION_TASK_SECONDS", 300, minimum=1)
REDIS_URL = env_str("REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")

# --- Cache (the report cache) ---------------------------------------------------------------
# Redis when REDIS_URL is set, so every web process and worker shares one cache; otherwise a
# file cache in ./var, which processes on one machine share as well. Keys carry a prefix, and
# nothing calls cache.clear(), which on Redis would flush the broker's database too.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "evalsite",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": "evalsite",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }
# Django's sessions: database rows, read through the Redis cache when there is one (`cached_db`
# writes through to the database, so losing Redis logs nobody out); without Redis, the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- Generation that survives restarts -----------------------------------------------------
# A response is retried on transient errors (5xx, timeouts, connection errors, malformed
# bodies, 429s) until this many seconds after its first attempt; LLM_MAX_ATTEMPTS (429s not
# counted) is only a safety bound against a hot loop.
LLM_RETRY_DEADLINE_SECONDS = env_float("LLM_RETRY_DEADLINE_SECONDS", 900.0, minimum=1.0)
# A drain renews the heartbeat of its claimed rows and of its contestant's drain lease this
# often, calls in flight or not; a heartbeat older than GENERATION_STUCK_AFTER_SECONDS means
# the drain is dead: its rows are taken back and its contestant gets a fresh drain.
GENERATION_HEARTBEAT_SECONDS = env_float("GENERATION_HEARTBEAT_SECONDS", 5.0, minimum=0.1)
if GENERATION_HEARTBEAT_SECONDS * 3 > GENERATION_STUCK_AFTER_SECONDS:
    # Two missed heartbeats (a busy database, a GIL-bound process) must not look like a death.
    raise ImproperlyConfigured(
        f"GENERATION_HEARTBEAT_SECONDS ({GENERATION_HEARTBEAT_SECONDS:g}) must be at most a third of "
        f"GENERATION_STUCK_AFTER_SECONDS ({GENERATION_STUCK_AFTER_SECONDS})"
    )
# A drain out of time stops claiming but lets its calls finish, each within its retry
# deadline: the task must still end before Celery's soft time limit interrupts it.
_drain_longest = GENERATION_TASK_SECONDS + LLM_RETRY_DEADLINE_SECONDS + LLM_REQUEST_TIMEOUT
if _drain_longest >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_SOFT_TIME_LIMIT ({CELERY_TASK_SOFT_TIME_LIMIT}) must be above GENERATION_TASK_SECONDS + "
        f"LLM_RETRY_DEADLINE_SECONDS + LLM_REQUEST_TIMEOUT ({_drain_longest:g})"
    )
# How often beat runs the sweep that takes back dead claims and starts missing drains.
GENERATION_SWEEP_SECONDS = env_float("GENERATION_SWEEP_SECONDS", 15.0, minimum=1.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-generation": {"task": "arena.tasks.generation_sweep_stuck", "schedule": GENERATION_SWEEP_SECONDS},
}

# --- Reviewing ------------------------------------------------------------------------------
REVIEW_LEASE_MINUTES = env_int("REVIEW_LEASE_MINUTES", 30, minimum=1)
REVIEW_REPEAT_SHARE = env_float("REVIEW_REPEAT_SHARE", 0.05, minimum=0.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}

# --- Model endpoints and key variables a lead may use (arena/endpoints.py) -------------------
# GLOBAL_API_KEY and the scheme, host and port of GLOBAL_API_BASE_URL are always allowed; these
# add to them. Hosts are `host` (any port) or `host:port`; an internal address (loopback,
# private, link-local, metadata) is allowed only when it is listed as that address, e.g. the
# demo's simulator `127.0.0.1:8001` (Procfile.dev lists it).
LLM_ALLOWED_HOSTS = env_list("LLM_ALLOWED_HOSTS", [])
LLM_ALLOWED_KEY_ENVS = env_list("LLM_ALLOWED_KEY_ENVS", [])

# --- Hostile input: body and upload limits (issue 15) -----------------------------------------
# Every bad request gets a JSON 4xx: request bodies are read through the parsers in
# arena/api/parsers.py (size limit, nesting limit, NUL bytes refused), and a NUL in the URL or
# a header is refused by arena.middleware before any view runs.
# JSON and form bodies (and each multipart form field): Django's default of 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
# Uploaded files above this many bytes are streamed to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
# A prompt upload (a CSV/JSONL/JSON file, or a JSON list in the body) is refused with 413 above
# this many bytes, and with 400 above this many prompts, before anything is stored.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)  # 20 MiB
IMPORT_MAX_PROMPTS = env_int("IMPORT_MAX_PROMPTS", 50_000, minimum=1)
# Arrays and objects nested deeper than this in any JSON input are refused with 400.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32, minimum=2)
FILE_UPLOAD_HANDLERS = [
    "arena.api.parsers.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "arena.api.parsers.LimitedJSONParser",
    "arena.api.parsers.LimitedFormParser",
    "rest_framework.parsers.MultiPartParser",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "arena.middleware.NulCharacterMiddleware"
)

# --- Prompt images (arena/services/images.py) -----------------------------------------------
# Stored once by digest through Django's storage API under the alias "images". By default a
# private directory in the var dir; IMAGE_STORAGE=s3 uses django-storages' S3 backend (install
# `django-storages[s3]`; not a dependency) on any S3-compatible bucket, with the credentials
# boto3 reads from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Either way reviewers never get a
# storage URL: the service reads the bytes and serves them itself, to those who may see them.
IMAGE_STORAGE = env_str("IMAGE_STORAGE", "filesystem")
if IMAGE_STORAGE == "filesystem":
    STORAGES["images"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(private_dir(Path(env_str("IMAGE_DIR", str(VAR_DIR / "images"))))),
            "allow_overwrite": True,  # the same digest is the same bytes
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
elif IMAGE_STORAGE == "s3":
    if not env_str("IMAGE_S3_BUCKET", ""):
        raise ImproperlyConfiguredEnv("IMAGE_STORAGE=s3 needs IMAGE_S3_BUCKET")
    STORAGES["images"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("IMAGE_S3_BUCKET", ""),
            "endpoint_url": env_str("IMAGE_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("IMAGE_S3_REGION", "") or None,
            "location": env_str("IMAGE_S3_PREFIX", "images"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }
else:
    raise ImproperlyConfiguredEnv(f"IMAGE_STORAGE={IMAGE_STORAGE!r} must be 'filesystem' or 's3'")
