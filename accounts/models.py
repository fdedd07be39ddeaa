"""Users keyed by their UserID string, their devices, and each user's sync log."""

from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models


def validate_user_id(value: str) -> None:
    """Tencent's rule: 1 to 32 bytes of printable ASCII (0x20-0x7e)."""
    if not isinstance(value, str) or not value:
        raise ValidationError("UserID is empty", code="7003")
    raw = value.encode("utf-8", "replace")
    if len(raw) > 32 or any(b < 0x20 or b > 0x7E for b in raw):
        raise ValidationError("UserID must be 1 to 32 printable ASCII characters", code="7003")


class ParleyUserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, user_id, password, **extra_fields):
        validate_user_id(user_id)
        user = self.model(user_id=user_id, **extra_fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, user_id, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(user_id, password, **extra_fields)

    def create_superuser(self, user_id, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(user_id, password, **extra_fields)


class Gender(models.TextChoices):
    UNKNOWN = "Gender_Type_Unknown"
    FEMALE = "Gender_Type_Female"
    MALE = "Gender_Type_Male"


class AllowType(models.TextChoices):
    NEED_CONFIRM = "AllowType_Type_NeedConfirm"
    ALLOW_ANY = "AllowType_Type_AllowAny"
    DENY_ANY = "AllowType_Type_DenyAny"


class AdminForbidType(models.TextChoices):
    NONE = "AdminForbid_Type_None"
    SEND_OUT = "AdminForbid_Type_SendOut"


class User(AbstractBaseUser, PermissionsMixin):
    """One account. `user_id` is Tencent's Identifier (the string everyone sees)."""

    user_id = models.CharField("UserID", max_length=32, unique=True,
                               validators=[validate_user_id])
    email = models.EmailField(blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)

    # Profile (tencent-rest.md §6). Lengths are Tencent's byte limits.
    nick = models.CharField(max_length=500, blank=True)
    avatar = models.CharField("avatar URL", max_length=500, blank=True)
    gender = models.CharField(max_length=32, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.PositiveBigIntegerField(default=0)  # uint32, e.g. 20190419
    location = models.CharField(max_length=16, blank=True)
    self_signature = models.CharField(max_length=500, blank=True)
    allow_type = models.CharField(max_length=32, choices=AllowType.choices,
                                  default=AllowType.NEED_CONFIRM)
    language = models.PositiveBigIntegerField(default=0)  # uint32
    admin_forbid_type = models.CharField(max_length=32, choices=AdminForbidType.choices,
                                         default=AdminForbidType.NONE)
    level = models.PositiveIntegerField(default=0)
    role = models.PositiveIntegerField(default=0)
    # Tag_Profile_Custom_<Key> -> value
    profile_custom = models.JSONField(default=dict, blank=True)
    profile_updated_at = models.DateTimeField(auto_now=True)

    # Bumped by a kick: sockets and REST tokens minted before it are refused.
    session_epoch = models.PositiveIntegerField(default=0)
    # Unix seconds of the last kick: a UserSig issued before it no longer logs in.
    kicked_at = models.PositiveBigIntegerField(default=0)
    # Global mute (v4 openconfigsvr/setnospeaking): Unix seconds until which this user
    # may not send C2C messages (20012); 0 none, 4294967295 for ever. The group time is
    # kept for the round trip only (Parley has no groups).
    c2c_mute_until = models.PositiveBigIntegerField(default=0)
    group_mute_until = models.PositiveBigIntegerField(default=0)

    objects = ParleyUserManager()

    USERNAME_FIELD = "user_id"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.user_id

    @property
    def username(self) -> str:
        return self.user_id


class Device(models.Model):
    """One row per device login: which device, what platform, when last seen."""

    class Platform(models.TextChoices):
        WEB = "Web"
        IOS = "iOS"
        ANDROID = "Android"
        IPAD = "iPad"
        WINDOWS = "Windows"
        MAC = "Mac"
        LINUX = "Linux"
        UNKNOWN = "Unknown"

    # Platforms of which one device at a time may be online (the default policy:
    # browser tabs coexist; a second phone of the same platform pushes out the first).
    EXCLUSIVE_PLATFORMS = frozenset({"iOS", "Android", "iPad", "Windows", "Mac", "Linux"})

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=64)
    platform = models.CharField(max_length=16, choices=Platform.choices,
                                default=Platform.UNKNOWN)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()
    # Highest sync-log seq this device acknowledged.
    acked_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "device_id"], name="device_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.device_id} ({self.platform})"

    @property
    def is_exclusive(self) -> bool:
        """A login of this device pushes out the user's other device of its platform."""
        return self.platform in self.EXCLUSIVE_PLATFORMS


class SyncHead(models.Model):
    """A user's sync-log position: the seq of the newest SyncEntry.

    Its own row, not a User column, so that saving a stale User object (a form, the
    admin) can never move the counter back. Bumped in the transaction that appends.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True,
                                related_name="sync_head")
    seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id}@{self.seq}"


class SyncEntry(models.Model):
    """One change a user's devices must learn, at the user's next sync-log seq.

    A device keeps the last seq it processed; on reconnect it is replayed everything
    after it. Message entries point at the message (one row per message, not a copy);
    other kinds carry their event data in `payload`.
    """

    class Kind(models.TextChoices):
        MESSAGE = "message"
        READ = "read"  # this user read a conversation (on some device)
        PEER_READ = "peer_read"  # the peer read this user's messages
        CONVERSATION = "conversation"
        FRIEND = "friend"
        FRIEND_APPLICATION = "friend_application"
        FRIEND_GROUP = "friend_group"
        BLACKLIST = "blacklist"
        PROFILE = "profile"
        REVOKE = "revoke"  # a message in this user's dialogs was recalled
        MODIFY = "modify"  # a message in this user's dialogs was changed
        EXTENSION = "extension"  # a message's key-value extensions were set or deleted
        REACTION = "reaction"  # someone reacted to a message, or took a reaction back

    # Kinds whose payload never copies a message's content: a message entry points at
    # it, a recall's holds the recalled view. The others are indexed apart
    # (sync_entry_copies_idx), for a recall's erase (messaging.changes).
    KINDS_WITHOUT_COPIES = (Kind.MESSAGE, Kind.REVOKE)

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # For message entries: the message. Kept loose (no FK) so accounts does not import
    # messaging; a purge of history and of the log run independently.
    message_id = models.BigIntegerField(null=True, blank=True)
    peer = models.CharField(max_length=32, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)
    # A message sent with a shorter offline life (MsgLifeTime N seconds) leaves the
    # offline cache at this instant; None: the cache's own 7 days.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "seq"], name="sync_entry_unique_seq")
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=models.Q(expires_at__isnull=False),
                         name="sync_entry_expiry_idx"),
            models.Index(fields=["user", "created_at"],
                         condition=~models.Q(kind__in=["message", "revoke"]),
                         name="sync_entry_copies_idx"),
        ]
        verbose_name_plural = "sync entries"

    def __str__(self) -> str:
        return f"{self.user_id}#{self.seq} {self.kind}"


class LoginPolicy(models.Model):
    """How many devices of one user may be online at once (one row, edited in admin).

    Platform classes: mobile (iOS, Android, iPad), desktop (Windows, Mac, Linux,
    Unknown) and Web. A login beyond the policy pushes out the older device, which
    gets KICKED_OUT with reason `multipleDevice`.
    """

    class Mode(models.TextChoices):
        SINGLE = "single", "one mobile or desktop device at a time (plus Web)"
        DUAL = "dual", "one mobile and one desktop device (plus Web)"
        PER_PLATFORM = "per_platform", "one device per platform (plus Web)"
        UNLIMITED = "unlimited", "any number of devices"

    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PER_PLATFORM)
    web_sessions = models.PositiveSmallIntegerField(
        default=10, help_text="Web sessions (browser tabs) that may be online at once")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "login policy"
        verbose_name_plural = "login policy"

    def __str__(self) -> str:
        return f"{self.get_mode_display()}; {self.web_sessions} Web sessions"


class WebhookConfig(models.Model):
    """Where and how Parley calls the app's server (tencent-rest.md §14; one row)."""

    class OnTimeout(models.TextChoices):
        DELIVER = "deliver", "deliver the message"
        BLOCK = "block", "refuse the message (80003)"

    enabled = models.BooleanField(default=False)
    url = models.URLField("callback URL", max_length=500, blank=True)
    token = models.CharField(max_length=128, blank=True,
                             help_text="adds Sign=sha256(token + RequestTime) to each call")
    # The CallbackCommand names that are on, e.g. "C2C.CallbackBeforeSendMsg".
    callbacks = models.JSONField(default=list, blank=True)
    timeout_ms = models.PositiveIntegerField(default=2000)
    before_send_on_timeout = models.CharField(max_length=8, choices=OnTimeout.choices,
                                              default=OnTimeout.DELIVER)
    # After-callbacks only ("before" ones are never retried).
    retries = models.PositiveSmallIntegerField(default=0)
    retry_backoff_seconds = models.PositiveIntegerField(default=5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook configuration"
        verbose_name_plural = "webhook configuration"

    def __str__(self) -> str:
        return self.url or "webhooks (not configured)"


class WebhookAttempt(models.Model):
    """One HTTP call to the app's server, as operators see it in admin."""

    class Outcome(models.TextChoices):
        OK = "ok"
        FAILED = "failed"
        TIMEOUT = "timeout"

    delivery_id = models.UUIDField(db_index=True)  # the attempts of one callback
    command = models.CharField(max_length=64)
    url = models.CharField(max_length=1000)
    body = models.JSONField()
    attempt = models.PositiveSmallIntegerField(default=1)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    http_status = models.IntegerField(null=True, blank=True)
    response = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.IntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.command} #{self.attempt} {self.outcome}"


class WebhookUnqueued(models.Model):
    """The outbox of after-callbacks: a row per callback, written in the transaction of
    the change that causes it, so a committed change always leaves its callback behind,
    even if the process dies between the commit and the queuing (webhook_tasks.after).

    The task deletes its row when it starts (deliver_after). A row is left when the
    task never ran: the broker would not take it at the commit (`refused`: down, silent
    past its timeouts, or its breaker open, chat_project/broker.py), the process died
    before queuing it, or the broker lost it. The sweep
    (webhook_tasks.queue_unqueued_webhooks, every 30 s) queues the refused rows and
    those queued more than CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS ago (at their commit, or
    by the sweep: `queued_at`) whose task has not started."""

    delivery_id = models.UUIDField(unique=True)
    command = models.CharField(max_length=64)
    body = models.JSONField()
    platform = models.CharField(max_length=16)
    client_ip = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    refused = models.BooleanField(default=False)
    # last queued by the sweep (claimed, while `refused` is still set: chat_project/outbox.py)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "kept webhook callback"
        verbose_name_plural = "kept webhook callbacks"
        # "Queue now" in the console (accounts/admin_webhooks.py); rows are never
        # added, changed or deleted there.
        permissions = [("queue_webhookunqueued", "Queue kept webhook callbacks now")]

    def __str__(self) -> str:
        return f"{self.command} {self.delivery_id}"


class Console(models.Model):
    """No table: the holder of the operator console's own permissions (granted through
    the "support" and "operator" groups, accounts/console_roles.py, or one by one)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("send_as_app", "Send as the app admin and as system notices"),
            ("send_as_user", "Send as any user (impersonation)"),
            ("recall_message", "Recall any message"),
            ("view_dashboard", "See the dashboard"),
        ]

    def __str__(self) -> str:
        return "operator console"


class AuditEntry(models.Model):
    """One operator action in the console: who, what, when, on whom, from which page.
    Written by accounts.audit.record; never changed or deleted from the console."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The operator's account; the UserID stays when the account is deleted.
    operator = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    operator_name = models.CharField(max_length=32)
    action = models.CharField(max_length=64, db_index=True)
    # On whom: a UserID, or "alice -> bob", or another object's name (not a key: the
    # entry outlives what it names).
    target = models.CharField(max_length=200, blank=True, db_index=True)
    page = models.CharField("from page", max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        verbose_name_plural = "audit entries"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.operator_name} {self.action} {self.target}"
