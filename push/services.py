"""Writes for push: device push tokens, push attributes and tags, push-to-all tasks.

Every door calls these: the native REST API registers tokens, the /v4 door
(push/v4.py, messaging/v4_push.py) sets attributes and tags and creates pushes.
Failures raise ChatError with Tencent's codes (tencent-rest.md §10):

    90018 more than 100 accounts in one request     90020 a tag over 50 bytes
    90022 a tag repeated in a condition              90026 MsgLifeTime out of range
    90032 over 10 tags (a condition, or one user in one im_add_tag)
    90033 an attribute unknown, or its value bad     90039 tags and attributes together
    90040 an empty tag                               90024 pushes less than 1 s apart
    90047 the daily push quota is used up            70107 no such account
    90045 push to all is turned off (CHAT_PUSH_ALL_ENABLED)
    70402 a request's shape is wrong (To_Account not a list of UserIDs, ...)
    910003 a push-token field is wrong (native REST)
    910020 a receive option field is wrong (setAllReceiveMessageOpt)
    910030-910032 a Web Push subscription is malformed or its endpoint refused
                  (push/webpush_subscription.py)
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import presence
from accounts import selectors as account_selectors
from accounts.models import User
from chat_project.errors import ChatError

from .conditions import Condition
from .models import AttrName, BroadcastTask, PushToken, ReceiveOption, UserAttr, UserTag
from .webpush_subscription import check_subscription

log = logging.getLogger(__name__)

MAX_ACCOUNTS = 100          # per attribute or tag request (Tencent: 90018)
MAX_ATTRS = 10              # attribute slots 0..9
MAX_BYTES = 50              # an attribute name or value, a tag
MAX_CONDITION_TAGS = 10     # TagsAnd, TagsOr each (90032)
MAX_TAGS_PER_ADD = 10       # one user in one im_add_tag (90032)
MAX_TAGS_PER_USER = 100     # tags one user may carry
MAX_TOKEN_CHARS = 4096
RANDOM_WINDOW = timedelta(days=7)  # a MsgRandom names one push for 7 days
UINT32_MAX = 2**32 - 1
MAX_LIFETIME = 604800


# --- push tokens ------------------------------------------------------------------------

def _check_token_fields(device_id, vendor, token=None) -> None:
    if not isinstance(device_id, str) or not 1 <= len(device_id) <= 64 or "\x00" in device_id:
        raise ChatError(910003, "deviceID must be a string of 1 to 64 characters")
    if vendor not in PushToken.Vendor.values:
        raise ChatError(910003, f"vendor must be one of {', '.join(PushToken.Vendor.values)}")
    if token is not None and (not isinstance(token, str) or not token.strip()
                              or len(token) > MAX_TOKEN_CHARS or "\x00" in token):
        raise ChatError(910003, f"token must be a non-empty string of at most "
                                f"{MAX_TOKEN_CHARS} characters")


def push_token_register(*, user: User, device_id, vendor, token) -> PushToken:
    """Register (or replace) the push token of one of the user's devices.

    A token is one physical device: registered by another account (the phone changed
    hands, or the app signed in as someone else), it leaves the old account, which
    would otherwise get the new owner's pushes; registered by the same user under
    another deviceID (an app reinstalled keeps its APNs token, not its deviceID), it
    leaves the old deviceID, which would otherwise get each push a second time. After
    commit the user is push-reachable on the device's platform (accounts.presence).
    """
    if vendor == PushToken.Vendor.WEBPUSH:  # an object or JSON, kept as canonical JSON
        _check_token_fields(device_id, vendor)
        token = check_subscription(token)
    # A missing token is checked as an empty one (None means "no token to check").
    _check_token_fields(device_id, vendor, "" if token is None else token)
    with transaction.atomic():
        elsewhere = list(PushToken.objects.select_for_update()
                         .filter(vendor=vendor, token=token)
                         .exclude(user=user, device_id=device_id)
                         .values_list("pk", "user_id"))
        moved = [owner for _, owner in elsewhere if owner != user.pk]
        if elsewhere:
            PushToken.objects.filter(pk__in=[pk for pk, _ in elsewhere]).delete()
        before = PushToken.objects.select_for_update().filter(user=user, device_id=device_id) \
            .first()
        try:
            with transaction.atomic():
                row, _ = PushToken.objects.update_or_create(
                    user=user, device_id=device_id, defaults={"vendor": vendor, "token": token})
        except IntegrityError:  # registered concurrently for this device: update that
            row = PushToken.objects.get(user=user, device_id=device_id)
            row.vendor, row.token = vendor, token
            row.save(update_fields=["vendor", "token", "updated_at"])
        platform = row.platform
        transaction.on_commit(lambda: _presence("set_push_reachable", user.pk, platform))
        for old_user in set(moved):
            _clear_if_unreachable(old_user, platform)
        dropped = _drop_oldest_tokens(user.pk, keep=row.pk)
        if before is not None and before.platform != platform:  # e.g. apns -> fcm
            dropped.add(before.platform)
        for other in dropped - {platform}:
            _clear_if_unreachable(user.pk, other)
    return row


def _drop_oldest_tokens(user_pk: int, *, keep: int) -> set[str]:
    """Past CHAT_PUSH_MAX_TOKENS, the user's least recently registered tokens go (each
    message is one vendor request per token: the bound keeps one account from turning
    a message into thousands of requests). Returns the platforms of those dropped."""
    limit = max(1, int(getattr(settings, "CHAT_PUSH_MAX_TOKENS", 10)))
    extra = list(PushToken.objects.filter(user_id=user_pk).exclude(pk=keep)
                 .order_by("-updated_at", "-pk")[limit - 1:].values_list("pk", "vendor"))
    if not extra:
        return set()
    PushToken.objects.filter(pk__in=[pk for pk, _ in extra]).delete()
    log.info("push tokens of %s over the limit of %d: %d dropped", user_pk, limit, len(extra))
    return {PushToken.PLATFORMS.get(vendor, "Android") for _, vendor in extra}


def push_token_remove(*, user: User, device_id) -> bool:
    """Forget the push token of one of the user's devices; False if it had none."""
    if not isinstance(device_id, str) or not 1 <= len(device_id) <= 64 or "\x00" in device_id:
        raise ChatError(910003, "deviceID must be a string of 1 to 64 characters")
    with transaction.atomic():
        row = PushToken.objects.select_for_update().filter(user=user, device_id=device_id).first()
        if row is None:
            return False
        row.delete()
        _clear_if_unreachable(user.pk, row.platform)
    return True


