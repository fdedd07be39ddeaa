"""What a send is, as every door hands it to the pipeline (messaging.services).

`SendCommand` is one message to send, already translated to our names; `Origin` says
where it comes from; `SendRules` are the rules a send obeys, looked up by origin in
the one table the pipeline reads, `messaging.services.SEND_RULES`. A door does not
choose rules: it says what it is (the origin has no default, so a new door must pick
one), and the table decides the blocklist, friends-only, global mute, webhooks and
what makes a repeat the same message. Options that belong to one message (online
only, MsgLifeTime, ForbidCallbackControl...) stay on the command.

This module is the floor under everything that sends: the doors, the tasks, the
pipeline and the store (persist.py) import it, and it imports none of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from accounts.models import User

from .models import Priority

UINT32_MAX = 2**32 - 1
OFFLINE_LIFE_MAX = 7 * 86400  # MsgLifeTime's ceiling (tencent-rest.md §2.2)

# SyncOtherMachine (tencent-rest.md §2.2)
SYNC_ROAMING_ONLY = 0  # Tencent's "omitted"
SYNC_ALL = 1
SYNC_NOT_SENDER = 2


class Origin(enum.Enum):
    """Who is sending, as far as the rules care."""

    USER = "user"  # a user's own client: the WebSocket, REST POST /api/v1/messages/
    APP_ADMIN = "app_admin"  # /v4 openim/sendmsg, as the admin or as a user (From_Account)
    BATCH = "batch"  # /v4 openim/batchsendmsg, written by Celery in chunks
    IMPORT = "import"  # /v4 openim/importmsg
    BROADCAST = "broadcast"  # push to all, /v4 all_member_push/im_push
    # System notices: the operator console's Send page (messaging/admin_send.py), to one
    # receiver, or fanned out by the batch task or push to all (which then carry this
    # origin instead of BATCH or BROADCAST). Marked isSystemMessage on the message.
    SYSTEM = "system"


class Dedupe(enum.Enum):
    """What makes a send the same message as one already stored (it is then returned
    instead of written again)."""

    # The same (sender, receiver, random) within CHAT_DEDUP_SECONDS: a client's retry.
    RETRY_WINDOW = "retry_window"
    # The same (sender, receiver, random) with the same MsgTime: Tencent's rule for the
    # REST API's sends, "MsgRandom: dedup within a second" (tencent-rest.md §2.2). An
    # integrator may send a fixed MsgRandom (Tencent's own samples do): a later second's
    # send is another message, never one silently dropped as a repeat.
    SAME_SECOND = "same_second"
    # The same (MsgSeq, MsgRandom, MsgTimeStamp) in the dialog, either direction, any
    # age: importmsg's key (tencent-rest.md §3.3).
    IMPORT_KEY = "import_key"


@dataclass(frozen=True)
class SendRules:
    """The rules one origin's sends obey. No defaults: a row of the table states each."""

    relationships: bool  # the blocklist (20007) and the friends-only rule (20009-20011)
    mute: bool  # global mute (20012)
    webhooks: bool  # C2C.CallbackBeforeSendMsg and C2C.CallbackAfterSendMsg
    dedupe: Dedupe
    # The message lands in history at the command's `time` (created_at too), not now.
    backdated: bool
    # A merged message's downloadKey (a forward, or nested in its list) must be one the
    # sender may read (messaging/merged.py; 20022).
    merged_access: bool
    # The message is a system notice (Message.is_system; isSystem on the wire, the SDK's
    # isSystemMessage): clients draw it as a notice, not as a person's message.
    system_notice: bool


@dataclass(kw_only=True)
class SendCommand:
    """One send, as every door hands it over (already translated to our names)."""

    origin: Origin
    sender: User
    to: str
    elements: list
    random: int | None = None
    priority: str = Priority.NORMAL
    cloud_custom_data: str = ""
    need_read_receipt: bool = False
    # isSupportExtension / SupportMessageExtension (messaging/extensions.py).
    support_extension: bool = False
    online_user_only: bool = False
    offline_push_info: dict | None = None
    excluded_from_unread: bool = False
    excluded_from_last_message: bool = False
    # The socket that sent it: it gets the reply, the sender's other devices the event.
    origin_channel: str | None = None
    # The session epoch that socket logged in at: a send from a device signed out since
    # (kicked, or its account deleted) is refused (70002) even when the kick's layer
    # message never reached the socket.
    session_epoch: int | None = None
    # MsgLifeTime: seconds the receiver's offline-cache entry lives; None: the cache's own.
    life_time: int | None = None
    # Tencent's MsgSeq as a /v4 caller gave it (stored on the message).
    msg_seq: int | None = None
    sync_other_machine: int = SYNC_ALL
    # Webhooks: OptPlatform. None: a socket's is its device's platform (looked up in
    # presence by origin_channel, only when a webhook is on), else "RESTAPI".
    platform: str | None = None
    client_ip: str = ""
    # ForbidCallbackControl: this message only (an origin without webhooks has none).
    forbid_before_send: bool = False
    forbid_after_send: bool = False
    # The message's time (Unix seconds) when not now: a batch's, an import's.
    time: int | None = None
    # importmsg with SyncFromOldSystem 2: read already, no unread, no sync entries, no
    # live message event.
    historical: bool = False
    # The message's primary key, reserved when the before-send webhook is told its MsgKey.
    message_pk: int | None = None
    # batchsendmsg: the batch (a UUID); each receiver gets it once, however often its
    # chunk is run (persist.claim_batch_receipts).
    batch_id: str | None = None
    # Prepared by the pipeline: the receiver, and the origin's rules (SEND_RULES).
    receiver: User | None = field(default=None, repr=False)
    rules: SendRules | None = field(default=None, init=False, repr=False)
    # While the before-send webhook is asked (messaging/asking.py): the send registered
    # as the one asked about, or the earlier send of the same message it waits for.
    lead: object = field(default=None, init=False, repr=False)
    follows: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.origin, Origin):
            raise TypeError(f"origin must be an Origin, not {self.origin!r}")
        if self.historical and self.origin is not Origin.IMPORT:
            raise ValueError("only an import can be historical")

    @property
    def opt_platform(self) -> str:
        if self.platform:
            return self.platform
        return "Unknown" if self.origin_channel else "RESTAPI"
