"""One application error type and the one table of error codes every door uses.

Numbers are Tencent's where Tencent has one (see shared/tencent-rest.md §11), so an
app that knows Tencent's codes understands ours. Parley's own codes live in the
91xxxx range and are listed here too, with the message each door shows.
"""

from __future__ import annotations


class ChatError(Exception):
    """A user-facing failure with a stable numeric code.

    Doors turn it into their own shape: a WebSocket error frame, a DRF JSON body,
    or the `/v4` envelope with `ErrorCode`/`ErrorInfo`.
    """

    def __init__(self, code: int, message: str | None = None, *, http_status: int = 400):
        self.code = code
        self.message = message or CODES.get(code, "error")
        self.http_status = http_status
        super().__init__(f"{code}: {self.message}")

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


# code -> default message. Tencent's numbers first, then Parley's own.
CODES: dict[int, str] = {
    # messages (Tencent)
    20001: "invalid request",
    20003: "the receiver does not exist",
    20005: "internal server error",
    20006: "the before-send webhook rejected the message",
    20007: "the receiver has blocked the sender",
    20009: "the sender and the receiver are not friends",
    20010: "the sender is not a friend of the receiver",
    20011: "the receiver is not a friend of the sender",
    20012: "the sender is muted",
    20016: "the recall time limit has passed",
    10004: "invalid parameter",
    23001: "the extension was changed meanwhile (seq conflict); read it and retry",
    23002: "the message does not support extensions",
    23003: "too frequent: too many extension writes on this message; wait a little",
    23004: "message not found",
    23005: "the message holds the most reactions it may (20 reaction IDs)",
    23007: "you have already reacted with this reactionID",
    23008: "you have not reacted with this reactionID",
    20022: "message not found",
    20023: "the message was already recalled",
    20028: "the message was modified meanwhile; reload it and retry",
    51012: "too many pinned conversations",
    80003: "the before-send webhook failed or timed out, and the policy is to block",
    90001: "malformed JSON",
    90002: "the message body is malformed",
    90005: "MsgRandom is missing or not an integer",
    90007: "MsgBody must be an array",
    90010: "malformed or unknown message element",
    90043: "offlinePushInfo is malformed",
    90044: "MsgLifeTime must be a non-negative integer",
    90026: "MsgLifeTime is over 7 days",
    90018: "too many accounts in one request",
    # push to all (Tencent's, tencent-rest.md §9)
    90020: "a tag is too long",
    90022: "a tag is repeated",
    90024: "pushes to all must be further apart",
    90032: "too many tags",
    90033: "malformed attribute",
    90039: "a push goes by tags or by attributes, not both",
    90040: "a tag is empty",
    90045: "push to all is turned off",
    90047: "the daily push quota is used up",
    93000: "the message is over 12 KB",
    # UserSig and login (Tencent)
    70001: "UserSig expired",
    70002: "request before login (or after a kick), or UserSig empty",
    70003: "UserSig invalid",
    70009: "UserSig verification failed",
    70013: "the UserSig belongs to another user",
    70014: "the UserSig belongs to another SDKAppID",
    70107: "UserID does not exist",
    70051: "the account is disabled",
    70402: "invalid parameters",
    7003: "invalid UserID: 1 to 32 printable ASCII characters",
    # profiles (Tencent)
    40601: "a profile value is too long",
    40605: "a profile value is not allowed",
    40001: "invalid parameters",
    40009: "no such profile field: custom keys are Tag_Profile_Custom_ and 1-8 letters",
    # friends (Tencent's SNS codes, tencent-rest.md §7)
    30001: "invalid parameters",
    30003: "account not found",
    30010: "your friend list is full (3,000 friends)",
    30011: "too many friend lists (32 at most)",
    30012: "too many pending friend requests",
    30014: "the peer's friend list is full (3,000 friends)",
    30515: "the peer is in your blocklist",
    30516: "the peer does not accept friend requests",
    30525: "you are in the peer's blocklist",
    30539: "friend request sent; waiting for the peer to confirm",
    30614: "no such pending friend request",
    31704: "not a friend",
    32216: "not a friend, so not added to the friend list",
    # blocklist (Tencent's SNS codes, tencent-rest.md §8)
    30013: "your blocklist is full (1,000 users)",
    # Parley's own
    910001: "unknown operation",
    910002: "malformed frame: expected a JSON object",
    910003: "a field is missing or has the wrong type",
    910004: "not found",
    910005: "too many requests; slow down",
    910006: "file too large",
    910007: "unsupported file",
    910008: "authentication required",
    910009: "permission denied",
    910010: "the UserID is taken by an account signed up with a password on the web UI; "
            "import another UserID, or delete that account first",
    910503: "the server is busy (database or Redis unavailable); retry shortly",
    910011: "the day's upload quota is used up",
    910012: "the image has too many pixels",
    # Web Push subscriptions (push/webpush_subscription.py)
    910030: "not a Web Push subscription (PushSubscription.toJSON(): endpoint, keys)",
    910031: "a Web Push endpoint must be https (plain http only to a loopback address "
            "in development and tests)",
    910032: "the Web Push endpoint's address is refused (not a public address)",
    910033: "Web Push is unavailable: the server's VAPID keys are misconfigured",
    # offline push and receive options (push/, messaging.changes.conversation_remind_set)
    910020: "a receive option field is wrong (opt, startHour, startMinute, startSecond, "
            "duration)",
    910021: "messageRemindType must be AcceptAndNotify, AcceptNotNotify or Discard",
    910022: "userIDList must hold 1 to 30 UserIDs",
    # A merged message's list (TIMRelayElem.messageList; messaging/elements.py): it does
    # not count toward the 12 KB, but holds at most 300 messages and 200 KB.
    910050: "a message holds at most 300 extensions",
    910013: "a merged message holds more than 300 messages",
    910014: "a merged message's list is over 200 KB",
    # the operator console's Send page (messaging/admin_send.py)
    910040: "the Send page's form is incomplete or wrong (the message says which field)",
    910041: "too many receivers in one list (at most 10,000)",
    910042: "the custom data is not JSON (the Send page was asked to check it)",
    910043: "a push to an audience cannot leave out unread or the last message",
    # raised by the JS SDK itself (static/parley/sdk.js), never by the server
    910201: "the connection ended before an answer",
    910202: "no answer in time",
    910203: "the upload was cancelled",  # cancelUploadMessage()
    # (the SDK also raises Tencent's Web SDK codes 2108 and 2251-2453, for files and
    # merged messages: listed in its header comment)
}