def push_tokens_forget(*, user: User, device_ids) -> int:
    """Forget the tokens of these devices of the user: the device logged out, or was
    pushed out by another login or a kick (Tencent sends no push after). Returns how
    many went."""
    device_ids = [d for d in device_ids if isinstance(d, str)]
    if not device_ids:
        return 0
    with transaction.atomic():
        rows = list(PushToken.objects.select_for_update()
                    .filter(user=user, device_id__in=device_ids))
        if not rows:
            return 0
        PushToken.objects.filter(pk__in=[r.pk for r in rows]).delete()
        for platform in {r.platform for r in rows}:
            _clear_if_unreachable(user.pk, platform)
    log.info("push tokens of %s forgotten: %s", user.pk, [r.device_id for r in rows])
    return len(rows)


def push_token_drop_dead(*, token: PushToken) -> bool:
    """The vendor said this token will never work again: delete it, unless the device
    registered a new one meanwhile."""
    with transaction.atomic():
        deleted, _ = PushToken.objects.filter(pk=token.pk, token=token.token).delete()
        if deleted:
            _clear_if_unreachable(token.user_id, token.platform)
    return bool(deleted)


def receive_option_set(*, user: User, opt, start_hour=0, start_minute=0, start_second=0,
                       duration=0) -> dict:
    """setAllReceiveMessageOpt: the user's global option and its daily quiet window
    (UTC). Returns getAllReceiveMessageOpt's view. 910020 for a bad field."""
    opt, start, duration = check_receive_option(opt, start_hour, start_minute, start_second,
                                                duration)
    ReceiveOption.objects.update_or_create(
        user=user, defaults={"opt": opt, "start": start, "duration": duration})
    return receive_option_get(user=user)


