"""Push tokens, push-to-all audiences (attribute names, users' attributes and tags) and
the record of each push-to-all task.

Tags and attributes are rows, not JSON columns: "who has tag X" and "who has sex=f"
are then plain b-tree lookups ((tag, user), (slot, value, user)) that PostgreSQL and
the embedded SQLite both answer from an index, a condition becomes one set-based
statement (IN / GROUP BY ... HAVING count = n), and adding or removing one tag is a
one-row insert or delete with no read-modify-write of a JSON document (so two admins
tagging the same user at once cannot lose each other's tags). A JSON column with a GIN
index would need PostgreSQL's `@>` operator, which SQLite does not have.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PushToken(models.Model):
    """One device's push token at its vendor: where an offline push for the user goes."""

    class Vendor(models.TextChoices):
        APNS = "apns", "Apple (APNs)"
        FCM = "fcm", "Google (FCM)"
        HUAWEI = "huawei", "Huawei"
        XIAOMI = "xiaomi", "Xiaomi"
        OPPO = "oppo", "OPPO"
        VIVO = "vivo", "vivo"
        MEIZU = "meizu", "Meizu"
        HONOR = "honor", "Honor"
        WEBPUSH = "webpush", "Web Push"

    # The presence platform a vendor's device is reported as (accounts.presence).
    PLATFORMS = {"apns": "iOS", "webpush": "Web"}  # every other vendor: Android

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="push_tokens")
    device_id = models.CharField("device ID", max_length=64)
    vendor = models.CharField(max_length=16, choices=Vendor.choices)
    # APNs tokens are 64 hex digits, FCM ~160 characters, a Web Push subscription a
    # JSON document of a few hundred bytes.
    token = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "device_id"], name="push_token_unique_device"),
        ]
        indexes = [models.Index(fields=["vendor", "token"], name="push_token_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.device_id} ({self.vendor})"

    @property
    def platform(self) -> str:
        return self.PLATFORMS.get(self.vendor, "Android")

    @property
    def masked_token(self) -> str:
        """Enough to tell tokens apart in admin, not enough to push with."""
        token = self.token
        return f"{token[:4]}…{token[-4:]}" if len(token) > 12 else "…"


class AttrName(models.Model):
    """The app's push attributes: up to 10 numbered slots, each with its name
    (v4 all_member_push/im_set_attr_name). Users' values are kept per slot, so
    renaming a slot keeps them."""

    slot = models.PositiveSmallIntegerField(primary_key=True)  # 0..9
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["slot"]
        verbose_name = "push attribute name"

    def __str__(self) -> str:
        return f"{self.slot}: {self.name}"


class UserAttr(models.Model):
    """One user's value of one push attribute (v4 im_set_attr)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    slot = models.PositiveSmallIntegerField()
    value = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "slot"], name="push_user_attr_unique"),
        ]
        indexes = [models.Index(fields=["slot", "value", "user"], name="push_attr_match_idx")]
        verbose_name = "user push attribute"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.slot}={self.value}"


class UserTag(models.Model):
    """One tag of one user (v4 im_add_tag)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    tag = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tag"], name="push_user_tag_unique"),
        ]
        indexes = [models.Index(fields=["tag", "user"], name="push_tag_match_idx")]
        verbose_name = "user push tag"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.tag}"


