"""Settings, read from the environment (django-environ).

With nothing set, Parley runs embedded: an SQLite file, an in-process channel layer,
a local-memory cache and Celery tasks run in process. Production sets DATABASE_URL
(PostgreSQL) and REDIS_URL (channel layer, cache, Celery broker); see README.md.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# A secret key is never hard-coded for production: without SECRET_KEY, only DEBUG or
# the embedded default (no DATABASE_URL) may fall back to a per-checkout key file.
_secret = env.str("SECRET_KEY", default="")
if not _secret:
    if env.str("DATABASE_URL", default="") and not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DATABASE_URL is set and DEBUG is off")
    _key_file = BASE_DIR / ".dev-secret-key"
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
    _secret = _key_file.read_text().strip()
SECRET_KEY = _secret

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
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
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN
    "channels",
    "django_celery_beat",
    "accounts",
    "relationships",
    "messaging",
    "push",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chat_project.urls"
ASGI_APPLICATION = "chat_project.asgi.application"
WSGI_APPLICATION = None

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
# Lets two test runs on one PostgreSQL server use different test databases.
_db["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
if _db["ENGINE"].endswith("sqlite3"):
    # WAL and a busy timeout let the web page, the socket and the tasks share one file.
    _db.setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
else:
    # Without a persistent connection every message would open a new one.
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    _db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:signin"
LOGIN_REDIRECT_URL = "chat"
LOGOUT_REDIRECT_URL = "accounts:signin"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 6}},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
# Uploads go through django-storages; set STORAGE_BACKEND to an S3-compatible backend
# (storages.backends.s3.S3Storage plus its AWS_* settings) in production.
STORAGES = {
    "default": {"BACKEND": env.str("STORAGE_BACKEND",
                                   default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Django itself serves /static/ and local-disk /media/ (fine for small deployments);
# set SERVE_FILES=0 when a web server or a CDN serves them.
SERVE_FILES = env.bool("SERVE_FILES", default=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Redis: channel layer, cache, Celery broker --------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    # The pub/sub layer: half the CPU per message of the list-based layer and no silent
    # drops at capacity (shared/PERF-NOTES.md). socket_timeout None avoids the redis-py 8
    # idle-timeout crash (django/channels_redis#422).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None,
                           "socket_connect_timeout": 5, "max_connections": 10000}],
                "prefix": env.str("CHANNEL_PREFIX", default="parley"),
            },
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": REDIS_URL,
                    "KEY_PREFIX": env.str("CACHE_PREFIX", default="parley")}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Task modules beyond each app's tasks.py (which autodiscovery finds).
CELERY_IMPORTS = ("accounts.webhook_tasks", "messaging.push_all")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# The schedule lives in the database, so operators see and change it in Django admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Chat -----------------------------------------------------------------------------
CHAT_SDKAPPID = env.int("CHAT_SDKAPPID", default=1400000000)
_chat_key = env.str("CHAT_SECRET_KEY", default="")
if not _chat_key:
    if env.str("DATABASE_URL", default="") and not DEBUG:
        raise RuntimeError("CHAT_SECRET_KEY must be set when DATABASE_URL is set and DEBUG is off")
    # Derived from the per-checkout SECRET_KEY: stable across restarts, never shipped.
    import hashlib

    _chat_key = hashlib.sha256(("usersig:" + SECRET_KEY).encode()).hexdigest()
CHAT_SECRET_KEY = _chat_key
CHAT_ADMIN_USERS = env.list("CHAT_ADMIN_USERS", default=["administrator"])
CHAT_HISTORY_DAYS = env.int("CHAT_HISTORY_DAYS", default=7)
# How long the offline cache (the sync log) keeps entries for replay.
CHAT_OFFLINE_CACHE_DAYS = env.int("CHAT_OFFLINE_CACHE_DAYS", default=7)
CHAT_DEDUP_SECONDS = 600
# The /v4 door (chat_project/v4.py): requests per second per command, and overrides
# per "service/command" (Tencent's default is 200/s, 100/s for some account commands).
CHAT_V4_RATE_LIMIT = env.int("CHAT_V4_RATE_LIMIT", default=200)
CHAT_V4_RATE_LIMITS: dict[str, int] = {}
CHAT_MAX_CONTENT_BYTES = 12 * 1024
CHAT_MAX_IMAGE_BYTES = 28 * 1024 * 1024
CHAT_MAX_SOUND_BYTES = 28 * 1024 * 1024
CHAT_MAX_FILE_BYTES = 100 * 1024 * 1024
CHAT_MAX_VIDEO_BYTES = 100 * 1024 * 1024
# Seconds a socket may stay silent (no frame at all) before it is closed.
CHAT_SOCKET_IDLE_TIMEOUT = env.int("CHAT_SOCKET_IDLE_TIMEOUT", default=120)
# Frames per second one socket may send before it is throttled, then closed.
CHAT_SOCKET_RATE = env.int("CHAT_SOCKET_RATE", default=200)
# Seconds a socket stays Online after its last heartbeat (accounts/presence.py).
CHAT_PRESENCE_TTL = env.int("CHAT_PRESENCE_TTL", default=90)
# Seconds a client may recall its own message (the /v4 admin recall has no limit).
CHAT_RECALL_SECONDS = env.int("CHAT_RECALL_SECONDS", default=120)
# Webhooks (accounts/webhooks.py; configured in admin): how long a process trusts its
# copy of the configuration, and how many days the attempt records are kept.
CHAT_WEBHOOK_CONFIG_TTL = env.float("CHAT_WEBHOOK_CONFIG_TTL", default=1.0)
CHAT_WEBHOOK_ATTEMPT_DAYS = env.int("CHAT_WEBHOOK_ATTEMPT_DAYS", default=7)
# Push to all (/v4 all_member_push/im_push): pushes per day and seconds between two.
CHAT_PUSH_DAILY_QUOTA = env.int("CHAT_PUSH_DAILY_QUOTA", default=100)
CHAT_PUSH_MIN_INTERVAL = env.float("CHAT_PUSH_MIN_INTERVAL", default=1.0)
CHAT_PUSH_ALL_ENABLED = env.bool("CHAT_PUSH_ALL_ENABLED", default=True)
CHAT_PUSH_CHUNK = env.int("CHAT_PUSH_CHUNK", default=200)  # receivers per fan-out page

# --- REST -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.UserSigAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "chat_project.api.JSONParser",  # bounded nesting (DRF's raises RecursionError)
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chat_project.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Parley API",
    "DESCRIPTION": "Native REST API of Parley, a self-hosted one-to-one chat server.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