def check_receive_option(opt, start_hour, start_minute, start_second, duration):
    """setAllReceiveMessageOpt's fields; 910020 when one is wrong."""
    names = {"AcceptAndNotify": 0, "AcceptNotNotify": 2}
    if isinstance(opt, str) and opt in names:
        opt = names[opt]
    if isinstance(opt, bool) or opt not in (0, 2):
        raise ChatError(910020, "opt must be 0 (AcceptAndNotify) or 2 (AcceptNotNotify)")
    for name, value, top in (("startHour", start_hour, 23), ("startMinute", start_minute, 59),
                             ("startSecond", start_second, 59), ("duration", duration, 86400)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise ChatError(910020, f"{name} must be an integer from 0 to {top}")
    return opt, start_hour * 3600 + start_minute * 60 + start_second, duration


def receive_option_get(*, user: User) -> dict:
    """getAllReceiveMessageOpt: {allReceiveMessageOpt, startHour, startMinute,
    startSecond, duration} (AcceptAndNotify, 0s when never set)."""
    row = ReceiveOption.objects.filter(user=user).first() or ReceiveOption(user=user)
    return {"allReceiveMessageOpt": ReceiveOption.Opt(row.opt).label,
            "startHour": row.start // 3600, "startMinute": row.start % 3600 // 60,
            "startSecond": row.start % 60, "duration": row.duration}


def _clear_if_unreachable(user_pk: int, platform: str) -> None:
    """After commit: the user is no longer push-reachable on `platform` unless another
    of their devices still has a token for it."""
    vendors = [v for v in PushToken.Vendor.values
               if PushToken.PLATFORMS.get(v, "Android") == platform]
    if not PushToken.objects.filter(user_id=user_pk, vendor__in=vendors).exists():
        transaction.on_commit(lambda: _presence("clear_push_reachable", user_pk, platform))


def _presence(name: str, user_pk: int, platform: str) -> None:
    """accounts.presence keeps who is push-reachable ("PushOnline"). Run after commit;
    a Redis failure there is logged, never turned into a failed registration (the
    marker is refreshed by the device's next registration)."""
    try:
        getattr(presence, name)(user_pk, platform)
    except Exception:
        log.exception("presence %s(%s, %s) failed", name, user_pk, platform)


# --- attribute names ----------------------------------------------------------------------

def _byte_len(value: str) -> int:
    return len(value.encode())


def attr_names_set(names) -> dict[str, str]:
    """Name attribute slots: {"0": "sex", "1": "city"} (im_set_attr_name).

    Slots not given keep their names; an empty name frees its slot and drops every
    user's value in it. Returns all names after the change.
    """
    if not isinstance(names, dict) or not names:
        raise ChatError(90033, "AttrNames must be an object such as {\"0\": \"sex\"}")
    wanted: dict[int, str] = {}
    for key, name in names.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()
                and 0 <= int(key) < MAX_ATTRS):
            raise ChatError(90033, f"attribute number {key!r} is not 0 to {MAX_ATTRS - 1}")
        if not isinstance(name, str) or _byte_len(name) > MAX_BYTES or "\x00" in name:
            raise ChatError(90033, f"attribute {key}: the name must be a string of at most "
                                   f"{MAX_BYTES} bytes")
        wanted[int(key)] = name
    with transaction.atomic():
        current = {a.slot: a.name for a in AttrName.objects.select_for_update()}
        merged = {**current, **wanted}
        named = [n for n in merged.values() if n]
        if len(named) != len(set(named)):
            raise ChatError(90033, "two attributes cannot have the same name")
        freed = [slot for slot, name in wanted.items() if not name]
        if freed:
            AttrName.objects.filter(slot__in=freed).delete()
            UserAttr.objects.filter(slot__in=freed).delete()
        changed = {slot: name for slot, name in wanted.items()
                   if name and current.get(slot) != name}
        if changed:
            # Names are unique: move the changed ones out of the way first, so a swap
            # ("0": "city", "1": "sex") does not trip the constraint halfway.
            AttrName.objects.filter(slot__in=list(changed)).delete()
            AttrName.objects.bulk_create(
                [AttrName(slot=slot, name=name) for slot, name in sorted(changed.items())])
    return {str(slot): name for slot, name in sorted(merged.items()) if name}


