"""Modelport settings, read from the environment.

Unset variables give the embedded default (SQLite, filesystem storage, the local orchestrator,
a Celery broker on the filesystem), so `make run` needs no server. Every secret can also be given
as `<NAME>_FILE`, a path whose contents are the value. A wrong value stops start-up with a
sentence that names the variable. `.env.example` documents each variable.
"""

import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from core.llm_runtime import default_llama_python

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.FileAwareEnv()


def _fail(name, problem):
    raise ImproperlyConfigured(f"{name} {problem}")


def _choice(name, choices, default):
    value = env.str(name, default=default).strip().lower()
    if value not in choices:
        _fail(name, f"must be one of {', '.join(choices)}; it is {value!r}.")
    return value


def _bool(name, default=False):
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    return _fail(name, f"must be true or false; it is {raw!r}.")


def _int(name, default, minimum=0):
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        return _fail(name, f"must be a whole number; it is {raw!r}.")
    if value < minimum:
        _fail(name, f"must be at least {minimum}; it is {value}.")
    return value


def _url(name, default, schemes):
    value = env.str(name, default=default).strip()
    if value and urlsplit(value).scheme not in schemes:
        _fail(name, f"must be a URL starting with one of {', '.join(schemes)}; it is {value!r}.")
    return value


DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)

# --- Core -----------------------------------------------------------------------------------

DATA_DIR = Path(env.str("MODELPORT_DATA_DIR", default=str(BASE_DIR / ".modelport"))).resolve()
DEBUG = _bool("DEBUG")


def _secret_key():
    value = env.str("SECRET_KEY", default="")
    if value:
        if len(value) < 32:
            _fail("SECRET_KEY", "must be at least 32 characters long.")
        return value
    # Embedded default: a random key kept with the rest of the local state.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    # Ours, top layer first (see the import contract in pyproject.toml).
    "portal",
    "ui",
    "gateway",
    "audit",
    "applications",
    "endpoints",
    "models_store",
    "tenants",
    "identity",
]

