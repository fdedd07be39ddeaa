"""Settings of the minimal Channels app: one app, PostgreSQL, the Redis pub/sub layer."""

import os
from urllib.parse import unquote, urlsplit

_db = urlsplit(os.environ["DATABASE_URL"])
_redis = os.environ["REDIS_URL"]

SECRET_KEY = os.environ.get("SECRET_KEY", "minimal-bench-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["minimal"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ASGI_APPLICATION = "minimal.asgi.application"
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": _db.path.lstrip("/"), "USER": unquote(_db.username or ""),
    "PASSWORD": unquote(_db.password or ""), "HOST": _db.hostname or "",
    "PORT": str(_db.port or ""),
    # database_sync_to_async runs every query on one thread per process: one persistent
    # connection each, the cheapest setting (no pool needed with one thread).
    "CONN_MAX_AGE": None,
}}
CHANNEL_LAYERS = {"default": {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": [{"address": _redis, "socket_timeout": 10,
                          "max_connections": 10000}],
               "prefix": os.environ.get("CHANNEL_PREFIX", "minimal")},
}}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
ROOT_URLCONF = "minimal.urls"
