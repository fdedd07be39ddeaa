"""Reads of relationships, and the question every send asks: may A message B?"""

from __future__ import annotations

from django.db.models import Q

from chat_project.errors import ChatError

from .models import Block, Friendship, SendPolicy


def _pairs_q(field_a: str, field_b: str, pairs: set[tuple[int, int]]) -> Q:
    q = Q()
    for a, b in pairs:
        q |= Q(**{field_a: a, field_b: b})
    return q


def send_refusals(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], ChatError]:
    """For (sender pk, receiver pk) pairs, the ones that may not send, with the error.

    20007 the receiver blocked the sender; under a friends-only rule, 20009 neither has
    the other, 20010 the receiver does not have the sender, 20011 the sender does not
    have the receiver (the last two only when the rule asks for two-way friends).
    At most two queries for any number of pairs. Call it inside the send transaction,
    after the pairs' locks (accounts.locks), so a block that commits first is seen.
    """
    wanted = {(s, r) for s, r in pairs if s != r}
    if not wanted:
        return {}
    refused: dict[tuple[int, int], ChatError] = {}
    blocked = set(Block.objects.filter(_pairs_q("owner_id", "blocked_id",
                                                {(r, s) for s, r in wanted}))
                  .values_list("owner_id", "blocked_id"))
    for s, r in wanted:
        if (r, s) in blocked:
            refused[(s, r)] = ChatError(20007)
    rule = SendPolicy.current_rule()
    rest = wanted - set(refused)
    if rule == SendPolicy.Rule.ANYONE or not rest:
        return refused
    both_ways = rest | {(r, s) for s, r in rest}
    has = set(Friendship.objects.filter(_pairs_q("owner_id", "friend_id", both_ways))
              .values_list("owner_id", "friend_id"))
    for s, r in rest:
        sender_has, receiver_has = (s, r) in has, (r, s) in has
        if not sender_has and not receiver_has:
            refused[(s, r)] = ChatError(20009)
        elif rule == SendPolicy.Rule.FRIENDS_BOTH and not receiver_has:
            refused[(s, r)] = ChatError(20010)
        elif rule == SendPolicy.Rule.FRIENDS_BOTH and not sender_has:
            refused[(s, r)] = ChatError(20011)
    return refused


def is_blocked(*, owner_pk: int, other_pk: int) -> bool:
    """Has `owner` blocked `other`?"""
    return Block.objects.filter(owner_id=owner_pk, blocked_id=other_pk).exists()
