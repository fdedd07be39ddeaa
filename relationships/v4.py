"""/v4 commands of friends, the blocklist and profiles (tencent-rest.md §6, §7, §8), and
account_import and multiaccount_import (§5: importing an account that exists updates
its profile); the transport (admin UserSig, envelope with ErrorDisplay, rate limits) is
chat_project/v4.py.

Each command reads Tencent's fields, calls the same services as every other door
(relationships.services, .friends, .selectors), and answers with Tencent's fields. The
app admin acts for `From_Account`; changes reach that user's devices and friends as
any other change does, and the after-callbacks fire with OptPlatform "RESTAPI" and,
for Sns.CallbackFriendAdd, the calling admin as Admin_Account.

Batches answer `ResultItem: [{To_Account, ResultCode, ResultInfo}]`, with `Fail_Account`
(the UserIDs whose ResultCode is not 0) only when something failed, while ErrorCode
stays 0. A request that cannot be read at all fails as a whole: sns 30001 (From_Account
missing, a field of the wrong type, an unknown enum value, too many items), 30003 for an
unknown From_Account; profile 40002 (the account field missing), 40001 (bad request),
40003 (unknown From_Account), 40009 (unknown tag), 40610 (a value of the wrong type),
40601/40605 (a value too long / not allowed).

Choices where Tencent's docs leave room:
- friend_add: AddSource is required (the en and zh docs both say so): an item without
  one fails with 30001, the others go on. 30539 (request now pending) is a non-zero
  ResultCode, so that UserID is in Fail_Account. ForceAddFlags=1 skips the target's
  allow type (blocks still refuse). Each item is its own transaction; one
  Sns.CallbackFriendAdd carries the pairs of the whole call (a two-way add: two
  pairs). At most 100 items per call, as friend_import and friend_update.
- friend_import: one way, no callback; custom values must be strings (the
  relationship-field rules: custom fields are strings or bytes).
- friend_delete: DeleteType defaults to Delete_Type_Both, friend_delete_all to
  Delete_Type_Single.
- friend_get: pages of 100. StandardSequence/CustomSequence equal to ours (and not 0)
  leave the standard/custom tags out of ValueItem. NextStartIndex is 0 on the last page.
- group_get / black_list_get: LastSequence is read but the lists always come whole
  (a superset is always right); group_get skips names that are not lists.
- black_list_get answers CurruentSequence (Tencent's spelling) and CurrentSequence.
"""

from __future__ import annotations

from contextlib import contextmanager

from accounts.selectors import profile_full, user_by_user_id, users_by_user_ids
from accounts.services import PROFILE_CUSTOM_PREFIX, check_profile_custom_key
from chat_project.errors import ChatError
from chat_project.v4 import V4Error, command, fields

from . import friends, selectors, services
from .models import AddType

PLATFORM = "RESTAPI"

SNS_BAD = 30001
SNS_NO_ACCOUNT = 30003
PROFILE_BAD = 40001
PROFILE_NO_ACCOUNT_FIELD = 40002
PROFILE_NO_ACCOUNT = 40003
PROFILE_NO_TAG = 40009
PROFILE_BAD_TYPE = 40610
# Tencent's ResultInfo for the documented per-item refusals.
NOT_A_FRIEND = "Err_SNS_FriendGetList_Friend_Not_Exist"

MAX_ITEMS = 100        # friend_add / friend_import / friend_update items per call
MAX_IDS = 1000         # To_Account of friend_delete, friend_check, blocklist commands
MAX_PROFILE_IDS = 100  # To_Account of friend_get_list, portrait_get
FRIEND_GET_PAGE = 100


# --- reading ---------------------------------------------------------------------------

@contextmanager
def _codes(bad: int):
    """A service's refusal as the command's error; 910003 (wrong type) is this
    service's "bad parameters"."""
    try:
        yield
    except ChatError as exc:
        raise V4Error(bad if exc.code == 910003 else exc.code, exc.message) from None


def _code(exc: ChatError, bad: int = SNS_BAD) -> int:
    return bad if exc.code == 910003 else exc.code


