"""Settings, read from the environment (django-environ).

With nothing set, Parley runs embedded: an SQLite file, an in-process channel layer,
a local-memory cache and Celery tasks run in process. Production sets DATABASE_URL
(PostgreSQL) and REDIS_URL (channel layer, cache, Celery broker), and may shard the
channel layer over several Redis servers (REDIS_CHANNEL_URLS); see README.md.
"""

from datetime import timedelta
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
    "axes",
    "accounts",
    "relationships",
    "messaging",
    "push",
]

MIDDLEWARE = [
    "chat_project.unavailable.UnavailableMiddleware",  # database/Redis down: 503, not 500
    "django.middleware.security.SecurityMiddleware",
    "chat_project.csp.ContentSecurityPolicyMiddleware",  # script/style only from /static/
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.devices.SessionEpochMiddleware",  # a session from before a kick: signed out
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.audit.RequestMiddleware",  # the page an audit entry came from
    "accounts.admin_selection.SelectionMiddleware",  # a list's action on "abc": a message
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: the lockout answer
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
    # Embedded mode serves a few people at once from one file: WAL lets readers run
    # beside the writer, IMMEDIATE transactions take the write lock at BEGIN (a deferred
    # one that reads, then writes, fails at once with "database is locked" when another
    # writer got in between: the busy timeout cannot help it), and the busy timeout
    # makes a second writer wait its turn instead of failing.
    _db.setdefault("OPTIONS", {}).update({
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
elif env.bool("DB_POOL", default=True):
    # A bounded pool per process (psycopg_pool through Django). Under ASGI every
    # concurrent request runs in a thread of its own, and persistent connections
    # (CONN_MAX_AGE) kept one per thread until PostgreSQL ran out of them; a pool caps
    # them at DB_POOL_MAX_SIZE per process. A request that finds every connection busy
    # waits up to DB_POOL_TIMEOUT seconds, then gets the door's "busy, retry" answer
    # (chat_project/unavailable.py). Connections above DB_POOL_MIN_SIZE close after
    # DB_POOL_MAX_IDLE idle seconds. Size it so that (uvicorn workers + Celery worker
    # processes) x DB_POOL_MAX_SIZE stays under PostgreSQL's max_connections.
    _db["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    _db["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        "max_idle": env.float("DB_POOL_MAX_IDLE", default=60.0),
    }
else:
    # DB_POOL=0: no pool in the process (behind PgBouncer, which pools instead). Django
    # advises against persistent connections under ASGI: CONN_MAX_AGE defaults to 0.
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    _db["CONN_HEALTH_CHECKS"] = True

# DB_PREPARED_STATEMENTS (PostgreSQL; default on): the statements every send runs are
# prepared once per connection, with generic plans (chat_project/db.py says what it
# saves). Behind PgBouncer set it to 0: it refuses the startup `options` that set the
# plan mode, and before 1.21 it carries no prepared statements between server
# connections. The plan mode applies to prepared statements only: Django's own queries
# are planned per call, as before.
DB_PREPARED_STATEMENTS = _db["ENGINE"].endswith("postgresql") and env.bool(
    "DB_PREPARED_STATEMENTS", default=True)
if DB_PREPARED_STATEMENTS:
    _options = _db.setdefault("OPTIONS", {})
    # psycopg prepares nothing with no threshold, even when asked; with one no statement
    # reaches, it prepares what asks (prepared_cursor) and nothing else.
    _options["prepare_threshold"] = 2**31 - 1
    _options["options"] = " ".join(
        filter(None, [_options.get("options"), "-c plan_cache_mode=force_generic_plan"]))

# --- Read replicas (README "Read replicas"; chat_project/replicas.py) -------------------
# DATABASE_REPLICA_URLS: PostgreSQL streaming replicas of DATABASE_URL, comma-separated.
# Empty (the default): no replica, no router, every query on the primary as before.
# History pages and the admin's lists read from a replica that has replayed every write
# of the user who reads; everything else, and every read in a transaction, uses the
# primary. A replica that does not answer within DATABASE_REPLICA_CONNECT_TIMEOUT
# seconds is skipped for DATABASE_REPLICA_RETRY_AFTER seconds. Each user's last write
# position is kept in Redis for DATABASE_REPLICA_LSN_TTL seconds: a replica must never
# lag more than that.
DATABASE_REPLICA_URLS = env.list("DATABASE_REPLICA_URLS", default=[])
DATABASE_REPLICA_CONNECT_TIMEOUT = env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=2)
DATABASE_REPLICA_RETRY_AFTER = env.float("DATABASE_REPLICA_RETRY_AFTER", default=10.0)
DATABASE_REPLICA_LSN_TTL = env.int("DATABASE_REPLICA_LSN_TTL", default=300)
DATABASE_REPLICAS: list[str] = []  # their aliases in DATABASES
if DATABASE_REPLICA_URLS:
    if not _db["ENGINE"].endswith("postgresql"):
        raise RuntimeError("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL")
    if not env.str("REDIS_URL", default=""):
        raise RuntimeError("DATABASE_REPLICA_URLS needs REDIS_URL (every process must "
                           "see each user's last write position)")
    for _n, _url in enumerate(DATABASE_REPLICA_URLS, 1):
        _replica = env.db_url_config(_url)
        _replica["CONN_MAX_AGE"] = _db["CONN_MAX_AGE"]
        _replica["CONN_HEALTH_CHECKS"] = _db["CONN_HEALTH_CHECKS"]
        _replica["OPTIONS"] = {**_db.get("OPTIONS", {}),
                               "connect_timeout": DATABASE_REPLICA_CONNECT_TIMEOUT}
        if "pool" in _replica["OPTIONS"]:  # a short wait for a pooled connection too
            _replica["OPTIONS"]["pool"] = {**_replica["OPTIONS"]["pool"],
                                           "timeout": float(DATABASE_REPLICA_CONNECT_TIMEOUT)}
        _replica["TEST"] = {"MIRROR": "default"}  # tests: the test database itself
        DATABASES[f"replica{_n}"] = _replica
        DATABASE_REPLICAS.append(f"replica{_n}")
    DATABASE_ROUTERS = ["chat_project.replicas.ReplicaRouter"]
    # The admin's GET pages read from a replica (after the session and user are read
    # from the primary); its POSTs note the operator's write position.
    MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
                      + 1, "chat_project.replicas.AdminReadsFromReplica")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:signin"
LOGIN_REDIRECT_URL = "chat"
LOGOUT_REDIRECT_URL = "accounts:signin"

# --- Sign-in, sign-up and TLS (README "Production") ------------------------------------
# Open sign-up on the web UI: on for `make run` (DEBUG), off in production, where the
# integrator's backend imports accounts (an app admin's UserID is never signed up).
CHAT_OPEN_SIGNUP = env.bool("CHAT_OPEN_SIGNUP", default=DEBUG)
# django-axes: after CHAT_SIGNIN_FAILURE_LIMIT wrong passwords for one UserID from one
# address, that pair is locked out (HTTP 429) for CHAT_SIGNIN_COOLOFF_MINUTES, on the
# web sign-in and /admin/ alike. Attempts are stored in the database (admin: "Axes").
AUTHENTICATION_BACKENDS = ["accounts.backends.SignInLockout",
                           "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env.bool("CHAT_SIGNIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = env.int("CHAT_SIGNIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("CHAT_SIGNIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"  # the forms' field (axes' default: USERNAME_FIELD)
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures only, not a row per successful sign-in
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# The client's address is REMOTE_ADDR only: a header the client sets could change it
# per attempt. Behind a proxy, uvicorn's --forwarded-allow-ips puts the real one there.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto: secure cookies, HSTS, and
# requests (and WebSocket origins) taken as https when the proxy says so.
if env.bool("CHAT_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)

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
# S3-compatible storage (django-storages reads these from Django's settings; boto3 takes
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment itself). A file's URL
# is stored in its message, so it is a plain one, not a signed URL that would stop
# working an hour later: the random folder in its path is what keeps it private.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_CUSTOM_DOMAIN = env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None
AWS_QUERYSTRING_AUTH = env.bool("AWS_QUERYSTRING_AUTH", default=False)
AWS_S3_FILE_OVERWRITE = False
# Django itself serves /static/ and local-disk /media/ (fine for small deployments);
# set SERVE_FILES=0 when a web server or a CDN serves them.
SERVE_FILES = env.bool("SERVE_FILES", default=True)
# The pages' Content-Security-Policy (chat_project/csp.py) lets pictures and media come
# from this server, from MEDIA_URL's host when it is absolute, and from these origins
# (e.g. the S3 bucket's or CDN's https://host). Pictures also from CSP_IMG_ORIGINS:
# avatars are URLs anywhere, so any https: host by default; list hosts to narrow it
# ("'self'" for none; a refused avatar shows its initial).
CSP_MEDIA_ORIGINS = env.list("CSP_MEDIA_ORIGINS", default=[])
CSP_IMG_ORIGINS = env.list("CSP_IMG_ORIGINS", default=["https:"])
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Redis: channel layer, cache, Celery broker --------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

# Every Redis call has a time limit (REDIS_TIMEOUT, seconds): a Redis that refuses
# fails at once, one that accepts and never answers fails after the limit, and the
# doors answer "busy, retry" instead of hanging (chat_project/unavailable.py).
# After a failure, the channel layer and the cache fail at once for REDIS_RETRY_AFTER
# seconds before trying again, so an outage costs one timeout per caller, not one per
# call (chat_project/redis_bounds.py).
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=2.0)
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=2.0)
REDIS_RETRY_AFTER = env.float("REDIS_RETRY_AFTER", default=2.0)

# The channel layer's Redis servers (comma-separated URLs; default: REDIS_URL alone).
# channels-redis shards over them itself: each channel and group name is hashed (CRC32)
# to one server, the same one in every process, so every process must list the same
# URLs in the same order. Presence, the cache, rate limits and the Celery broker stay on
# REDIS_URL. Not a Redis Cluster: channels-redis does not support one (README).
REDIS_CHANNEL_URLS = env.list("REDIS_CHANNEL_URLS", default=[REDIS_URL] if REDIS_URL else [])
if REDIS_CHANNEL_URLS and not REDIS_URL:
    raise RuntimeError("REDIS_CHANNEL_URLS needs REDIS_URL (presence, cache, broker)")

if REDIS_URL:
    # The pub/sub layer: half the CPU per message of the list-based layer and no silent
    # drops at capacity (shared/PERF-NOTES.md). Its receiver reads with its own 0.1 s
    # timeout, so a socket_timeout does not race it (the redis-py 8 trap of
    # django/channels_redis#422 is the list-based layer's blocking pop);
    # chat_project/redis_bounds.py also bounds each call as a whole, lock wait included.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chat_project.redis_bounds.BoundedPubSubChannelLayer",
            "CONFIG": {
                # One entry per shard, each with the same time limits.
                "hosts": [{"address": url, "socket_timeout": REDIS_TIMEOUT,
                           "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                           "max_connections": 10000} for url in REDIS_CHANNEL_URLS],
                "prefix": env.str("CHANNEL_PREFIX", default="parley"),
                "call_timeout": REDIS_TIMEOUT,
                "retry_after": REDIS_RETRY_AFTER,
            },
        }
    }
    CACHES = {
        "default": {"BACKEND": "chat_project.redis_bounds.BoundedRedisCache",
                    "LOCATION": REDIS_URL,
                    "KEY_PREFIX": env.str("CACHE_PREFIX", default="parley"),
                    "OPTIONS": {"socket_timeout": REDIS_TIMEOUT,
                                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                                "retry_after": REDIS_RETRY_AFTER}}
    }
    # The broker may be a Redis of its own (one that must persist its queue, say).
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    _BROKER_TIMEOUTS = {"socket_timeout": REDIS_TIMEOUT,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT}
    # Queuing a task (after a commit, in a request) tries once, for at most one
    # REDIS_TIMEOUT. kombu's retries only ever helped a broker that hangs, where each
    # cost more timeouts: with a frozen Redis one publish took 8.6 s with 2 retries, 6.0 s
    # with 1, 2.0 s with none. A broker restarted under a pooled connection needs no
    # retry of kombu's: redis-py reconnects (a publish right after a restart took 2 ms).
    # A publish that fails opens the breaker (chat_project/broker.py): the process
    # then queues nothing for CHAT_BROKER_COOLDOWN_SECONDS, tasks go to their sweeps.
    CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
    CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    _BROKER_TIMEOUTS = {}
CELERY_TASK_EAGER_PROPAGATES = True
# After a publish fails, the process queues nothing for this many seconds: tasks go
# straight to their fallbacks (kept for their sweeps) instead of each waiting out the
# broker's timeouts in a send's thread (chat_project/broker.py).
CHAT_BROKER_COOLDOWN_SECONDS = env.float("CHAT_BROKER_COOLDOWN_SECONDS", default=10.0)
# The console's "Queue now" (Kept webhook callbacks, Kept push tasks) queues at most this
# many rows a click (those queued longest ago first), so a selection of every row is not
# swept in the request (accounts/admin_outbox.py).
CHAT_OUTBOX_QUEUE_NOW_MAX = env.int("CHAT_OUTBOX_QUEUE_NOW_MAX", default=500)
# An outbox row a sweep claimed and whose task it never confirmed queued (the sweep's
# process died while publishing) is due again this many seconds after the claim, not
# after the outbox's grace; a sweep hands back what it has not published by half of it
# (chat_project/outbox.py).
CHAT_OUTBOX_CLAIM_SECONDS = env.float("CHAT_OUTBOX_CLAIM_SECONDS", default=30.0)
# Delivery under faults (every task that writes is idempotent: messaging/tasks.py,
# messaging/push_all.py, accounts/webhook_tasks.py). A task is acknowledged when it
# has finished, not when a worker takes it, so a worker killed mid-task leaves it to be
# redone; one worker reserves one task at a time, so a killed worker strands no queue of
# prefetched ones. The Redis broker hands a task that was taken and never acknowledged
# to another worker after the visibility timeout (kombu's default, one hour, is what
# kept a batch parked for an hour), checked every restore interval: a killed worker's
# task runs again about CHAT_TASK_VISIBILITY_TIMEOUT + its tenth seconds after it was taken.
# No task may run, or wait for its retry (countdown), that long, or it is handed out a
# second time while still held: tasks are cut short (batch chunks, push pages under a
# time budget, CHAT_TASK_STATEMENT_TIMEOUT) and retry countdowns are capped
# (CHAT_TASK_RETRY_MAX_COUNTDOWN).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CHAT_TASK_VISIBILITY_TIMEOUT = env.int("CHAT_TASK_VISIBILITY_TIMEOUT", default=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **_BROKER_TIMEOUTS,  # every broker call has its time limit (above)
    "visibility_timeout": CHAT_TASK_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": max(1, CHAT_TASK_VISIBILITY_TIMEOUT // 10),
    "unacked_restore_throttle": 1,  # every interval scans (kombu's default: every 10th)
    # A worker killed while restoring holds the restore lock until this expires.
    "unacked_mutex_expire": CHAT_TASK_VISIBILITY_TIMEOUT,
}
# A prefix for every broker key, queues and the unacknowledged set included: processes
# with different prefixes on one Redis never hand out each other's tasks (tests).
if env.str("CELERY_BROKER_KEY_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env.str("CELERY_BROKER_KEY_PREFIX")
# The longest a retry waits in the broker (seconds); well under the visibility timeout.
CHAT_TASK_RETRY_MAX_COUNTDOWN = max(1, CHAT_TASK_VISIBILITY_TIMEOUT // 2)
# Seconds one statement of a task may take, lock waits included (PostgreSQL's
# statement_timeout, set per task transaction): a stuck chunk fails and is retried
# instead of outliving its visibility timeout.
CHAT_TASK_STATEMENT_TIMEOUT = env.float("CHAT_TASK_STATEMENT_TIMEOUT", default=20.0)
# The queue tasks go to unless routed (a worker serves it with -Q).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Receivers per batchsendmsg chunk (one task, one transaction: well under a second).
CHAT_BATCH_CHUNK = env.int("CHAT_BATCH_CHUNK", default=100)
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
# Uploads (messaging/uploads.py, README "Files"): an image's pixels (width x height) at
# most, checked from its header before any decoding (a 362 KB PNG can hold 88 MP); a
# user's uploads per minute and bytes per day (each day is the 24 h before the upload);
# and how long an upload no message refers to is kept before its files are deleted.
CHAT_MAX_IMAGE_PIXELS = env.int("CHAT_MAX_IMAGE_PIXELS", default=40_000_000)
CHAT_UPLOAD_RATE = env.int("CHAT_UPLOAD_RATE", default=30)
CHAT_UPLOAD_DAILY_BYTES = env.int("CHAT_UPLOAD_DAILY_BYTES", default=1024 * 1024 * 1024)
CHAT_UPLOAD_UNSENT_SECONDS = env.int("CHAT_UPLOAD_UNSENT_SECONDS", default=24 * 3600)
# Seconds a socket may stay silent (no frame at all) before it is closed.
CHAT_SOCKET_IDLE_TIMEOUT = env.int("CHAT_SOCKET_IDLE_TIMEOUT", default=120)
# The largest frame a socket may send: a 12 KB message, or a merged message's list of up
# to 200 KB, fits. uvicorn refuses larger ones itself when started with
# --ws-max-size 262144 (Makefile, README); the consumer closes such a socket (1009) too.
CHAT_SOCKET_MAX_FRAME = 256 * 1024
# Frames per second one socket may send before it is throttled, then closed.
CHAT_SOCKET_RATE = env.int("CHAT_SOCKET_RATE", default=200)
# Seconds a realtime publish may wait for Redis before it is given up (the sync log has
# the event; devices catch up with `sync`): a stuck Redis never holds a send's answer.
CHAT_PUBLISH_TIMEOUT = env.float("CHAT_PUBLISH_TIMEOUT", default=2.0)
# Seconds between two probes of the channel layer by each server process; after an
# outage, its sockets catch up what was published meanwhile (messaging/layer_watch.py).
CHAT_LAYER_PROBE_SECONDS = env.float("CHAT_LAYER_PROBE_SECONDS", default=5.0)
# Seconds a socket stays Online after its last heartbeat (accounts/presence.py).
CHAT_PRESENCE_TTL = env.int("CHAT_PRESENCE_TTL", default=90)
# Seconds a status announcement (USER_STATUS_UPDATED) the channel layer refused or
# could not take in time is tried again before it is dropped (accounts/announcer.py).
CHAT_STATUS_RETRY_SECONDS = env.float("CHAT_STATUS_RETRY_SECONDS", default=60.0)
# Seconds a client may recall its own message (the /v4 admin recall has no limit).
CHAT_RECALL_SECONDS = env.int("CHAT_RECALL_SECONDS", default=120)
# Webhooks (accounts/webhooks.py; configured in admin): how long a process trusts its
# copy of the configuration, and how many days the attempt records are kept.
CHAT_WEBHOOK_CONFIG_TTL = env.float("CHAT_WEBHOOK_CONFIG_TTL", default=1.0)
CHAT_WEBHOOK_ATTEMPT_DAYS = env.int("CHAT_WEBHOOK_ATTEMPT_DAYS", default=7)
# An after-callback queued this many seconds ago whose task has not started (its row
# still in the outbox: the process died before queuing it, or the broker lost it) is
# queued again by the sweep (accounts/webhook_tasks.py). Longer than a task may wait in
# a busy queue, or a slow task gets a second copy (which finds its attempt and stops).
CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS = env.float("CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS",
                                              default=300.0)
# Push to all (/v4 all_member_push/im_push): pushes per day and seconds between two.
CHAT_PUSH_DAILY_QUOTA = env.int("CHAT_PUSH_DAILY_QUOTA", default=100)
CHAT_PUSH_MIN_INTERVAL = env.float("CHAT_PUSH_MIN_INTERVAL", default=1.0)
CHAT_PUSH_ALL_ENABLED = env.bool("CHAT_PUSH_ALL_ENABLED", default=True)
CHAT_PUSH_CHUNK = env.int("CHAT_PUSH_CHUNK", default=200)  # receivers per fan-out page
# Offline push to vendors (push/providers/): every vendor request is bounded by this.
CHAT_PUSH_HTTP_TIMEOUT = env.float("CHAT_PUSH_HTTP_TIMEOUT", default=10.0)
# Web Push (push/vapid.py, push/providers/webpush.py): the VAPID pair as
# `web-push generate-vapid-keys` prints it (base64url); with neither set the server makes
# one and keeps it in the database. The subject is a mailto: or https: contact.
CHAT_VAPID_PRIVATE_KEY = env.str("CHAT_VAPID_PRIVATE_KEY", default="")
CHAT_VAPID_PUBLIC_KEY = env.str("CHAT_VAPID_PUBLIC_KEY", default="")
CHAT_VAPID_SUBJECT = env.str("CHAT_VAPID_SUBJECT", default="")
# Seconds a push service keeps an undelivered Web Push (the offline cache's 7 days).
CHAT_WEBPUSH_TTL = env.int("CHAT_WEBPUSH_TTL", default=7 * 24 * 3600)
# Subscription endpoints on a loopback address (plain http allowed there): development
# and tests only; production refuses them (push/webpush_subscription.py).
CHAT_WEBPUSH_ALLOW_LOOPBACK = env.bool("CHAT_WEBPUSH_ALLOW_LOOPBACK", default=DEBUG)
# Offline push delivery (push/pipeline.py): off entirely; requests per delivery (the
# first and its retries); days attempt and delivery records are kept; the Celery queue
# push tasks go to ("" the default queue; a queue of their own keeps a slow vendor
# from delaying other tasks).
CHAT_PUSH_ENABLED = env.bool("CHAT_PUSH_ENABLED", default=True)
CHAT_PUSH_MAX_ATTEMPTS = env.int("CHAT_PUSH_MAX_ATTEMPTS", default=5)
CHAT_PUSH_ATTEMPT_DAYS = env.int("CHAT_PUSH_ATTEMPT_DAYS", default=7)
CHAT_PUSH_QUEUE = env.str("CHAT_PUSH_QUEUE", default="")
# An offline push queued this many seconds ago whose task has not started (its row
# still in the outbox: the process died before queuing it, or the broker lost it) is
# queued again by the sweep (push/tasks.py). Longer than a task may wait in a busy
# queue, or a slow task gets a second copy (which pushes nothing twice).
CHAT_PUSH_OUTBOX_GRACE_SECONDS = env.float("CHAT_PUSH_OUTBOX_GRACE_SECONDS", default=300.0)
# Push tokens one user may hold (one per device); registering one more drops the oldest.
CHAT_PUSH_MAX_TOKENS = env.int("CHAT_PUSH_MAX_TOKENS", default=10)
# FCM HTTP v1 (push/providers/fcm.py): the service-account JSON, inline or as a path;
# the project ID defaults to the JSON's; the token URL to the JSON's token_uri.
CHAT_PUSH_FCM_CREDENTIALS = env.str("CHAT_PUSH_FCM_CREDENTIALS", default="")
CHAT_PUSH_FCM_PROJECT_ID = env.str("CHAT_PUSH_FCM_PROJECT_ID", default="")
CHAT_PUSH_FCM_BASE_URL = env.str("CHAT_PUSH_FCM_BASE_URL", default="https://fcm.googleapis.com")
CHAT_PUSH_FCM_TOKEN_URL = env.str("CHAT_PUSH_FCM_TOKEN_URL", default="")
# APNs over HTTP/2 with token auth (push/providers/apns.py): the .p8 signing key (PEM
# inline or a path), its key ID, the team ID and the app's bundle ID (apns-topic).
# CHAT_PUSH_APNS_SANDBOX picks Apple's development host; CHAT_PUSH_APNS_BASE_URL overrides
# both. CHAT_PUSH_APNS_CA_FILE: CAs trusted instead of the system's (tests), empty: system CAs.
CHAT_PUSH_APNS_KEY = env.str("CHAT_PUSH_APNS_KEY", default="")
CHAT_PUSH_APNS_KEY_ID = env.str("CHAT_PUSH_APNS_KEY_ID", default="")
CHAT_PUSH_APNS_TEAM_ID = env.str("CHAT_PUSH_APNS_TEAM_ID", default="")
CHAT_PUSH_APNS_BUNDLE_ID = env.str("CHAT_PUSH_APNS_BUNDLE_ID", default="")
CHAT_PUSH_APNS_SANDBOX = env.bool("CHAT_PUSH_APNS_SANDBOX", default=False)
CHAT_PUSH_APNS_BASE_URL = env.str("CHAT_PUSH_APNS_BASE_URL", default="")
CHAT_PUSH_APNS_CA_FILE = env.str("CHAT_PUSH_APNS_CA_FILE", default="")
# Android vendors (push/README.md, "Android vendors"). A vendor whose credentials are
# empty is disabled. The URLs are overridable for a regional host or a test server.
# Huawei Push Kit (HMS Core): OAuth client credentials of the app (AppGallery Connect).
CHAT_PUSH_HUAWEI_APP_ID = env.str("CHAT_PUSH_HUAWEI_APP_ID", default="")
CHAT_PUSH_HUAWEI_APP_SECRET = env.str("CHAT_PUSH_HUAWEI_APP_SECRET", default="")
CHAT_PUSH_HUAWEI_AUTH_URL = env.str(
    "CHAT_PUSH_HUAWEI_AUTH_URL", default="https://oauth-login.cloud.huawei.com/oauth2/v3/token")
CHAT_PUSH_HUAWEI_BASE_URL = env.str(
    "CHAT_PUSH_HUAWEI_BASE_URL", default="https://push-api.cloud.huawei.com")
# The app's launcher Activity class: Huawei shows a badge only when it is given.
CHAT_PUSH_HUAWEI_BADGE_CLASS = env.str("CHAT_PUSH_HUAWEI_BADGE_CLASS", default="")
# Honor Push: OAuth client credentials (client id and secret) and the app id.
CHAT_PUSH_HONOR_APP_ID = env.str("CHAT_PUSH_HONOR_APP_ID", default="")
CHAT_PUSH_HONOR_CLIENT_ID = env.str("CHAT_PUSH_HONOR_CLIENT_ID", default="")
CHAT_PUSH_HONOR_CLIENT_SECRET = env.str("CHAT_PUSH_HONOR_CLIENT_SECRET", default="")
CHAT_PUSH_HONOR_AUTH_URL = env.str(
    "CHAT_PUSH_HONOR_AUTH_URL", default="https://iam.developer.honor.com/auth/token")
CHAT_PUSH_HONOR_BASE_URL = env.str(
    "CHAT_PUSH_HONOR_BASE_URL", default="https://push-api.cloud.honor.com")
CHAT_PUSH_HONOR_BADGE_CLASS = env.str("CHAT_PUSH_HONOR_BADGE_CLASS", default="")
# Xiaomi (Mi Push): the AppSecret and the app's package name.
CHAT_PUSH_XIAOMI_APP_SECRET = env.str("CHAT_PUSH_XIAOMI_APP_SECRET", default="")
CHAT_PUSH_XIAOMI_PACKAGE = env.str("CHAT_PUSH_XIAOMI_PACKAGE", default="")
CHAT_PUSH_XIAOMI_BASE_URL = env.str(
    "CHAT_PUSH_XIAOMI_BASE_URL", default="https://api.xmpush.xiaomi.com")
# OPPO (HeyTap) Push: AppKey and MasterSecret (not the AppSecret).
CHAT_PUSH_OPPO_APP_KEY = env.str("CHAT_PUSH_OPPO_APP_KEY", default="")
CHAT_PUSH_OPPO_MASTER_SECRET = env.str("CHAT_PUSH_OPPO_MASTER_SECRET", default="")
CHAT_PUSH_OPPO_BASE_URL = env.str(
    "CHAT_PUSH_OPPO_BASE_URL", default="https://api.push.oppomobile.com")
# vivo Push: AppID, AppKey and AppSecret.
CHAT_PUSH_VIVO_APP_ID = env.str("CHAT_PUSH_VIVO_APP_ID", default="")
CHAT_PUSH_VIVO_APP_KEY = env.str("CHAT_PUSH_VIVO_APP_KEY", default="")
CHAT_PUSH_VIVO_APP_SECRET = env.str("CHAT_PUSH_VIVO_APP_SECRET", default="")
CHAT_PUSH_VIVO_BASE_URL = env.str("CHAT_PUSH_VIVO_BASE_URL", default="https://api-push.vivo.com.cn")
# Meizu (Flyme) Push: AppID and AppSecret.
CHAT_PUSH_MEIZU_APP_ID = env.str("CHAT_PUSH_MEIZU_APP_ID", default="")
CHAT_PUSH_MEIZU_APP_SECRET = env.str("CHAT_PUSH_MEIZU_APP_SECRET", default="")
CHAT_PUSH_MEIZU_BASE_URL = env.str(
    "CHAT_PUSH_MEIZU_BASE_URL", default="https://server-api-push.meizu.com")

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
    "filters": {"client_errors_one_line": {"()": "chat_project.logs.ClientErrorsOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        # Django's own "django" logger has a console handler of its own (printing when
        # DEBUG is on) and passes every record on to the root's: with DEBUG, each line
        # was printed twice. The root's console is the one.
        "django": {"handlers": [], "propagate": True},
        # A 4xx is the client's error: one line, no traceback (chat_project/logs.py).
        "django.request": {"filters": ["client_errors_one_line"]},
    },
}
