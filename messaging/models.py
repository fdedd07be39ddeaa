"""Messages (one row each, with a per-dialog seq), dialogs and per-owner conversations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Dialog(models.Model):
    """The pair of users a one-to-one message belongs to; owns the per-dialog seq.

    `user_low` has the smaller primary key, so a pair has exactly one row. Bumping
    `last_seq` locks the row, which also orders concurrent sends in one dialog.
    """

    user_low = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="+")
    user_high = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="+")
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_low", "user_high"], name="dialog_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"dialog {self.user_low_id}<->{self.user_high_id}"


class Priority(models.TextChoices):
    HIGH = "High"
    NORMAL = "Normal"
    LOW = "Low"
    LOWEST = "Lowest"


class Message(models.Model):
    """One C2C message: who, to whom, what, when, its place in the dialog."""

    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+")
    receiver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="+")
    random = models.BigIntegerField()
    # Unix seconds as the clients see it, and the exact instant for retention and order.
    time = models.BigIntegerField()
    created_at = models.DateTimeField(db_index=True)
    elements = models.JSONField()
    cloud_custom_data = models.TextField(blank=True, default="")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    need_read_receipt = models.BooleanField(default=False)
    is_system = models.BooleanField(default=False)
    is_revoked = models.BooleanField(default=False)
    is_modified = models.BooleanField(default=False)
    # The sender's nick and avatar when sending, so a client needs no extra request.
    nick = models.CharField(max_length=500, blank=True, default="")
    avatar = models.CharField(max_length=500, blank=True, default="")
    # messageControlInfo / SendMsgControl, offline push options: kept as given.
    excluded_from_unread = models.BooleanField(default=False)
    excluded_from_last_message = models.BooleanField(default=False)
    offline_push_info = models.JSONField(null=True, blank=True)
    # Tencent's MsgSeq as a /v4 caller gave it (sendmsg, importmsg); None: not given.
    msg_seq = models.BigIntegerField(null=True, blank=True)
    # Deleted from one side's history only (deleteMessage); the other side keeps it.
    deleted_by_sender = models.BooleanField(default=False)
    deleted_by_receiver = models.BooleanField(default=False)
    # Sent with isSupportExtension / SupportMessageExtension: its two participants (and
    # the app admin) may attach key-value extensions to it (messaging/extensions.py).
    support_extension = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dialog", "seq"], name="message_unique_dialog_seq"),
        ]
        indexes = [
            # Retry detection: the same (sender, receiver, random) within minutes. The
            # random leads: it is the selective column, and with the user columns first
            # the planner preferred scanning the receiver's whole history.
            models.Index(fields=["random", "sender", "receiver"], name="message_retry_idx"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def public_id(self) -> str:
        return f"{self.pk}-{self.time}-{self.random}"


class ExtensionHead(models.Model):
    """A message's extension versions (messaging/extensions.py): `latest_seq` is the
    last version any of its keys took (get_key_values' LatestSeq; every write takes the
    next one), `clear_seq` the version of the last clear-all (ClearSeq). Only messages
    whose extensions were ever written have one. As UploadUse: no database constraint
    on the message; the history purge deletes these rows itself."""

    message = models.OneToOneField("Message", on_delete=models.CASCADE, primary_key=True,
                                   related_name="+", db_constraint=False)
    latest_seq = models.BigIntegerField(default=0)
    clear_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"extensions of message {self.message_id} at {self.latest_seq}"


class Extension(models.Model):
    """One key-value extension of a message, at the version (`seq`) its last write took
    (a compare-and-set names it: messaging/extensions.py)."""

    # The unique constraint's index serves lookups by message.
    message = models.ForeignKey("Message", on_delete=models.CASCADE, related_name="+",
                                db_index=False, db_constraint=False)
    key = models.CharField(max_length=100)
    value = models.TextField(blank=True, default="")
    seq = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "key"], name="extension_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key!r} of message {self.message_id}"


class Reaction(models.Model):
    """One person's reaction to a message (Tencent's message reactions, an emoji most
    often): who (one of the message's two people), which `reaction_id`, in the order
    they came (messaging/reactions.py). As Extension: no database constraint on the
    message; the history purge deletes these rows itself."""

    # The unique constraint's index (message first) serves lookups by message.
    message = models.ForeignKey("Message", on_delete=models.CASCADE, related_name="+",
                                db_index=False, db_constraint=False)
    reaction_id = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "reaction_id", "user"],
                                    name="reaction_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.reaction_id!r} on message {self.message_id} by {self.user_id}"


class RemindType(models.TextChoices):
    """A conversation's receive option, as the Web SDK names them."""

    ACCEPT_AND_NOTIFY = "AcceptAndNotify"  # received, offline push
    ACCEPT_NOT_NOTIFY = "AcceptNotNotify"  # received, no offline push (do not disturb)
    DISCARD = "Discard"  # not delivered live, no push; in history


class Conversation(models.Model):
    """One owner's view of a dialog: last message, unread count, read position."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="conversations")
    peer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="+")
    # No database constraint: the history purge clears these references itself, in the
    # statement that deletes the messages (messaging/retention.py); the constraint's
    # check was most of a purge's time. Django's SET_NULL still applies to ORM deletes.
    last_message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", db_constraint=False)
    # Messages from the peer not yet read by the owner (the one source of badges).
    unread_count = models.IntegerField(default=0)
    # The owner has read everything in the dialog up to this seq.
    read_seq = models.BigIntegerField(default=0)
    # How far the peer has read the owner's messages (dialog seq, and Unix seconds).
    peer_read_seq = models.BigIntegerField(default=0)
    peer_read_time = models.BigIntegerField(default=0)
    is_pinned = models.BooleanField(default=False)
    draft_text = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField()
    # The owner cleared the history up to this dialog seq (ClearRamble,
    # clearHistoryMessage): older messages are gone from the owner's view only.
    cleared_seq = models.BigIntegerField(default=0)
    # Deleted from the owner's conversation list; the next message brings it back.
    is_hidden = models.BooleanField(default=False)
    # The owner's receive option for messages from the peer (setMessageRemindType).
    message_remind_type = models.CharField(max_length=16, choices=RemindType.choices,
                                           default=RemindType.ACCEPT_AND_NOTIFY,
                                           db_default=RemindType.ACCEPT_AND_NOTIFY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "peer"], name="conversation_unique_pair"),
        ]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="conversation_recent_idx"),
            models.Index(fields=["owner"], condition=Q(unread_count__gt=0),
                         name="conversation_unread_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.conversation_id}"

    @property
    def conversation_id(self) -> str:
        return f"C2C{self.peer.user_id}"


class BatchReceipt(models.Model):
    """One receiver of one batch (batchsendmsg) done: written in the transaction that
    writes (or, for an online-only batch, publishes) that receiver's message, so a
    chunk redone however late (a worker killed before its acknowledgement, a retry)
    skips it. Rows go with the history they guard (messaging.tasks.purge_history):
    a chunk older than that is not redone (messaging.tasks.send_to_many)."""

    pk = models.CompositePrimaryKey("batch_id", "receiver")
    batch_id = models.UUIDField()
    receiver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="+")
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"batch {self.batch_id} -> {self.receiver_id}"


class BatchChunk(models.Model):
    """One chunk of a batchsendmsg as it was queued: what messaging.tasks.send_to_many
    is handed, kept so the chunk can be queued again. `done_at` is set in the chunk's
    own transaction. A chunk not done long after it was queued, while nothing waits in
    the broker's queue, was lost by the broker (a worker killed between taking it from
    Redis and recording it as unacknowledged, a Redis restarted without persistence):
    messaging.tasks.requeue_lost_tasks queues it again. Purged with the history."""

    batch_id = models.UUIDField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+")
    receivers = models.JSONField()  # UserIDs
    options = models.JSONField()  # SendCommand keyword arguments, as the task gets them
    created_at = models.DateTimeField(db_index=True)
    queued_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["queued_at"], condition=Q(done_at__isnull=True),
                                name="batchchunk_pending_idx"),
                   # a batch's progress (the console's Send page follows it)
                   models.Index(fields=["batch_id"], name="batchchunk_batch_idx")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} chunk {self.pk}"


class Upload(models.Model):
    """A file a user uploaded (POST /api/v1/files/) and the storage names it fills.

    The row lives as long as the files, and a little longer: after its files are
    deleted it stays (`is_gone`) until the upload quota's day has passed, so a file
    sent and recalled still counts toward its uploader's rate and quota. Which
    messages refer to it is in UploadUse (messaging/upload_refs.py keeps both).
    """

    uuid = models.CharField(max_length=32, unique=True)
    # Kept when the account goes: files of a deleted account still need deleting.
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                 related_name="+")
    kind = models.CharField(max_length=8)
    # Every storage name written for it: the original, the large and thumbnail copies
    # of an image, a video's cover.
    names = models.JSONField(default=list)
    # Bytes stored (all names); what counts toward the uploader's daily quota.
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    # When the sweep (upload_refs.uploads_sweep) deletes the files if no message refers
    # to the upload then: a day after the upload while unsent, at once when the last
    # message referring to it goes; None while a message refers to it.
    delete_after = models.DateTimeField(null=True, blank=True)
    is_gone = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["uploader", "created_at"], name="upload_recent_idx"),
            models.Index(fields=["delete_after"], condition=Q(delete_after__isnull=False),
                         name="upload_sweep_idx"),
        ]

    def __str__(self) -> str:
        return f"upload {self.uuid}"


class UploadUse(models.Model):
    """A stored message that refers to an upload (a forward is a second message
    referring to the same upload). No database constraint on the message and its
    dialog: the history purge deletes these rows itself, in its own statement (as it
    does Conversation.last_message's references)."""

    # The unique constraint's index serves lookups by upload.
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="uses",
                               db_index=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+",
                                db_constraint=False)
    # The message's dialog: clearing a conversation looks only at its files.
    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="+",
                               db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "message"], name="upload_use_unique"),
        ]

    def __str__(self) -> str:
        return f"upload {self.upload_id} in message {self.message_id}"