def _account(body: dict, name: str = "From_Account", *, missing: int = SNS_BAD,
             unknown: int = SNS_NO_ACCOUNT):
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise V4Error(missing, f"{name} is missing or not a UserID string")
    user = user_by_user_id(value) if "\x00" not in value else None
    if user is None:
        raise V4Error(unknown, f"account {value!r} does not exist")
    return user


def _ids(body: dict, name: str = "To_Account", *, limit: int = MAX_IDS, bad: int = SNS_BAD,
         missing: int | None = None) -> list[str]:
    value = fields.array(body, name, code=missing or bad, of=str, max_items=limit,
                         max_code=bad)
    if not value:
        raise V4Error(missing or bad, f"{name} is empty")
    if any("\x00" in item for item in value):
        raise V4Error(bad, f"{name} holds a UserID with a NUL character")
    return list(dict.fromkeys(value))


def _items(body: dict, name: str) -> list[dict]:
    value = fields.array(body, name, code=SNS_BAD, of=dict, max_items=MAX_ITEMS)
    if not value:
        raise V4Error(SNS_BAD, f"{name} is empty")
    return value


def _choice(body: dict, name: str, allowed, *, default: str | None = None,
            bad: int = SNS_BAD) -> str:
    value = body.get(name)
    if value is None and default is not None:
        return default
    if value not in tuple(allowed):
        raise V4Error(bad, f"{name} must be one of {', '.join(allowed)}")
    return value


def _tag_list(body: dict, *, allowed, bad: int, unknown: int) -> list[str]:
    tags = fields.array(body, "TagList", code=bad, of=str)
    if not tags:
        raise V4Error(bad, "TagList is empty")
    for tag in tags:
        if not allowed(tag):
            raise V4Error(unknown, f"{tag!r} is not a tag this command reads")
    return list(dict.fromkeys(tags))


def _results(rows: list[tuple[str, int, str]], **extra) -> dict:
    """ResultItem for (UserID, code, info) rows, Fail_Account when one failed."""
    answer = {"ResultItem": [{"To_Account": uid, "ResultCode": code, "ResultInfo": info}
                             for uid, code, info in rows]}
    failed = [uid for uid, code, _ in rows if code]
    if failed:
        answer["Fail_Account"] = failed
    answer.update(extra)
    return answer


def _item_to(item: dict) -> str | None:
    to = item.get("To_Account")
    return to if isinstance(to, str) and to else None


# --- friends (§7) ------------------------------------------------------------------------

@command("sns", "friend_add")
def friend_add(req, body):
    user = _account(body)
    items = _items(body, "AddFriendItem")
    add_type = _choice(body, "AddType", AddType.values, default=AddType.BOTH)
    force = fields.integer(body, "ForceAddFlags", code=SNS_BAD, required=False, default=0,
                           minimum=0, maximum=1, lenient=True)
    rows, seen, pairs = [], set(), []
    for item in items:
        to = _item_to(item)
        if to is None:
            rows.append(("", SNS_BAD, "To_Account is missing"))
            continue
        if to in seen:
            continue
        seen.add(to)
        if item.get("AddSource") is None:
            rows.append((to, SNS_BAD, "AddSource is required (AddSource_Type_<keyword>)"))
            continue
        try:
            done = services.friend_add(
                user=user, to=to, source=item.get("AddSource"), add_type=add_type,
                remark=item.get("Remark"), group_name=item.get("GroupName"),
                wording=item.get("AddWording"), force=bool(force),
                admin_account=req.identifier, platform=PLATFORM, collect=pairs)
            rows.append((to, done["code"], done["message"]))
        except ChatError as exc:
            rows.append((to, _code(exc), exc.message))
    # Each add committed on its own; one Sns.CallbackFriendAdd carries all their pairs.
    services.after_friend_add(pairs, initiator=user, client_cmd="friend_add",
                              admin_account=req.identifier, force=bool(force),
                              platform=PLATFORM)
    return _results(rows)


@command("sns", "friend_import")
def friend_import(req, body):
    user = _account(body)
    items, seen = [], set()
    for item in _items(body, "AddFriendItem"):
        to = item.get("To_Account")
        if isinstance(to, str):
            if to in seen:
                continue  # a repeated To_Account is answered once, as in friend_add
            seen.add(to)
        items.append({"to": to, "source": item.get("AddSource"), "remark": item.get("Remark"),
                      "remark_time": item.get("RemarkTime"),
                      "group_names": item.get("GroupName"), "wording": item.get("AddWording"),
                      "add_time": item.get("AddTime"),
                      "custom": _custom_items(item.get("CustomItem"))})
    with _codes(SNS_BAD):
        done = services.friend_import(user=user, items=items)
    return _results([(r["userID"], SNS_BAD if r["code"] == 910003 else r["code"], r["message"])
                     for r in done])