MIDDLEWARE = [
    "portal.middleware.CloseConnectionsAfterAsgiRequest",
    "portal.middleware.HttpMetrics",
    "portal.middleware.RequestIdOutsideAsgi",
    "portal.middleware.ProbesAnswerAnyHost",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContext",
    "identity.backend.OidcSessionRefresh",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.PortalContentSecurityPolicy",
    # Last, as django-axes asks: it answers the logins its backend refused while locked out.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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

# --- Database -------------------------------------------------------------------------------

_database_url = _url(
    "DATABASE_URL",
    default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES = {"default": env.db_url_config(_database_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite makes the file but not its folder (a fresh data folder, say).
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server and the worker share the file: WAL lets readers run beside one writer,
    # IMMEDIATE transactions make writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------------------------

REDIS_URL = _url("REDIS_URL", default="", schemes=("redis", "rediss"))

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Above the hard time limit, so a running task is never handed to a second worker.
        "visibility_timeout": 3600,
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The embedded default: messages are files, so the worker needs no broker server.
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    # "localhost" only because kombu warns of a missing hostname, which this transport ignores.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = _int("MODELPORT_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# How often beat re-enqueues lagging rows and looks for drift, and after how long a Ready
# row is reconciled again anyway (repairs changes made behind the platform's back).
MODELPORT_RESYNC_SECONDS = _int("MODELPORT_RESYNC_SECONDS", 60, minimum=1)
MODELPORT_RESYNC_STALE_SECONDS = _int("MODELPORT_RESYNC_STALE_SECONDS", 600, minimum=1)
# How often each tenant's model index is compared with its bucket (and abandoned uploads
# aborted), and how old an unfinished multipart upload may get.
MODELPORT_MODEL_SYNC_SECONDS = _int("MODELPORT_MODEL_SYNC_SECONDS", 300, minimum=1)
MODELPORT_UPLOAD_MAX_AGE_HOURS = _int("MODELPORT_UPLOAD_MAX_AGE_HOURS", 24, minimum=1)
# How often endpoint status (pods, replicas) is read from the cluster.
MODELPORT_STATUS_SECONDS = _int("MODELPORT_STATUS_SECONDS", 15, minimum=1)
# Gateway usage counters are copied to the database every MODELPORT_USAGE_FLUSH_SECONDS, for the
# minutes that ended at least MODELPORT_USAGE_SETTLE_SECONDS ago (calls still finishing elsewhere).
MODELPORT_USAGE_FLUSH_SECONDS = _int("MODELPORT_USAGE_FLUSH_SECONDS", 60, minimum=1)
MODELPORT_USAGE_SETTLE_SECONDS = _int("MODELPORT_USAGE_SETTLE_SECONDS", 120, minimum=0)
# Audit records older than this many days are removed (daily).
MODELPORT_AUDIT_RETENTION_DAYS = _int("MODELPORT_AUDIT_RETENTION_DAYS", 365, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "purge-audit-records": {
        "task": "audit.tasks.purge_expired_records",
        "schedule": 86400.0,
    },
    "resync-tenants": {
        "task": "tenants.tasks.resync_tenants",
        "schedule": float(MODELPORT_RESYNC_SECONDS),
    },
    "resync-endpoints": {
        "task": "endpoints.tasks.resync_endpoints",
        "schedule": float(MODELPORT_RESYNC_SECONDS),
    },
    "resync-models": {
        "task": "models_store.tasks.resync_models",
        "schedule": float(MODELPORT_MODEL_SYNC_SECONDS),
    },
    "sync-endpoint-status": {
        "task": "endpoints.tasks.sync_endpoint_status",
        "schedule": float(MODELPORT_STATUS_SECONDS),
    },
    "flush-usage": {
        "task": "gateway.tasks.flush_usage",
        "schedule": float(MODELPORT_USAGE_FLUSH_SECONDS),
    },
}

# --- Object storage -------------------------------------------------------------------------

S3_ENDPOINT_URL = _url("S3_ENDPOINT_URL", default="", schemes=("http", "https"))
MODELPORT_BUCKET_PREFIX = env.str("MODELPORT_BUCKET_PREFIX", default="")
if MODELPORT_BUCKET_PREFIX and not re.fullmatch(
    r"[a-z0-9][a-z0-9-]{0,20}", MODELPORT_BUCKET_PREFIX
):
    _fail("MODELPORT_BUCKET_PREFIX", "must be up to 21 lowercase letters, digits or hyphens.")

if S3_ENDPOINT_URL:
    MODELPORT_STORAGE = {
        "backend": "s3",
        "endpoint_url": S3_ENDPOINT_URL,
        "access_key_id": env.str("S3_ACCESS_KEY_ID", default="")
        or _fail("S3_ACCESS_KEY_ID", "must be set when S3_ENDPOINT_URL is set."),
        "secret_access_key": env.str("S3_SECRET_ACCESS_KEY", default="")
        or _fail("S3_SECRET_ACCESS_KEY", "must be set when S3_ENDPOINT_URL is set."),
        "region": env.str("S3_REGION", default="us-east-1"),
    }
else:
    MODELPORT_STORAGE = {"backend": "filesystem", "root": str(DATA_DIR / "storage")}
# Origins whose pages may PUT upload parts straight to the tenants' buckets (the portal's upload
# page does): set as each bucket's CORS rules. The portal's own origins by default.
S3_CORS_ORIGINS = env.list("S3_CORS_ORIGINS", default=CSRF_TRUSTED_ORIGINS)

# Model uploads: how long presigned URLs stay valid, and the limits on one archive upload
# (total unpacked bytes and number of files). Request bodies that are spooled to disk (archives,
# and every body under ASGI) go to FILE_UPLOAD_TEMP_DIR (the system's temporary folder if unset).
MODELPORT_PRESIGNED_URL_SECONDS = _int("MODELPORT_PRESIGNED_URL_SECONDS", 3600, minimum=60)
MODELPORT_ARCHIVE_MAX_BYTES = _int("MODELPORT_ARCHIVE_MAX_BYTES", 20 * 1024**3, minimum=1)
MODELPORT_ARCHIVE_MAX_FILES = _int("MODELPORT_ARCHIVE_MAX_FILES", 10_000, minimum=1)
# How many times its own size an archive may unpack to (archives unpacking to under 64 MiB pass).
MODELPORT_ARCHIVE_MAX_RATIO = _int("MODELPORT_ARCHIVE_MAX_RATIO", 100, minimum=1)
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or None
# The largest request body of any address but the upload ones (parts: 5 GiB, archives:
# MODELPORT_ARCHIVE_MAX_BYTES) and the gateway's (MODELPORT_GATEWAY_MAX_BODY_BYTES).
MODELPORT_REQUEST_MAX_BYTES = _int("MODELPORT_REQUEST_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)

# --- Orchestrator ---------------------------------------------------------------------------

MODELPORT_ORCHESTRATOR = _choice("MODELPORT_ORCHESTRATOR", ("local", "kubernetes"), "local")
# The serving template of an endpoint created without one: on this machine MLServer (the one
# runtime that runs here), on a cluster TF Serving (the reference platform's default).
MODELPORT_DEFAULT_SERVING = env.str(
    "MODELPORT_DEFAULT_SERVING",
    default="mlserver" if MODELPORT_ORCHESTRATOR == "local" else "tf-serving",
)
MODELPORT_DOMAIN = env.str("MODELPORT_DOMAIN", default="modelport.local").strip().lower()
if not DNS_NAME.match(MODELPORT_DOMAIN):
    _fail(
        "MODELPORT_DOMAIN",
        f"must be a DNS name such as models.example.com; it is {MODELPORT_DOMAIN!r}.",
    )

KUBECONFIG = env.str("KUBECONFIG", default="")
if KUBECONFIG and not Path(KUBECONFIG).is_file():
    _fail("KUBECONFIG", f"points to {KUBECONFIG!r}, which is not a readable file.")
# The local orchestrator's model server (`make` installs it in .venv-mlserver).
MODELPORT_MLSERVER = env.str(
    "MODELPORT_MLSERVER", default=str(BASE_DIR / ".venv-mlserver" / "bin" / "mlserver")
)
# Its server for language models (GGUF files): llama-cpp-python's python, which `make llm-server`
# builds into the user's cache.
MODELPORT_LLAMA_PYTHON = env.str("MODELPORT_LLAMA_PYTHON", default=str(default_llama_python()))
# `manage.py seed_demo` adds the tiny-chat language model and endpoint unless this is false.
MODELPORT_DEMO_LLM = _bool("MODELPORT_DEMO_LLM", default=True)
# The HTTP server (manage.py serve): how long a request's line and headers may take to arrive,
# how long a body may pause while being read, and how many connections and requests one process
# holds before it answers 503.
MODELPORT_HTTP_HEADER_SECONDS = _int("MODELPORT_HTTP_HEADER_SECONDS", 10, minimum=1)
MODELPORT_HTTP_BODY_IDLE_SECONDS = _int("MODELPORT_HTTP_BODY_IDLE_SECONDS", 30, minimum=1)
MODELPORT_HTTP_MAX_CONNECTIONS = _int("MODELPORT_HTTP_MAX_CONNECTIONS", 1000, minimum=1)
# The inference gateway: the largest request body it forwards, and how long it waits for a reply.
MODELPORT_GATEWAY_MAX_BODY_BYTES = _int("MODELPORT_GATEWAY_MAX_BODY_BYTES", 64 * 1024 * 1024, 1)
MODELPORT_GATEWAY_TIMEOUT = _int("MODELPORT_GATEWAY_TIMEOUT", 60, minimum=1)
# GET /metrics: scrapers send this as a bearer token; unset, only this machine may scrape.
MODELPORT_METRICS_TOKEN = env.str("MODELPORT_METRICS_TOKEN", default="")
# A Celery worker in a pod of its own serves its task metrics on this port (0: it does not).
MODELPORT_WORKER_METRICS_PORT = _int("MODELPORT_WORKER_METRICS_PORT", 0, minimum=0)
# Seconds for every call to the Kubernetes API server.
MODELPORT_KUBE_TIMEOUT = _int("MODELPORT_KUBE_TIMEOUT", 15, minimum=1)
# The Kubernetes version whose schema serving templates are checked against when saved.
MODELPORT_KUBERNETES_VERSION = env.str("MODELPORT_KUBERNETES_VERSION", default="1.34.0")
if not re.fullmatch(r"1\.\d+\.\d+", MODELPORT_KUBERNETES_VERSION):
    _fail("MODELPORT_KUBERNETES_VERSION", "must look like 1.34.0.")
# Where the gateway and the ingress controller run: tenants' network policies admit only them.
MODELPORT_GATEWAY_NAMESPACE = env.str("MODELPORT_GATEWAY_NAMESPACE", default="modelport")
MODELPORT_INGRESS_NAMESPACE = env.str("MODELPORT_INGRESS_NAMESPACE", default="ingress-nginx")
# "<namespace>/<name>" of the wildcard TLS secret copied into every tenant namespace.
MODELPORT_TLS_SECRET = env.str("MODELPORT_TLS_SECRET", default="")
if MODELPORT_TLS_SECRET and not re.fullmatch(r"[a-z0-9-]+/[a-z0-9.-]+", MODELPORT_TLS_SECRET):
    _fail("MODELPORT_TLS_SECRET", "must look like <namespace>/<secret name>.")
# Prefix the API server adds to OIDC groups (its --oidc-groups-prefix), used in RoleBindings.
MODELPORT_KUBE_GROUP_PREFIX = env.str("MODELPORT_KUBE_GROUP_PREFIX", default="")
# Container defaults written into each tenant's LimitRange.
MODELPORT_DEFAULT_CPU_REQUEST = env.str("MODELPORT_DEFAULT_CPU_REQUEST", default="100m")
MODELPORT_DEFAULT_MEMORY_REQUEST = env.str("MODELPORT_DEFAULT_MEMORY_REQUEST", default="256Mi")
MODELPORT_DEFAULT_CPU_LIMIT = env.str("MODELPORT_DEFAULT_CPU_LIMIT", default="1")
MODELPORT_DEFAULT_MEMORY_LIMIT = env.str("MODELPORT_DEFAULT_MEMORY_LIMIT", default="1Gi")

# --- Identity -------------------------------------------------------------------------------

MODELPORT_PLATFORM_ADMIN_GROUPS = env.list("MODELPORT_PLATFORM_ADMIN_GROUPS", default=[])

# Single sign-on with an OpenID provider (DEX in production). Off when OIDC_ISSUER is unset: then
# only local accounts (the admin site login) and personal access tokens work. The endpoints come
# from <issuer>/.well-known/openid-configuration, fetched when first needed and cached.
# Exactly as the provider writes it (with or without a trailing slash): tokens' `iss` must match.
OIDC_ISSUER = _url("OIDC_ISSUER", default="", schemes=("http", "https"))
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    _fail("OIDC_CLIENT_ID", "and OIDC_CLIENT_SECRET must be set when OIDC_ISSUER is set.")
# Scopes asked for at login; `groups` makes DEX put the groups claim into the ID token.
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid profile email groups")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
# PEM bundle that signs the provider's TLS certificate, when it is not publicly trusted.
OIDC_CA_FILE = env.str("OIDC_CA_FILE", default="")
if OIDC_CA_FILE and not Path(OIDC_CA_FILE).is_file():
    _fail("OIDC_CA_FILE", f"points to {OIDC_CA_FILE!r}, which is not a readable file.")
OIDC_TIMEOUT = _int("OIDC_TIMEOUT", 10, minimum=1)
# Where the provider sends the CLI's browser after login (registered with the provider); unset =
# this portal's /authenticate/callback, a page that shows the code to paste into the CLI.
OIDC_CLI_REDIRECT_URI = _url("OIDC_CLI_REDIRECT_URI", default="", schemes=("http", "https"))

# mozilla-django-oidc: its views and backend read their settings through
# identity.backend.oidc_setting, which maps these names to the ones above.
AUTHENTICATION_BACKENDS = [
    # First: refuses any login, right password or not, from an account or address locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "identity.backend.OidcBackend",
]
# Password guessing (the portal's, the admin site's and the browsable API's login forms): after
# MODELPORT_LOGIN_FAILURE_LIMIT failures in a row, an account, and separately an address, is
# locked out for MODELPORT_LOGIN_LOCKOUT_MINUTES (429 with a sentence saying so).
AXES_FAILURE_LIMIT = _int("MODELPORT_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=_int("MODELPORT_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "portal.lockout.locked_out"
# How many proxies sit in front of the web server: the client's address is read from
# X-Forwarded-For past them (0: the connection's own address).
AXES_IPWARE_PROXY_COUNT = _int("MODELPORT_PROXY_COUNT", 0) or None
OIDC_AUTHENTICATE_CLASS = "identity.backend.OidcLoginView"
OIDC_CALLBACK_CLASS = "identity.backend.OidcCallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "identity.backend.provider_logout_url"
OIDC_STORE_ID_TOKEN = True
# A browser session goes back to the provider (silently) this often, to read the groups again.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = _int("OIDC_SESSION_RECHECK_SECONDS", 900, minimum=10)
LOGIN_REDIRECT_URL = "/ui/"
LOGIN_REDIRECT_URL_FAILURE = "/ui/login/?failed=1"
LOGOUT_REDIRECT_URL = "/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The portal's sign-in page: "Sign in with single sign-on" when OIDC is on, a password form for
# local accounts (the embedded default's `admin`) otherwise.
LOGIN_URL = "/ui/login/"

_tls = _bool("MODELPORT_TLS", default=not DEBUG and bool(env.str("SECRET_KEY", default="")))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _tls
CSRF_COOKIE_SECURE = _tls
SECURE_HSTS_SECONDS = 31536000 if _tls else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _tls else None
SECURE_CONTENT_TYPE_NOSNIFF = True
# Browser sessions end after a working day whatever happens (OIDC sessions are also re-checked at
# the provider every OIDC_SESSION_RECHECK_SECONDS, which re-reads the groups).
SESSION_COOKIE_AGE = _int("MODELPORT_SESSION_SECONDS", 8 * 3600, minimum=60)

# --- REST framework -------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identity.authentication.TokenAuthentication",
        "identity.authentication.OidcTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.EnvelopePagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "core.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.ApiAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelport management API",
    "DESCRIPTION": "Tenants, models and inference endpoints. Shapes follow the IMM management API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get components of their own, so required and non-blank fields are marked.
    "COMPONENT_SPLIT_REQUEST": True,
    # The envelope's `status` words (core/api/schema.py), as named enums.
    "ENUM_NAME_OVERRIDES": {
        "StatusOkEnum": ["OK"],
        "StatusCreatedEnum": ["CREATED"],
        "StatusPatchedEnum": ["PATCHED"],
        "StatusDeletedEnum": ["DELETED"],
        "StatusPatchedOrOkEnum": ["PATCHED", "OK"],
        "StatusErrorEnum": ["ERROR"],
    },
    # Swagger UI's files are served from this process, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Static files, i18n, logging ------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Production (a SECRET_KEY from the environment, no DEBUG) logs one JSON object per line; `make
# run` readable text. Both carry the request id.
MODELPORT_LOG_FORMAT = _choice(
    "MODELPORT_LOG_FORMAT",
    ("text", "json"),
    "json" if not DEBUG and env.str("SECRET_KEY", default="") else "text",
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": MODELPORT_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO").upper()},
    "loggers": {
        "kubernetes": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Celery's own lines (connected, ready, every task run, every beat send) are not news
        # on a console; its warnings and errors still are. Our tasks log under their modules.
        "celery": {"level": "WARNING"},
    },
}