def _slots_by_name() -> dict[str, int]:
    return {name: slot for slot, name in AttrName.objects.values_list("slot", "name")}


def _attr_value(name: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ChatError(90033, f"attribute {name!r}: the value must be a string")
    value = str(value)
    if "\x00" in value:
        raise ChatError(90033, f"attribute {name!r}: the value has a NUL character")
    if _byte_len(value) > MAX_BYTES:
        raise ChatError(90033, f"attribute {name!r}: the value is over {MAX_BYTES} bytes")
    return value


# --- users' attributes and tags ---------------------------------------------------------

def check_accounts(user_ids) -> dict[str, User]:
    """The accounts a request names, all of them (70107 for one that does not exist,
    90018 over 100)."""
    if not isinstance(user_ids, list) or not user_ids \
            or not all(isinstance(u, str) for u in user_ids):
        raise ChatError(70402, "To_Account must be a non-empty list of UserIDs")
    if len(set(user_ids)) > MAX_ACCOUNTS:
        raise ChatError(90018, f"at most {MAX_ACCOUNTS} accounts per request")
    users = account_selectors.users_by_user_ids(set(user_ids))
    missing = [u for u in dict.fromkeys(user_ids) if u not in users]
    if missing:
        raise ChatError(70107, f"no such account: {', '.join(missing[:5])}")
    return users


@dataclass
class UserItems:
    """One entry of UserAttrs / UserTags: whose, and the names, values or tags."""

    user_id: str
    items: object  # {name: value} for attributes to set; [names] or [tags] otherwise


def _entries(entries, list_name: str, items_name: str) -> list[UserItems]:
    if not isinstance(entries, list) or not entries:
        raise ChatError(70402, f"{list_name} must be a non-empty array")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("To_Account"), str):
            raise ChatError(70402, f"each item of {list_name} needs To_Account (a string)")
        out.append(UserItems(entry["To_Account"], entry.get(items_name)))
    return out


def user_attrs_set(*, entries) -> None:
    """Set users' attribute values: [{To_Account, Attrs: {name: value}}] (im_set_attr).
    All or nothing: one bad entry fails the request before anything is written."""
    items = _entries(entries, "UserAttrs", "Attrs")
    users = check_accounts([i.user_id for i in items])
    slots = _slots_by_name()
    rows: dict[tuple[int, int], str] = {}
    for item in items:
        if not isinstance(item.items, dict) or not item.items:
            raise ChatError(90033, f"{item.user_id}: Attrs must be a non-empty object")
        for name, value in item.items.items():
            if name not in slots:
                raise ChatError(90033, f"no attribute named {name!r} (im_set_attr_name first)")
            rows[(users[item.user_id].pk, slots[name])] = _attr_value(name, value)
    with transaction.atomic():
        _upsert_attrs(rows)


def _upsert_attrs(rows: dict[tuple[int, int], str]) -> None:
    objs = [UserAttr(user_id=u, slot=s, value=v) for (u, s), v in sorted(rows.items())]
    UserAttr.objects.bulk_create(objs, update_conflicts=True, unique_fields=["user", "slot"],
                                 update_fields=["value"])


def user_attrs_remove(*, entries) -> None:
    """Drop users' attribute values: [{To_Account, Attrs: [name, ...]}] (im_remove_attr)."""
    items = _entries(entries, "UserAttrs", "Attrs")
    users = check_accounts([i.user_id for i in items])
    slots = _slots_by_name()
    pairs: set[tuple[int, int]] = set()
    for item in items:
        if not isinstance(item.items, list) or not all(isinstance(n, str) for n in item.items):
            raise ChatError(90033, f"{item.user_id}: Attrs must be a list of attribute names")
        for name in item.items:
            if name not in slots:
                raise ChatError(90033, f"no attribute named {name!r}")
            pairs.add((users[item.user_id].pk, slots[name]))
    if not pairs:
        return
    with transaction.atomic():
        by_user: dict[int, list[int]] = {}
        for user_pk, slot in pairs:
            by_user.setdefault(user_pk, []).append(slot)
        which = Q()
        for user_pk, user_slots in sorted(by_user.items()):
            which |= Q(user_id=user_pk, slot__in=user_slots)
        UserAttr.objects.filter(which).delete()  # one statement for the request