def _custom_items(value):
    """CustomItem [{Tag, Value}] as {tag: value}; anything else is handed on as it is,
    for the service to refuse (30001) for that item alone."""
    if isinstance(value, list) and all(isinstance(i, dict) and isinstance(i.get("Tag"), str)
                                       and "Value" in i for i in value):
        return {i["Tag"]: i["Value"] for i in value}
    return value


@command("sns", "friend_update")
def friend_update(req, body):
    user = _account(body)
    rows, seen = [], set()
    for item in _items(body, "UpdateItem"):
        to = _item_to(item)
        if to is None:
            rows.append(("", SNS_BAD, "To_Account is missing"))
            continue
        if to in seen:
            continue
        seen.add(to)
        try:
            services.friend_update(user=user, user_id=to, **_sns_changes(item.get("SnsItem")))
            rows.append((to, 0, ""))
        except ChatError as exc:
            rows.append((to, _code(exc), exc.message))
    return _results(rows)


def _sns_changes(items) -> dict:
    """SnsItem [{Tag, Value}] as friend_update's arguments: the remark, the friend lists
    (Tag_SNS_IM_Group) and custom fields; other tags cannot be updated (30001)."""
    if not isinstance(items, list) or not items or not all(
            isinstance(i, dict) and isinstance(i.get("Tag"), str) and "Value" in i
            for i in items):
        raise ChatError(SNS_BAD, "SnsItem must be a non-empty list of {Tag, Value}")
    changes: dict = {}
    for item in items:
        tag, value = item["Tag"], item["Value"]
        if tag == "Tag_SNS_IM_Remark":
            changes["remark"] = value
        elif tag == "Tag_SNS_IM_Group":
            changes["groups"] = value
        elif tag.startswith(selectors.SNS_CUSTOM_PREFIX):
            changes.setdefault("custom_fields", []).append({"key": tag, "value": value})
        else:
            raise ChatError(SNS_BAD, f"{tag} cannot be updated: only Tag_SNS_IM_Remark, "
                                     "Tag_SNS_IM_Group and Tag_SNS_Custom_ tags")
    return changes


@command("sns", "friend_delete")
def friend_delete(req, body):
    user = _account(body)
    ids = _ids(body)
    delete_type = _choice(body, "DeleteType", friends.DeleteType.values,
                          default=friends.DeleteType.BOTH)
    with _codes(SNS_BAD):
        answer = services.friend_delete(user=user, user_ids=ids, delete_type=delete_type,
                                        platform=PLATFORM)
    failed = {f["userID"]: f for f in answer["failureUserIDList"]}
    return _results([(uid, failed[uid]["code"], failed[uid]["message"]) if uid in failed
                     else (uid, 0, "") for uid in ids])


@command("sns", "friend_delete_all")
def friend_delete_all(req, body):
    user = _account(body)
    delete_type = _choice(body, "DeleteType", friends.DeleteType.values,
                          default=friends.DeleteType.SINGLE)
    with _codes(SNS_BAD):
        services.friend_delete_all(user=user, delete_type=delete_type, platform=PLATFORM)
    return {}


@command("sns", "friend_check")
def friend_check(req, body):
    user = _account(body)
    ids = _ids(body)
    check_type = _choice(body, "CheckType", friends.CheckType.values)
    with _codes(SNS_BAD):
        answer = friends.friend_check(user=user, user_ids=ids, check_type=check_type)
    relations = {s["userID"]: s["relation"] for s in answer["successUserIDList"]}
    failed = {f["userID"]: f for f in answer["failureUserIDList"]}
    items = []
    for uid in ids:
        if uid in failed:
            items.append({"To_Account": uid, "Relation": friends.Relation.NONE,
                          "ResultCode": failed[uid]["code"],
                          "ResultInfo": failed[uid]["message"]})
        else:
            items.append({"To_Account": uid, "Relation": relations[uid], "ResultCode": 0,
                          "ResultInfo": ""})
    answer = {"InfoItem": items}
    if failed:
        answer["Fail_Account"] = [uid for uid in ids if uid in failed]
    return answer


