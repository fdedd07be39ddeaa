"""Settings come from the environment; embedded defaults need nothing; production
refuses to start without its secrets."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s;"
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'],"
    " 'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER,"
    " 'cache': s.CACHES['default']['BACKEND'], 'admins': s.CHAT_ADMIN_USERS,"
    " 'app': s.CHAT_SDKAPPID, 'key': bool(s.CHAT_SECRET_KEY)}))"
)
KEYS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CHAT_SECRET_KEY", "CHAT_SDKAPPID",
        "CHAT_ADMIN_USERS", "DEBUG")


def probe(**env):
    base = {k: v for k, v in os.environ.items() if k not in KEYS}
    base["DJANGO_SETTINGS_MODULE"] = "chat_project.settings"
    base.update(env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=60)


def test_embedded_defaults_need_nothing():
    result = probe()
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["db"].endswith("sqlite3")
    assert got["layer"] == "channels.layers.InMemoryChannelLayer"
    assert got["eager"] is True and got["cache"].endswith("LocMemCache")
    assert got["admins"] == ["administrator"] and got["key"]


def test_production_settings_from_the_environment():
    result = probe(DATABASE_URL="postgres://u@127.0.0.1:5432/x", REDIS_URL="redis://127.0.0.1:6379/3",
                   SECRET_KEY="s", CHAT_SECRET_KEY="k", CHAT_SDKAPPID="1400000077",
                   CHAT_ADMIN_USERS="ops1,ops2")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["db"].endswith("postgresql")
    assert got["layer"] == "chat_project.redis_bounds.BoundedPubSubChannelLayer"
    assert got["eager"] is False and got["cache"].endswith("RedisCache")
    assert got["admins"] == ["ops1", "ops2"] and got["app"] == 1400000077


def test_production_refuses_to_start_without_secrets():
    result = probe(DATABASE_URL="postgres://u@127.0.0.1:5432/x", CHAT_SECRET_KEY="k")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
    result = probe(DATABASE_URL="postgres://u@127.0.0.1:5432/x", SECRET_KEY="s")
    assert result.returncode != 0 and "CHAT_SECRET_KEY must be set" in result.stderr


SHARDS_PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s;"
    "c = s.CHANNEL_LAYERS['default']['CONFIG'];"
    "print(json.dumps({'hosts': c['hosts'], 'cache': s.CACHES['default']['LOCATION'],"
    " 'broker': s.CELERY_BROKER_URL, 'presence': s.REDIS_URL}))"
)


def test_the_channel_layer_shards_over_redis_channel_urls():
    base = {k: v for k, v in os.environ.items() if k not in KEYS + ("REDIS_CHANNEL_URLS",)}
    base.update(DJANGO_SETTINGS_MODULE="chat_project.settings", DATABASE_URL="postgres://u@h/x",
                SECRET_KEY="s", CHAT_SECRET_KEY="k", REDIS_URL="redis://main:6379/0",
                REDIS_TIMEOUT="1.5")

    def run(**env):
        return subprocess.run([sys.executable, "-c", SHARDS_PROBE], cwd=ROOT,
                              env={**base, **env}, capture_output=True, text=True, timeout=60)

    result = run()  # default: REDIS_URL alone
    assert result.returncode == 0, result.stderr
    assert [h["address"] for h in json.loads(result.stdout)["hosts"]] == ["redis://main:6379/0"]

    result = run(REDIS_CHANNEL_URLS="redis://a:6379/0,redis://b:6380/0")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert [h["address"] for h in got["hosts"]] == ["redis://a:6379/0", "redis://b:6380/0"]
    # Every shard keeps the time limits; the rest stays on REDIS_URL.
    assert all(h["socket_timeout"] == 1.5 and h["socket_connect_timeout"] for h in got["hosts"])
    assert got["cache"] == got["broker"] == got["presence"] == "redis://main:6379/0"

    result = run(REDIS_URL="", REDIS_CHANNEL_URLS="redis://a:6379/0")
    assert result.returncode != 0 and "REDIS_CHANNEL_URLS needs REDIS_URL" in result.stderr


REPLICA_PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s;"
    "r = s.DATABASES.get('replica1', {}); m = s.MIDDLEWARE;"
    "print(json.dumps({'replicas': s.DATABASE_REPLICAS, 'routers': s.DATABASE_ROUTERS,"
    " 'host': r.get('HOST'), 'port': r.get('PORT'), 'name': r.get('NAME'),"
    " 'test': r.get('TEST'), 'connect_timeout': r.get('OPTIONS', {}).get('connect_timeout'),"
    " 'pool_timeout': r.get('OPTIONS', {}).get('pool', {}).get('timeout'),"
    " 'after_auth': m[m.index('django.contrib.auth.middleware.AuthenticationMiddleware') + 1]}))"
)


def test_read_replicas_from_the_environment():
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update(DJANGO_SETTINGS_MODULE="chat_project.settings", SECRET_KEY="s",
               CHAT_SECRET_KEY="k", DATABASE_URL="postgres://u@10.0.0.1:5432/x",
               REDIS_URL="redis://127.0.0.1:6379/3",
               DATABASE_REPLICA_URLS="postgres://u@10.0.0.2:5433/x,postgres://u@10.0.0.3/x",
               DATABASE_REPLICA_CONNECT_TIMEOUT="3")
    run = subprocess.run([sys.executable, "-c", REPLICA_PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["replicas"] == ["replica1", "replica2"]
    assert got["routers"] == ["chat_project.replicas.ReplicaRouter"]
    assert (got["host"], got["port"], got["name"]) == ("10.0.0.2", 5433, "x")
    assert got["test"]["MIRROR"] == "default"
    assert got["connect_timeout"] == 3 and got["pool_timeout"] == 3.0
    assert got["after_auth"] == "chat_project.replicas.AdminReadsFromReplica"
    # Without Redis the write positions could not be shared; SQLite has no replicas.
    env.pop("REDIS_URL")
    run = subprocess.run([sys.executable, "-c", REPLICA_PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "DATABASE_REPLICA_URLS needs REDIS_URL" in run.stderr
    env.update(REDIS_URL="redis://127.0.0.1:6379/3", DATABASE_URL="sqlite:////tmp/x.db")
    run = subprocess.run([sys.executable, "-c", REPLICA_PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "needs a PostgreSQL DATABASE_URL" in run.stderr


CHECK_PROBE = (
    "import django; django.setup(); from django.core import checks;"
    "print(sorted(m.id for m in checks.run_checks(include_deployment_checks=True)))"
)


def test_the_deploy_check_warns_of_an_in_process_channel_layer():
    # Without REDIS_URL a second server process would never hear the first's messages
    # live: `check --deploy` says so (messaging.W001); with Redis it does not.
    def ids(**env):
        base = {k: v for k, v in os.environ.items() if k not in KEYS}
        base.update(DJANGO_SETTINGS_MODULE="chat_project.settings", SECRET_KEY="s",
                    CHAT_SECRET_KEY="k", DATABASE_URL="postgres://u@127.0.0.1:5432/x", **env)
        done = subprocess.run([sys.executable, "-c", CHECK_PROBE], cwd=ROOT, env=base,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "messaging.W001" in ids()
    assert "messaging.W001" not in ids(REDIS_URL="redis://127.0.0.1:6379/3")


S3_PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s;"
    "print(json.dumps({k: getattr(s, k, None) for k in ('AWS_STORAGE_BUCKET_NAME',"
    " 'AWS_S3_REGION_NAME', 'AWS_S3_ENDPOINT_URL', 'AWS_S3_CUSTOM_DOMAIN',"
    " 'AWS_QUERYSTRING_AUTH', 'AWS_S3_FILE_OVERWRITE')}))"
)


def test_uploads_on_s3_are_configured_from_the_environment():
    """README's several-machines deployment sets STORAGE_BACKEND to S3Storage, but
    nothing read the bucket (django-storages takes it from Django's settings, not the
    environment): it could not be named. And a file's URL is stored in the message, so it
    must not be a signed one that stops working an hour later (django-storages' default)."""
    base = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("AWS_")}
    base.update(DJANGO_SETTINGS_MODULE="chat_project.settings",
                STORAGE_BACKEND="storages.backends.s3.S3Storage",
                AWS_STORAGE_BUCKET_NAME="parley-uploads", AWS_S3_REGION_NAME="eu-west-3",
                AWS_S3_ENDPOINT_URL="https://s3.example.net",
                AWS_S3_CUSTOM_DOMAIN="files.example.net")
    result = subprocess.run([sys.executable, "-c", S3_PROBE], cwd=ROOT, env=base,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "AWS_STORAGE_BUCKET_NAME": "parley-uploads", "AWS_S3_REGION_NAME": "eu-west-3",
        "AWS_S3_ENDPOINT_URL": "https://s3.example.net",
        "AWS_S3_CUSTOM_DOMAIN": "files.example.net",
        "AWS_QUERYSTRING_AUTH": False, "AWS_S3_FILE_OVERWRITE": False}