class BroadcastTask(models.Model):
    """One push to all (v4 all_member_push/im_push): what, to whom, how far it got.

    Created by the request (quota checked), filled in by the fan-out task
    (messaging/push_all.py), which resumes after `cursor` if it is run again.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    task_id = models.CharField("TaskId", max_length=64, unique=True)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+")
    # MsgRandom: a push repeated with the same MsgRandom within 7 days is the same task.
    msg_random = models.BigIntegerField(db_index=True)
    # The message in Parley's element format (what every recipient gets).
    body = models.JSONField()
    cloud_custom_data = models.TextField(blank=True, default="")
    offline_push_info = models.JSONField(null=True, blank=True)
    lifetime = models.PositiveIntegerField(
        "MsgLifeTime", default=0, help_text="seconds in the offline cache; 0 online only")
    # {"tags_and": [...], "tags_or": [...], "attrs_and": {slot: value}, "attrs_or": {...}}
    condition = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    created = models.DateTimeField(db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    matched = models.PositiveIntegerField(default=0, help_text="users the condition matched")
    delivered = models.PositiveIntegerField(
        default=0, help_text="stored (or, online only, published) for that many users")
    failed = models.PositiveIntegerField(default=0)
    # The last user pk handled: a rerun of the task goes on after it.
    cursor = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created"]
        verbose_name = "push to all"
        verbose_name_plural = "pushes to all"

    def __str__(self) -> str:
        return self.task_id


class ReceiveOption(models.Model):
    """A user's global receive option (Tencent's setAllReceiveMessageOpt): within the
    daily quiet window, messages arrive but send no offline push. The window starts at
    `start` seconds after midnight UTC and lasts `duration` seconds (it may run past
    midnight); duration 0 or opt AcceptAndNotify: no window."""

    class Opt(models.IntegerChoices):
        ACCEPT_AND_NOTIFY = 0, "AcceptAndNotify"
        ACCEPT_NOT_NOTIFY = 2, "AcceptNotNotify"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="+")
    opt = models.PositiveSmallIntegerField(choices=Opt.choices, default=Opt.ACCEPT_AND_NOTIFY)
    start = models.PositiveIntegerField(default=0, help_text="seconds after 00:00 UTC")
    duration = models.PositiveIntegerField(default=0, help_text="seconds, at most 86400")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "receive option"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.get_opt_display()}"

    def quiet_at(self, seconds_of_day: int) -> bool:
        """Is `seconds_of_day` (UTC) inside the quiet window?"""
        if self.opt != self.Opt.ACCEPT_NOT_NOTIFY or self.duration <= 0:
            return False
        if self.duration >= 86400:
            return True
        return (seconds_of_day - self.start) % 86400 < self.duration


class PushDelivery(models.Model):
    """One offline push of one message to one device: made once, whatever the number
    of times its task runs (the unique pair), and its state after the last attempt."""

    class State(models.TextChoices):
        PENDING = "pending"          # to be sent
        SENDING = "sending"          # claimed by a task, the vendor's answer awaited
        DELIVERED = "delivered"      # the vendor accepted it
        FAILED = "failed"            # a permanent error, or retries used up
        DEAD_TOKEN = "dead_token"    # the vendor said the token is dead; it was removed
        WITHDRAWN = "withdrawn"      # read elsewhere before it went out: not sent
        QUIET = "quiet"              # its retry came in the receiver's quiet window

    message_id = models.BigIntegerField(help_text="messaging.Message pk")
    message_key = models.CharField("message ID", max_length=64, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    device_id = models.CharField("device ID", max_length=64)
    vendor = models.CharField(max_length=16, choices=PushToken.Vendor.choices)
    # The conversation as the receiver sees it ("C2C" + sender): a read withdraws.
    conversation_id = models.CharField(max_length=40, blank=True)
    dialog_seq = models.BigIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    withdrawn = models.BooleanField(default=False, help_text="a withdrawal was sent")
    # Read (recalled, deleted) while the vendor was being called: the task that sends
    # it withdraws it after. On a delivered one not `withdrawn`: its withdrawal is owed,
    # marked before the vendor is called; sent by the run that marked it, or queued
    # again by the stale sweep when that run died (pipeline._withdraw_deliveries).
    withdraw_wanted = models.BooleanField(default=False)
    # What is sent (a Notification's fields): a retry, or the sweep that queues again a
    # delivery whose task the broker lost, needs nothing else.
    note = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message_id", "user", "device_id"],
                                    name="push_delivery_unique"),
        ]
        indexes = [models.Index(fields=["user", "conversation_id", "dialog_seq"],
                                name="push_delivery_conv_idx")]
        ordering = ["-created_at"]
        verbose_name_plural = "push deliveries"

    def __str__(self) -> str:
        return f"{self.message_key} -> {self.user_id}/{self.device_id} ({self.state})"


class PushAttempt(models.Model):
    """One request to a vendor (or a decision not to make one: "not configured"), kept
    CHAT_PUSH_ATTEMPT_DAYS days so an operator can answer "why did it not arrive"."""

    delivery = models.ForeignKey(PushDelivery, on_delete=models.CASCADE,
                                 related_name="attempt_set", null=True, blank=True)
    message_id = models.BigIntegerField()
    message_key = models.CharField("message ID", max_length=64, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    device_id = models.CharField("device ID", max_length=64)
    vendor = models.CharField(max_length=16, choices=PushToken.Vendor.choices, db_index=True)
    withdraw = models.BooleanField(default=False)
    outcome = models.CharField(max_length=12, db_index=True)  # base.Outcome's values
    vendor_code = models.CharField(max_length=100, blank=True)
    http_status = models.IntegerField(null=True, blank=True)
    latency_ms = models.IntegerField(default=0)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.vendor} {self.outcome} {self.message_key}"


class VapidKeyPair(models.Model):
    """The server's own VAPID key pair (RFC 8292), made once when settings name none
    (push/vapid.py): so `make run` and a bare production start can push to browsers.

    One row, pk 1: two processes that start at once both try to insert it and the
    primary key lets one win; both then use the row that is there.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    private_key = models.CharField(max_length=64, help_text="the raw P-256 scalar, base64url")
    public_key = models.CharField(max_length=100,
                                  help_text="the uncompressed public point, base64url")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "VAPID key pair"

    def __str__(self) -> str:
        return f"VAPID {self.public_key[:12]}…"


class PushUnqueued(models.Model):
    """The outbox of push tasks. An offline push (push_deliver, the jobs of one send
    batch) has its row written in the send's transaction, so a committed send always
    leaves its push behind, even if the process dies between the commit and the
    queuing (tasks.queue_on_commit). A withdrawal (a read, recall or deletion that
    has pushes to withdraw) has its row written in the change's transaction the same
    way (tasks.withdraw_on_commit and the others).

    Every task queued from a row carries the row's id (`outbox`) and deletes the row
    in the transaction that does its work: push_deliver's that makes its deliveries, a
    withdrawal's that marks its withdrawals owed (sent after it; the stale sweep sends
    those a killed run owed). A row is left when the task never ran (or never got
    there): the broker would
    not take it (`refused`: down, silent past its timeouts, or its breaker open,
    chat_project/broker.py), the process died before queuing it, the broker lost it,
    or the worker died running it.
    The sweep (tasks.queue_unqueued_pushes, every 30 s) queues the refused rows and those
    queued more than CHAT_PUSH_OUTBOX_GRACE_SECONDS ago (at their commit, or by the
    sweep: `queued_at`) whose task has not started. `task` is one of push.tasks' task
    names, `args` its positional arguments."""

    task = models.CharField(max_length=100)
    args = models.JSONField()
    created_at = models.DateTimeField()
    refused = models.BooleanField(default=False)
    # last queued by the sweep (claimed, while `refused` is still set: chat_project/outbox.py)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "kept push task"
        verbose_name_plural = "kept push tasks"
        permissions = [("queue_pushunqueued", "Queue kept push tasks now")]

    def __str__(self) -> str:
        return f"{self.task} {self.created_at:%Y-%m-%d %H:%M:%S}"