@command("sns", "friend_get")
def friend_get(req, body):
    user = _account(body)
    start = fields.integer(body, "StartIndex", code=SNS_BAD, minimum=0, lenient=True)
    asked = {name: fields.integer(body, name, code=SNS_BAD, required=False, default=0,
                                  minimum=0, lenient=True)
             for name in ("StandardSequence", "CustomSequence")}
    # Read first: a change after this read comes with a newer sequence next time.
    seq = services.sequences(user.pk)
    standard = not (asked["StandardSequence"] and asked["StandardSequence"] == seq["standard"])
    custom = not (asked["CustomSequence"] and asked["CustomSequence"] == seq["custom"])
    with _codes(SNS_BAD):
        page = friends.friend_list(user=user, start_index=start, count=FRIEND_GET_PAGE)
    return {
        "UserDataItem": [{"To_Account": f["userID"], "ValueItem": selectors.friend_tag_items(
            f, standard=standard, custom=custom)} for f in page["friendList"]],
        "StandardSequence": seq["standard"], "CustomSequence": seq["custom"],
        "FriendNum": page["friendNum"], "CompleteFlag": int(page["isCompleted"]),
        "NextStartIndex": 0 if page["isCompleted"] else page["nextStartIndex"],
    }


@command("sns", "friend_get_list")
def friend_get_list(req, body):
    user = _account(body)
    ids = _ids(body, limit=MAX_PROFILE_IDS)
    tags = _tag_list(body, allowed=lambda t: selectors.is_sns_tag(t)
                     or selectors.is_profile_tag(t), bad=SNS_BAD, unknown=SNS_BAD)
    with _codes(SNS_BAD):
        answer = friends.friend_profiles(user=user, user_ids=ids)
    found = {f["userID"]: f for f in answer["friendList"]}
    failed = {f["userID"]: f for f in answer["failureUserIDList"]}
    items = []
    for uid in ids:
        if uid in found:
            items.append({"To_Account": uid,
                          "SnsProfileItem": selectors.friend_tag_items(found[uid], tags),
                          "ResultCode": 0, "ResultInfo": ""})
        else:
            code = failed[uid]["code"]
            info = NOT_A_FRIEND if code == SNS_BAD and uid != user.user_id \
                else failed[uid]["message"]
            items.append({"To_Account": uid, "ResultCode": code, "ResultInfo": info})
    out = {"InfoItem": items}
    if failed:
        out["Fail_Account"] = [uid for uid in ids if uid in failed]
    return out


# --- friend lists (§7) ---------------------------------------------------------------------

def _group_names(body: dict) -> list[str]:
    names = fields.array(body, "GroupName", code=SNS_BAD, of=str)
    if not names:
        raise V4Error(SNS_BAD, "GroupName is empty")
    return names


@command("sns", "group_add")
def group_add(req, body):
    user = _account(body)
    names = _group_names(body)
    ids = _ids(body) if body.get("To_Account") not in (None, []) else []
    with _codes(SNS_BAD):
        answer = services.friend_groups_add(user=user, names=names, user_ids=ids)
    current = services.sequences(user.pk)["groups"]
    if not ids:
        return {"CurrentSequence": current}
    failed = {f["userID"]: f for f in answer["failureUserIDList"]}
    return _results([(uid, failed[uid]["code"], failed[uid]["message"]) if uid in failed
                     else (uid, 0, "") for uid in ids], CurrentSequence=current)


@command("sns", "group_delete")
def group_delete(req, body):
    user = _account(body)
    names = _group_names(body)
    with _codes(SNS_BAD):
        services.friend_groups_delete(user=user, names=names)
    return {"CurrentSequence": services.sequences(user.pk)["groups"]}