def check_tag(tag) -> str:
    if not isinstance(tag, str) or not tag:
        raise ChatError(90040, "a tag is empty (or not a string)")
    if _byte_len(tag) > MAX_BYTES:
        raise ChatError(90020, f"tag {tag[:20]!r}... is over {MAX_BYTES} bytes")
    if "\x00" in tag:
        raise ChatError(90040, "a tag has a NUL character")
    return tag


def _tag_entries(entries) -> tuple[dict[str, User], list[tuple[User, list[str]]]]:
    items = _entries(entries, "UserTags", "Tags")
    users = check_accounts([i.user_id for i in items])
    out = []
    for item in items:
        if not isinstance(item.items, list) or not item.items:
            raise ChatError(90040, f"{item.user_id}: Tags must be a non-empty array")
        tags = list(dict.fromkeys(check_tag(t) for t in item.items))
        out.append((users[item.user_id], tags))
    return users, out


def user_tags_add(*, entries) -> None:
    """Tag users: [{To_Account, Tags: [...]}] (im_add_tag). At most 10 tags per user
    per request and 100 per user in all (90032); tags a user has stay as they are."""
    _, items = _tag_entries(entries)
    wanted: dict[int, dict[str, None]] = {}  # in the request's order
    for user, tags in items:
        wanted.setdefault(user.pk, {}).update(dict.fromkeys(tags))
    for user, _ in items:
        if len(wanted[user.pk]) > MAX_TAGS_PER_ADD:
            raise ChatError(90032, f"{user.user_id}: at most {MAX_TAGS_PER_ADD} tags per "
                                   f"request")
    with transaction.atomic():
        # Lock the users' rows so two requests cannot both pass the 100-tag check.
        list(User.objects.select_for_update().filter(pk__in=sorted(wanted))
             .order_by("pk").values_list("pk", flat=True))
        have: dict[int, set[str]] = {}
        for user_pk, tag in UserTag.objects.filter(user_id__in=list(wanted)) \
                .values_list("user_id", "tag"):
            have.setdefault(user_pk, set()).add(tag)
        for user, _ in items:
            if len(have.get(user.pk, set()) | set(wanted[user.pk])) > MAX_TAGS_PER_USER:
                raise ChatError(90032, f"{user.user_id}: a user has at most "
                                       f"{MAX_TAGS_PER_USER} tags; remove some first")
        UserTag.objects.bulk_create(
            [UserTag(user_id=pk, tag=t) for pk, tags in sorted(wanted.items()) for t in tags],
            ignore_conflicts=True)


def user_tags_remove(*, entries) -> None:
    """Untag users: [{To_Account, Tags: [...]}] (im_remove_tag); a tag the user does
    not have is no error."""
    _, items = _tag_entries(entries)
    which = Q()
    for user, tags in sorted(items, key=lambda i: i[0].pk):
        which |= Q(user_id=user.pk, tag__in=tags)
    UserTag.objects.filter(which).delete()  # one statement for the request


def user_tags_clear(*, user_ids) -> None:
    """Remove every tag of these users (im_remove_all_tags)."""
    users = check_accounts(user_ids)
    UserTag.objects.filter(user_id__in=sorted(u.pk for u in users.values())).delete()


# --- conditions ---------------------------------------------------------------------------