class MergedList(models.Model):
    """The message list of a merged message (TIMRelayElem), stored once.

    A merged message too large to travel inline (messaging/merged.py) carries this row's
    `key` as its element's `downloadKey` instead of its `messageList`; the list is
    fetched with downloadMergerMessage. Who may read it, and when it goes, is decided by
    the messages that refer to it (MergedUse) and the lists that nest it (MergedNest).
    """

    # secrets.token_urlsafe: unguessable, the only name a client ever sees.
    key = models.CharField(max_length=64, unique=True)
    messages = models.JSONField()
    count = models.IntegerField()
    # The list as compact UTF-8 JSON, the size the 200 KB limit counts.
    bytes = models.IntegerField()
    # The uploads its messages refer to, those of the lists it nests included: every
    # stored message naming the list refers to them too (messaging/upload_refs.py), so a
    # file in a merged list stays while the list can be read.
    uploads = models.JSONField(default=list)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                related_name="+", db_index=False)
    created_at = models.DateTimeField()
    # Set when the history purge took a message referring to it: the sweep
    # (merged.merged_sweep) deletes it then unless something still refers to it.
    delete_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["delete_after"], condition=Q(delete_after__isnull=False),
                         name="mergedlist_sweep_idx"),
        ]

    def __str__(self) -> str:
        return f"merged list {self.pk} ({self.count} messages)"