@command("sns", "group_get")
def group_get(req, body):
    user = _account(body)
    need = body.get("NeedFriend")
    if need not in (None, "", "Need_Friend_Type_Yes"):
        raise V4Error(SNS_BAD, "NeedFriend must be Need_Friend_Type_Yes or absent")
    fields.integer(body, "LastSequence", code=SNS_BAD, required=False, minimum=0,
                   lenient=True)
    names = fields.array(body, "GroupName", code=SNS_BAD, of=str, required=False) or []
    current = services.sequences(user.pk)["groups"]
    groups = friends.friend_group_list(user=user)
    if names:
        wanted = set(names)
        groups = [g for g in groups if g["name"] in wanted]
    items = []
    for group in groups:
        item = {"GroupName": group["name"], "FriendNumber": group["count"]}
        if need or names:
            item["To_Account"] = group["userIDList"]
        items.append(item)
    return {"ResultItem": items, "CurrentSequence": current}


# --- blocklist (§8) ---------------------------------------------------------------------------

def _block_results(results, *, already: str | None = None, owner=None) -> dict:
    return _results([(r.user_id, r.code, already if already and r.code == SNS_BAD
                      and r.user_id != owner.user_id else r.message) for r in results])


@command("sns", "black_list_add")
def black_list_add(req, body):
    user = _account(body)
    ids = _ids(body)
    with _codes(SNS_BAD):
        return _block_results(services.block_add(owner=user, user_ids=ids, platform=PLATFORM),
                              already="Err_SNS_BlackListAdd_Already_Exist", owner=user)


@command("sns", "black_list_delete")
def black_list_delete(req, body):
    user = _account(body)
    ids = _ids(body)
    with _codes(SNS_BAD):
        return _block_results(services.block_remove(owner=user, user_ids=ids,
                                                    platform=PLATFORM))


@command("sns", "black_list_get")
def black_list_get(req, body):
    user = _account(body)
    start = fields.integer(body, "StartIndex", code=SNS_BAD, minimum=0, lenient=True)
    size = fields.integer(body, "MaxLimited", code=SNS_BAD, minimum=1,
                          maximum=selectors.BLOCKLIST_PAGE_MAX, lenient=True)
    fields.integer(body, "LastSequence", code=SNS_BAD, minimum=0, lenient=True)
    current = services.sequences(user.pk)["blocklist"]
    with _codes(SNS_BAD):
        page = selectors.block_list(owner=user, start_index=start, max_limited=size)
    return {"BlackListItem": [{"To_Account": b["userID"], "AddBlackTimeStamp": b["addTime"]}
                              for b in page["blackList"]],
            "StartIndex": page["nextStartIndex"],
            "CurruentSequence": current, "CurrentSequence": current}


@command("sns", "black_list_check")
def black_list_check(req, body):
    user = _account(body)
    ids = _ids(body)
    check_type = _choice(body, "CheckType", selectors.BlackCheck.TYPES)
    with _codes(SNS_BAD):
        rows = selectors.block_check(owner=user, user_ids=ids, check_type=check_type)
    answer = {"BlackListCheckItem": [
        {"To_Account": r["userID"], "Relation": r["relation"], "ResultCode": r["code"],
         "ResultInfo": r["message"]} for r in rows]}
    failed = [r["userID"] for r in rows if r["code"]]
    if failed:
        answer["Fail_Account"] = failed
    return answer


# --- profiles (§6) -------------------------------------------------------------------------------

def _profile_changes(items) -> dict:
    """ProfileItem [{Tag, Value}] as profile_update's keyword arguments (a later item of
    the same tag wins). 40009 unknown tag, 40610 a value of the wrong type."""
    if not isinstance(items, list) or not items:
        raise V4Error(PROFILE_BAD, "ProfileItem must be a non-empty list of {Tag, Value}")
    changes: dict = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Tag"), str) \
                or "Value" not in item:
            raise V4Error(PROFILE_BAD, "each ProfileItem is {Tag, Value}")
        tag, value = item["Tag"], item["Value"]
        if tag in selectors.PROFILE_TAGS:
            if tag in selectors.PROFILE_UINT_TAGS:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise V4Error(PROFILE_BAD_TYPE, f"{tag} takes an integer")
            elif not isinstance(value, str):
                raise V4Error(PROFILE_BAD_TYPE, f"{tag} takes a string")
            changes[selectors.PROFILE_TAGS[tag][1]] = value
        elif tag.startswith(PROFILE_CUSTOM_PREFIX):
            with _codes(PROFILE_BAD):
                check_profile_custom_key(tag)
            if not isinstance(value, str):
                raise V4Error(PROFILE_BAD_TYPE, f"{tag} takes a string")
            changes.setdefault("profile_custom", {})[tag] = value
        else:
            raise V4Error(PROFILE_NO_TAG, f"{tag!r} is not a profile tag")
    return changes


