"""The one interface every offline-push vendor implements.

The push pipeline (push/services.py decides, push/tasks.py delivers) never knows a
vendor's wire format: it builds a `Notification`, asks `provider(vendor)` for the
vendor's client and calls `send(token, note)`. The client maps the notification onto
the vendor's fields, makes one HTTP request (bounded by `CHAT_PUSH_HTTP_TIMEOUT`) and
answers a `Result`; it never raises for anything the vendor or the network does:

    DELIVERED   the vendor accepted the notification
    RETRY       try again later (429, 5xx, a timeout, a refused connection); with
                `retry_after` seconds when the vendor said (Retry-After)
    DEAD_TOKEN  the token will never work again (APNs 410 / BadDeviceToken, FCM
                UNREGISTERED, a Web Push 404/410, ...): the pipeline deletes it
    FAILED      a permanent error that is not the token's (bad credentials, a payload
                the vendor refuses): kept in the attempt log, not retried

A vendor without credentials in settings is `configured() == False`; the pipeline
records that as a FAILED attempt ("not configured") and admin lists the vendor as
disabled, so nothing is silently dropped.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Notification:
    """What one device is told, in vendor-neutral words."""

    title: str
    body: str
    extension: str = ""           # app data for the client (Tencent's Ext)
    badge: int | None = None      # None: leave the badge as it is (ignoreIOSBadge)
    sound: str = ""               # "" the vendor's default sound
    collapse_id: str = ""         # the message's ID: a later withdrawal names it
    conversation_id: str = ""     # "C2C" + peer, for the app to open on a tap
    message_id: str = ""
    # Vendor-specific knobs from offlinePushInfo / OfflinePushInfo, by neutral name:
    #   apns_subtitle, apns_image, apns_mutable_content (bool), apns_push_type,
    #   apns_sound, android_sound (each platform's own, over `sound`),
    #   android_channel_id (FCM / Xiaomi), oppo_channel_id, vivo_classification (0/1),
    #   vivo_category, huawei_importance ("NORMAL"/"LOW"), huawei_category,
    #   honor_importance, image (Android big picture URL)
    options: dict = field(default_factory=dict)
    # True: not a new notification but the withdrawal of `collapse_id` (the message was
    # read on another device). Vendors that cannot withdraw answer DELIVERED and send
    # nothing.
    withdraw: bool = False

    def sound_for(self, platform: str) -> str:
        """The sound for "apns" or "android": the platform's own (ApnsInfo.Sound,
        AndroidInfo.Sound), else `sound`; "" the vendor's default."""
        own = (self.options or {}).get(f"{platform}_sound")
        return str(own) if own else self.sound


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_TOKEN = "dead_token"
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    vendor_code: str = ""             # the vendor's own code or reason ("BadDeviceToken")
    detail: str = ""                  # a short human-readable explanation
    http_status: int | None = None
    retry_after: float | None = None  # seconds, when the vendor said


class Provider(ABC):
    """One vendor's client. Instances are cheap; a provider may cache its OAuth or JWT
    token on the class (re-signed or refreshed before it expires)."""

    vendor: str = ""  # a PushToken.Vendor value

    @abstractmethod
    def configured(self) -> bool:
        """True when settings hold every credential this vendor needs."""

    @abstractmethod
    def send(self, token: str, note: Notification) -> Result:
        """Deliver `note` to the device holding `token`; never raises."""


_REGISTRY: dict[str, Callable[[], Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make `cls` the provider of `cls.vendor`."""
    _REGISTRY[cls.vendor] = cls
    return cls


def provider(vendor: str) -> Provider | None:
    """The client of `vendor`, or None when Parley has no client for it."""
    from . import load_all

    load_all()
    factory = _REGISTRY.get(vendor)
    return factory() if factory else None


def vendors() -> list[str]:
    """Every vendor with a client."""
    from . import load_all

    load_all()
    return sorted(_REGISTRY)