class MergedUse(models.Model):
    """A stored message whose elements refer to a merged list (its own, a forward of
    one, or one nested in its inline list). As UploadUse: no database constraint on the
    message and its dialog; the history purge deletes these rows itself."""

    # The unique constraint's index serves lookups by list.
    merged = models.ForeignKey(MergedList, on_delete=models.CASCADE, related_name="uses",
                               db_index=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+",
                                db_constraint=False)
    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="+",
                               db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merged", "message"], name="merged_use_unique"),
        ]

    def __str__(self) -> str:
        return f"merged list {self.merged_id} in message {self.message_id}"


class MergedNest(models.Model):
    """A merged list (`parent`) whose messages hold another's downloadKey (`child`):
    whoever may read the parent may read the child, and the child stays while the
    parent does."""

    # The unique constraint's index serves lookups by parent.
    parent = models.ForeignKey(MergedList, on_delete=models.CASCADE, related_name="+",
                               db_index=False)
    child = models.ForeignKey(MergedList, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="merged_nest_unique"),
        ]

    def __str__(self) -> str:
        return f"merged list {self.child_id} in list {self.parent_id}"


class BroadcastOrigin(models.Model):
    """The origin of a push to all sent in another name than Origin.BROADCAST (the
    console's system notices to an audience: Origin.SYSTEM). Its pages are sent in that
    origin (messaging/push_all.py), so SEND_RULES' row decides their rules and marks.
    Goes with its push."""

    task = models.OneToOneField("push.BroadcastTask", on_delete=models.CASCADE,
                                primary_key=True, related_name="+")
    origin = models.CharField(max_length=16)  # an Origin's value (messaging/commands.py)

    def __str__(self) -> str:
        return f"push {self.task_id} as {self.origin}"


class SendPage(Message):
    """No table: the operator console's "Send message" page (messaging/admin_send.py),
    listed in admin with the messages. Who may use it is the console's permissions
    (accounts.send_as_app, accounts.send_as_user)."""

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "send message"
        verbose_name_plural = "send message"