@command("profile", "portrait_set")
def portrait_set(req, body):
    user = _account(body, missing=PROFILE_NO_ACCOUNT_FIELD, unknown=PROFILE_NO_ACCOUNT)
    changes = _profile_changes(body.get("ProfileItem"))
    with _codes(PROFILE_BAD):
        services.profile_update(user=user, operator=req.identifier, platform=PLATFORM,
                                **changes)
    return {}


@command("profile", "portrait_get")
def portrait_get(req, body):
    if body.get("To_Account") is None:
        raise V4Error(PROFILE_NO_ACCOUNT_FIELD, "To_Account is missing")
    ids = _ids(body, limit=MAX_PROFILE_IDS, bad=PROFILE_BAD)
    tags = _tag_list(body, allowed=selectors.is_profile_tag, bad=PROFILE_BAD,
                     unknown=PROFILE_NO_TAG)
    users = users_by_user_ids(ids)
    items, failed = [], []
    for uid in ids:
        user = users.get(uid)
        if user is None:
            items.append({"To_Account": uid, "ResultCode": PROFILE_NO_ACCOUNT,
                          "ResultInfo": f"account {uid!r} does not exist"})
            failed.append(uid)
        else:
            items.append({"To_Account": uid,
                          "ProfileItem": selectors.profile_tag_items(profile_full(user), tags),
                          "ResultCode": 0, "ResultInfo": ""})
    answer = {"UserProfileItem": items}
    if failed:
        answer["Fail_Account"] = failed
    return answer


# --- account import (§5) -------------------------------------------------------------------------
# Here, not in accounts/v4.py: importing an account that exists updates its nick and
# avatar (services.account_import), which its friends learn.

IMPORT_BAD = 70402
MAX_IMPORTS = 100


def _import(req, *, user_id: str, nick: str = "", avatar: str = "") -> None:
    services.account_import(user_id=user_id, nick=nick, avatar=avatar,
                            operator=req.identifier, platform=PLATFORM)


@command("im_open_login_svc", "account_import")
def account_import(req, body):
    user_id = fields.string(body, "UserID", code=IMPORT_BAD)
    nick = fields.string(body, "Nick", code=IMPORT_BAD, required=False, default="")
    avatar = fields.string(body, "FaceUrl", code=IMPORT_BAD, required=False, default="")
    try:
        _import(req, user_id=user_id, nick=nick, avatar=avatar)
    except ChatError as exc:
        raise V4Error(IMPORT_BAD if exc.code == 7003 else exc.code, exc.message) from None
    return {}


@command("im_open_login_svc", "multiaccount_import", limit=100)
def multiaccount_import(req, body):
    """`Accounts` (UserIDs), or Tencent's newer `AccountList` ([{UserID, Nick?,
    FaceUrl?}]: an account that exists gets them, as from account_import). The whole
    request is checked before anything is imported; an account refused is in
    FailAccounts, the others are imported."""
    if "AccountList" in body and "Accounts" in body:
        raise V4Error(IMPORT_BAD, "give Accounts or AccountList, not both")
    if "AccountList" in body:
        items = fields.array(body, "AccountList", code=IMPORT_BAD, of=dict,
                             max_items=MAX_IMPORTS, max_code=70206)
        accounts = [{"user_id": fields.string(item, "UserID", code=IMPORT_BAD),
                     "nick": fields.string(item, "Nick", code=IMPORT_BAD, required=False,
                                           default=""),
                     "avatar": fields.string(item, "FaceUrl", code=IMPORT_BAD,
                                             required=False, default="")}
                    for item in items]
    else:
        accounts = [{"user_id": user_id} for user_id in fields.array(
            body, "Accounts", code=IMPORT_BAD, of=str, max_items=MAX_IMPORTS, max_code=70206)]
    failed = []
    for account in accounts:
        try:
            _import(req, **account)
        except ChatError:
            failed.append(account["user_id"])
    return {"FailAccounts": failed}
