"""/v4 commands (tencent-rest.md): see chat_project/v4.py for the transport.

Global mute (§9): `openconfigsvr/setnospeaking` and `getnospeaking`, over the service
in accounts/mute.py. Times are seconds: 0 none (or unmute), 4294967295 for ever.
"""

from accounts import mute, selectors
from chat_project.v4 import V4Error, command, fields

BAD_JSON = 130001            # also a time that is not an integer in 0..4294967295
GET_ACCOUNT_MISSING = 130002
GET_ACCOUNT_INVALID = 130003  # not a UserID, or no such account
SET_ACCOUNT_MISSING = 130004
SET_ACCOUNT_INVALID = 130005  # not a UserID, or no such account
NO_TIME_GIVEN = 130008

_TIMES = ("C2CmsgNospeakingTime", "GroupmsgNospeakingTime")


def _account(body: dict, name: str, *, missing: int, invalid: int):
    value = body.get(name)
    if value is None:
        raise V4Error(missing, f"{name} is missing")
    if not isinstance(value, str) or not value:
        raise V4Error(invalid, f"{name} must be a UserID string")
    user = selectors.user_by_user_id(value)
    if user is None:
        raise V4Error(invalid, f"account {value!r} does not exist")
    return user


@command("openconfigsvr", "setnospeaking")
def setnospeaking(req, body):
    user = _account(body, "Set_Account", missing=SET_ACCOUNT_MISSING,
                    invalid=SET_ACCOUNT_INVALID)
    c2c, group = (fields.integer(body, name, code=BAD_JSON, required=False, minimum=0,
                                 maximum=mute.FOREVER, lenient=True) for name in _TIMES)
    if c2c is None and group is None:
        raise V4Error(NO_TIME_GIVEN, "give C2CmsgNospeakingTime, GroupmsgNospeakingTime "
                                     "or both")
    mute.mute_set(user, c2c_seconds=c2c, group_seconds=group)
    return {}


@command("openconfigsvr", "getnospeaking")
def getnospeaking(req, body):
    user = _account(body, "Get_Account", missing=GET_ACCOUNT_MISSING,
                    invalid=GET_ACCOUNT_INVALID)
    c2c, group = mute.mute_remaining(user)
    return {"C2CmsgNospeakingTime": c2c, "GroupmsgNospeakingTime": group}
