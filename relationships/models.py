"""Friends (one row per direction), friend requests, friend lists, the blocklist, and
the deployment's rule for who may message whom."""

from __future__ import annotations

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL


class Friendship(models.Model):
    """`owner` has `friend` in their friend list. Two-way friends are two rows."""

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="friendships")
    friend = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    remark = models.CharField(max_length=96, blank=True, default="")
    add_source = models.CharField(max_length=64, blank=True, default="")
    add_wording = models.CharField(max_length=256, blank=True, default="")
    add_time = models.DateTimeField()
    remark_time = models.DateTimeField(null=True, blank=True)
    # Tag_SNS_Custom_<Key> -> value
    custom = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "friend"], name="friendship_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} -> {self.friend_id}"


class FriendGroup(models.Model):
    """A named friend list of one owner (Tencent's Tag_SNS_IM_Group)."""

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="friend_groups")
    name = models.CharField(max_length=30)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(Friendship, related_name="groups", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="friend_group_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.name}"


class AddType(models.TextChoices):
    SINGLE = "Add_Type_Single"
    BOTH = "Add_Type_Both"


class FriendRequest(models.Model):
    """A pending request from `requester` to `target` (the target NeedConfirm)."""

    requester = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    add_type = models.CharField(max_length=16, choices=AddType.choices, default=AddType.BOTH)
    # What the requester asked for on their own side once accepted.
    remark = models.CharField(max_length=96, blank=True, default="")
    group_name = models.CharField(max_length=30, blank=True, default="")
    add_source = models.CharField(max_length=64, blank=True, default="")
    add_wording = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField()
    # The target has seen it (setFriendApplicationRead).
    is_read = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requester", "target"], name="friend_request_unique"),
        ]
        indexes = [models.Index(fields=["target", "-created_at"], name="friend_request_in_idx")]

    def __str__(self) -> str:
        return f"{self.requester_id} asks {self.target_id}"


class Block(models.Model):
    """`owner` has `blocked` in their blocklist: no messages or requests from them."""

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="blocks")
    blocked = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "blocked"], name="block_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} blocks {self.blocked_id}"


class SendPolicy(models.Model):
    """Who may message whom, for the whole deployment (one row, edited in admin)."""

    class Rule(models.TextChoices):
        ANYONE = "anyone", "anyone may message anyone (strangers too)"
        FRIENDS = "friends", "only friends: either side has the other in their list"
        FRIENDS_BOTH = "friends_both", "only two-way friends: each has the other"

    rule = models.CharField(max_length=16, choices=Rule.choices, default=Rule.ANYONE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "send policy"
        verbose_name_plural = "send policy"

    def __str__(self) -> str:
        return self.get_rule_display()

    def save(self, *args, **kwargs):
        self.pk = 1  # one row
        super().save(*args, **kwargs)

    @classmethod
    def current_rule(cls) -> str:
        """The rule now. Not cached: the send path reads it in the same statement as the
        blocklist (relationships.selectors.send_refusals), so a change applies to the
        very next send on every process, and no cache can hold an old rule."""
        return cls.objects.filter(pk=1).values_list("rule", flat=True).first() \
            or cls.Rule.ANYONE


class SnsSequence(models.Model):
    """Version numbers of one owner's relationship data, as Tencent's REST API hands them
    out (tencent-rest.md §7, §8): `standard` changes with the friend list's standard data
    (friends, remarks, friend lists: friend_get's StandardSequence), `custom` with the
    Tag_SNS_Custom_ fields (CustomSequence), `groups` with the friend lists
    (CurrentSequence of group_add/group_delete/group_get), `blocklist` with the
    blocklist (black_list_get's CurruentSequence). They only grow; 0 is "never changed
    since sequences were kept". Bumped by the services' publish step, in the same
    transaction as the change (relationships.friends._bump_sequences)."""

    owner = models.OneToOneField(USER, on_delete=models.CASCADE, primary_key=True,
                                 related_name="+")
    standard = models.BigIntegerField(default=0)
    custom = models.BigIntegerField(default=0)
    groups = models.BigIntegerField(default=0)
    blocklist = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.standard}/{self.custom}/{self.groups}/{self.blocklist}"
