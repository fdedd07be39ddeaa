"""Reads for push: attribute names, users' attributes and tags, who a push reaches."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from accounts.models import User

from .conditions import Condition
from .models import AttrName, BroadcastTask, PushDelivery, PushToken, UserAttr, UserTag


def attr_names() -> dict[str, str]:
    """{"0": "sex", ...} (im_get_attr_name)."""
    return {str(slot): name for slot, name in AttrName.objects.values_list("slot", "name")}


def user_attrs(users: dict[str, User], order: list[str]) -> list[dict]:
    """[{To_Account, Attrs: {name: value}}] for these users, in `order` (im_get_attr)."""
    names = dict(AttrName.objects.values_list("slot", "name"))
    by_pk: dict[int, dict[str, str]] = {u.pk: {} for u in users.values()}
    for user_pk, slot, value in (UserAttr.objects.filter(user_id__in=list(by_pk))
                                 .order_by("slot").values_list("user_id", "slot", "value")):
        if slot in names:
            by_pk[user_pk][names[slot]] = value
    return [{"To_Account": uid, "Attrs": by_pk[users[uid].pk]} for uid in dict.fromkeys(order)]


def user_tags(users: dict[str, User], order: list[str]) -> list[dict]:
    """[{To_Account, Tags: [...]}] for these users, in `order`; tags oldest first
    (im_get_tag)."""
    by_pk: dict[int, list[str]] = {u.pk: [] for u in users.values()}
    for user_pk, tag in (UserTag.objects.filter(user_id__in=list(by_pk))
                         .order_by("created_at", "pk").values_list("user_id", "tag")):
        by_pk[user_pk].append(tag)
    return [{"To_Account": uid, "Tags": by_pk[users[uid].pk]} for uid in dict.fromkeys(order)]


def condition_filter(condition: Condition) -> Q:
    """The users a condition matches, as a filter on User.

    One EXISTS probe per required tag or attribute (the unique (user, tag) and
    (user, slot) indexes answer each), so walking users in pk order, page by page,
    costs one pass over the users however many pages there are.
    """
    q = Q()
    if condition.tags_or:
        q &= Q(Exists(UserTag.objects.filter(user=OuterRef("pk"), tag__in=condition.tags_or)))
    for tag in condition.tags_and:
        q &= Q(Exists(UserTag.objects.filter(user=OuterRef("pk"), tag=tag)))
    if condition.attrs_or:
        either = Q()
        for slot, value in condition.attrs_or.items():
            either |= Q(slot=slot, value=value)
        q &= Q(Exists(UserAttr.objects.filter(either, user=OuterRef("pk"))))
    for slot, value in condition.attrs_and.items():
        q &= Q(Exists(UserAttr.objects.filter(user=OuterRef("pk"), slot=slot, value=value)))
    return q


def broadcast_recipients(condition: Condition, *, exclude_pk: int, after_pk: int,
                         limit: int) -> list[tuple[int, str]]:
    """The next page of (pk, UserID) a push reaches, in pk order after `after_pk`:
    active accounts matching the condition, the sender left out."""
    return list(User.objects.filter(condition_filter(condition), is_active=True,
                                    pk__gt=after_pk)
                .exclude(pk=exclude_pk).order_by("pk").values_list("pk", "user_id")[:limit])


def broadcast_by_task_id(task_id: str) -> BroadcastTask | None:
    return BroadcastTask.objects.filter(task_id=task_id).first()


def push_tokens(user_pk: int) -> list[PushToken]:
    return list(PushToken.objects.filter(user_id=user_pk).order_by("device_id"))


def has_token_sql(user_column: str) -> str:
    """An SQL condition: the user in `user_column` has a push token. For a statement of
    the send that answers push.tasks.queue_on_commit's question itself (`with_tokens`)."""
    return f"EXISTS (SELECT 1 FROM {PushToken._meta.db_table} WHERE user_id = {user_column})"


def open_deliveries_sql(user_column: str, peer_column: str) -> str:
    """An SQL condition: the user in `user_column` has offline pushes not withdrawn
    (pending, being sent or delivered) in its conversation with the user in
    `peer_column`, on the (user, conversation) index. For the statement with which a
    read locks its conversation, which so answers whether the read has something to
    withdraw (push.tasks.withdraw_on_commit) at no statement more."""
    states = ", ".join(f"'{s}'" for s in (PushDelivery.State.PENDING, PushDelivery.State.SENDING,
                                          PushDelivery.State.DELIVERED))
    return (f"EXISTS (SELECT 1 FROM {PushDelivery._meta.db_table} d"
            f" WHERE d.user_id = {user_column} AND d.conversation_id = 'C2C' ||"
            f" (SELECT u.user_id FROM {User._meta.db_table} u WHERE u.id = {peer_column})"
            f" AND NOT d.withdrawn AND d.state IN ({states}))")
