"""/v4 account commands (tencent-rest.md §5): check, delete, kick, online status.

account_import and multiaccount_import are in relationships/v4.py: importing an account
that exists updates its profile, which its friends learn, and accounts cannot know
friends. The transport (admin UserSig, envelope, rate limits) is chat_project/v4.py.
"""

from __future__ import annotations

from accounts import devices, presence, selectors
from chat_project.errors import ChatError
from chat_project.v4 import V4Error, command, fields

BAD_PARAMS = 70402
NOT_FOUND = 70107


def _user_items(body: dict, name: str) -> list[str]:
    items = fields.array(body, name, code=BAD_PARAMS, of=dict, max_items=100, max_code=70206)
    user_ids = []
    for item in items:
        user_id = item.get("UserID")
        if not isinstance(user_id, str) or not user_id:
            raise V4Error(BAD_PARAMS, f"every {name} item needs a UserID string")
        user_ids.append(user_id)
    return user_ids


@command("im_open_login_svc", "account_check", limit=100)
def account_check(req, body):
    user_ids = _user_items(body, "CheckItem")
    found = selectors.users_by_user_ids(user_ids)
    return {"ResultItem": [
        {"UserID": user_id, "ResultCode": 0, "ResultInfo": "",
         "AccountStatus": "Imported" if user_id in found else "NotImported"}
        for user_id in user_ids]}


@command("im_open_login_svc", "account_delete", limit=100)
def account_delete(req, body):
    """Delete accounts (at most 100): their profiles, devices, sync logs, relationship
    data and dialogs (see devices.user_delete). An unknown UserID gets 70107; one the
    service refuses (an app admin's) gets its code (70402) and message, and the others
    in the call are deleted."""
    user_ids = _user_items(body, "DeleteItem")
    found = selectors.users_by_user_ids(user_ids)
    results = []
    for user_id in dict.fromkeys(user_ids):
        user = found.get(user_id)
        if user is None:
            results.append({"ResultCode": NOT_FOUND,
                            "ResultInfo": "Err_TLS_PT_Open_Login_Account_Not_Exist",
                            "UserID": user_id})
            continue
        try:
            devices.user_delete(user=user)
        except ChatError as exc:
            results.append({"ResultCode": exc.code, "ResultInfo": exc.message,
                            "UserID": user_id})
            continue
        results.append({"ResultCode": 0, "ResultInfo": "", "UserID": user_id})
    return {"ResultItem": results}


@command("im_open_login_svc", "kick")
def kick(req, body):
    """Sign the account out everywhere (KICKED_OUT REST_API_Kick); a new UserSig logs
    in again."""
    user_id = fields.string(body, "UserID", code=BAD_PARAMS)
    user = selectors.user_by_user_id(user_id)
    if user is None:
        raise V4Error(NOT_FOUND, f"UserID {user_id!r} does not exist")
    devices.user_kick(user=user, reason=devices.KICK_REST_API)
    return {}


QUERY_MAX = 500


def _online_status(body: dict) -> dict:
    user_ids = fields.array(body, "To_Account", code=90003, of=str, max_items=QUERY_MAX,
                            max_code=90011)
    if not user_ids:
        raise V4Error(90003, "To_Account is empty")
    need_detail = fields.integer(body, "IsNeedDetail", code=90001, required=False, default=0,
                                 minimum=0, maximum=1, lenient=True)
    results, unknown = presence.online_status(user_ids, need_detail=bool(need_detail))
    answer = {"QueryResult": results}
    if unknown:
        answer["ErrorList"] = [{"To_Account": u, "ErrorCode": NOT_FOUND} for u in unknown]
    if not results:
        raise V4Error(NOT_FOUND, "no such UserID", **answer)
    return answer


@command("openim", "query_online_status")
def query_online_status(req, body):
    """Online, PushOnline or Offline per user (both `Status` and `State`, as Tencent's
    docs disagree on the key), with `Detail` per platform when IsNeedDetail is 1."""
    return _online_status(body)


@command("openim", "querystate")
def querystate(req, body):
    """The legacy name of query_online_status; the same answer."""
    return _online_status(body)
