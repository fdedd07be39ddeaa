"""/v4 account commands (tencent-rest.md §5): import, check, delete, kick, online status.

The transport (admin UserSig, envelope, rate limits) is chat_project/v4.py.
"""

from __future__ import annotations

from accounts import selectors, services
from chat_project.errors import ChatError
from chat_project.v4 import V4Error, command, fields

BAD_PARAMS = 70402
NOT_FOUND = 70107


@command("im_open_login_svc", "account_import")
def account_import(req, body):
    user_id = fields.string(body, "UserID", code=BAD_PARAMS)
    nick = fields.string(body, "Nick", code=BAD_PARAMS, required=False, default="")
    avatar = fields.string(body, "FaceUrl", code=BAD_PARAMS, required=False, default="")
    try:
        services.user_import(user_id=user_id, nick=nick, avatar=avatar)
    except ChatError as exc:
        raise V4Error(BAD_PARAMS if exc.code == 7003 else exc.code, exc.message) from None
    return {}


@command("im_open_login_svc", "multiaccount_import", limit=100)
def multiaccount_import(req, body):
    accounts = fields.array(body, "Accounts", code=BAD_PARAMS, of=str, max_items=100,
                            max_code=70206)
    failed = []
    for user_id in accounts:
        try:
            services.user_import(user_id=user_id)
        except ChatError:
            failed.append(user_id)
    return {"FailAccounts": failed}


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