def check_condition(condition) -> Condition:
    """Tencent's Condition {TagsAnd, TagsOr, AttrsAnd, AttrsOr} as a Condition."""
    if condition is None:
        return Condition()
    if not isinstance(condition, dict):
        raise ChatError(90001, "Condition must be an object")
    tags = {k: condition.get(k) for k in ("TagsAnd", "TagsOr") if condition.get(k) is not None}
    attrs = {k: condition.get(k) for k in ("AttrsAnd", "AttrsOr")
             if condition.get(k) is not None}
    if any(v for v in tags.values()) and any(v for v in attrs.values()):
        raise ChatError(90039, "a push goes by tags or by attributes, not both")
    out = Condition()
    seen: set[str] = set()
    for key, value in tags.items():
        if not isinstance(value, list):
            raise ChatError(90040, f"{key} must be an array of tags")
        if len(value) > MAX_CONDITION_TAGS:
            raise ChatError(90032, f"{key} has more than {MAX_CONDITION_TAGS} tags")
        checked = [check_tag(t) for t in value]
        for tag in checked:
            if tag in seen:
                raise ChatError(90022, f"tag {tag!r} is repeated in the condition")
            seen.add(tag)
        setattr(out, "tags_and" if key == "TagsAnd" else "tags_or", checked)
    if attrs:
        slots = _slots_by_name()
        for key, value in attrs.items():
            if not isinstance(value, dict):
                raise ChatError(90033, f"{key} must be an object of attribute: value")
            checked = {}
            for name, v in value.items():
                if name not in slots:
                    raise ChatError(90033, f"no attribute named {name!r}")
                checked[slots[name]] = _attr_value(name, v)
            setattr(out, "attrs_and" if key == "AttrsAnd" else "attrs_or", checked)
    return out


# --- push to all ------------------------------------------------------------------------

def check_lifetime(value) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIFETIME:
        raise ChatError(90026, f"MsgLifeTime must be an integer from 0 to {MAX_LIFETIME}")
    return value


def check_msg_random(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT32_MAX:
        raise ChatError(90005, "MsgRandom must be an integer from 0 to 4294967295")
    return value


def daily_quota() -> int:
    return int(getattr(settings, "CHAT_PUSH_DAILY_QUOTA", 100))


def min_interval() -> float:
    return float(getattr(settings, "CHAT_PUSH_MIN_INTERVAL", 1.0))


def _lock_broadcasts() -> None:
    """One push is created at a time (the interval and the quota are then exact).
    PostgreSQL: a transaction advisory lock; SQLite writes one transaction at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # hashtext is stable across processes; the key only has to be unique.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('parley.push.broadcast'))")


def broadcast_create(*, sender: User, elements: list, msg_random: int, lifetime: int,
                     condition: Condition, offline_push_info: dict | None = None,
                     cloud_custom_data: str = "") -> tuple[BroadcastTask, bool]:
    """Record a push to all, in the caller's transaction: (task, created).

    A MsgRandom already used within 7 days names that push: its task comes back and
    nothing new is sent (Tencent's retry rule). Otherwise the interval since the last
    push (90024) and today's quota (90047, the UTC day) are checked under a lock.
    The caller queues the fan-out after commit (messaging.push_all).
    """
    if not getattr(settings, "CHAT_PUSH_ALL_ENABLED", True):
        raise ChatError(90045, "push to all is turned off (CHAT_PUSH_ALL_ENABLED)")
    msg_random = check_msg_random(msg_random)
    lifetime = check_lifetime(lifetime)
    now = timezone.now()
    _lock_broadcasts()
    earlier = BroadcastTask.objects.filter(msg_random=msg_random,
                                           created__gte=now - RANDOM_WINDOW).first()
    if earlier is not None:
        return earlier, False
    last = BroadcastTask.objects.order_by("-created").values_list("created", flat=True).first()
    if last is not None and (now - last).total_seconds() < min_interval():
        raise ChatError(90024, f"pushes must be at least {min_interval():g} s apart")
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if BroadcastTask.objects.filter(created__gte=day_start).count() >= daily_quota():
        raise ChatError(90047, f"the daily quota of {daily_quota()} pushes is used up")
    task = BroadcastTask.objects.create(
        task_id=_new_task_id(now), sender=sender, msg_random=msg_random, body=elements,
        cloud_custom_data=cloud_custom_data, offline_push_info=offline_push_info,
        lifetime=lifetime, condition=condition.as_json(), created=now)
    return task, True


def _new_task_id(now) -> str:
    # Like Tencent's: readable time, then randomness.
    return f"{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:20]}"


def broadcast_mark(task: BroadcastTask, **changes) -> None:
    """Update a task's progress (state, counts, cursor) as the fan-out goes."""
    for name, value in changes.items():
        setattr(task, name, value)
    BroadcastTask.objects.filter(pk=task.pk).update(**changes)
