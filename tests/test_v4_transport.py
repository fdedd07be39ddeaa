"""The /v4 door's transport (tencent-rest.md §1): admin UserSig, envelope, body parsing,
unknown commands and rate limits, through a real HTTP server."""

from __future__ import annotations

import json
import urllib.request

import pytest

from accounts.models import User
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client

pytestmark = pytest.mark.django_db(transaction=True)


def test_account_import_and_check_round_trip(v4):
    answer = v4("im_open_login_svc/account_import", {"UserID": "imp1", "Nick": "Imp"})
    assert answer == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert User.objects.get(user_id="imp1").nick == "Imp"
    # Idempotent.
    assert v4("im_open_login_svc/account_import", {"UserID": "imp1"})["ErrorCode"] == 0
    answer = v4("im_open_login_svc/account_check",
                {"CheckItem": [{"UserID": "imp1"}, {"UserID": "nobody"}]})
    assert answer["ErrorCode"] == 0
    assert [(i["UserID"], i["AccountStatus"]) for i in answer["ResultItem"]] == [
        ("imp1", "Imported"), ("nobody", "NotImported")]
    answer = v4("im_open_login_svc/multiaccount_import",
                {"Accounts": ["imp2", "imp3", "x" * 33]})
    assert answer["FailAccounts"] == ["x" * 33]
    assert User.objects.filter(user_id__in=["imp2", "imp3"]).count() == 2


def test_body_is_json_whatever_the_content_type(v4):
    # The client sends no Content-Type header at all (as Tencent's Python SDKs do).
    status, raw = v4.raw("im_open_login_svc/account_import", b'{"UserID": "nohdr"}')
    assert status == 200 and json.loads(raw)["ErrorCode"] == 0


@pytest.mark.parametrize("body, code", [
    (b"{not json", 70402),      # this service's own code for a malformed body
    (b"[1, 2]", 70402),         # JSON, but not an object
    (b"", 70402),               # an empty body (Tencent wants {})
])
def test_malformed_body(v4, body, code):
    status, raw = v4.raw("im_open_login_svc/account_check", body)
    answer = json.loads(raw)
    assert status == 200
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] == code
    assert answer["ErrorInfo"]


def test_each_transport_failure_has_its_own_code(v4, live_server_url):
    path = "im_open_login_svc/account_check"
    body = json.dumps({"CheckItem": [{"UserID": "a"}]}).encode()

    def code(client=v4, **query):
        status, raw = client.raw(path, body, **query)
        assert status == 200
        answer = json.loads(raw)
        assert answer["ActionStatus"] == "FAIL" and answer["ErrorInfo"], answer
        return answer["ErrorCode"]

    assert code(usersig="garbage") == 60004                   # bad signature
    other_key = V4Client(live_server_url, key="not-the-server-key")
    assert code(other_key) == 60004                           # signed with another key
    expired = v4.signer.gen_sig("administrator", -10)
    assert code(usersig=expired) == 60004                     # expired
    assert code(V4Client(live_server_url, identifier="alice")) == 60010  # not an admin
    assert code(identifier="") == 60015                       # no identifier
    assert code(sdkappid="") == 60012                         # no SDKAppID
    assert code(V4Client(live_server_url, sdkappid=1400999999)) == 60006  # other app
    status, raw = v4.raw("openim/no_such_command", b"{}")
    assert json.loads(raw)["ErrorCode"] == 60009              # unknown command
    status, raw = v4.raw("nosuchservice/sendmsg", b"{}")
    assert json.loads(raw)["ErrorCode"] == 60009              # unknown service
    status, raw = v4.raw(path, body, method="GET")
    assert json.loads(raw)["ErrorCode"] == 60002              # not a POST


def test_rate_limit_per_command(transactional_db):
    proc, url = start_server(CHAT_V4_RATE_LIMIT="5")
    try:
        client = V4Client(url)
        codes = [client("im_open_login_svc/account_import", {"UserID": "rl"})["ErrorCode"]
                 for _ in range(30)]
        # Thirty calls in a few seconds: the first five of each second pass.
        assert codes[:5] == [0] * 5
        assert 60007 in codes
        # Another command has its own budget.
        assert client("im_open_login_svc/account_check",
                      {"CheckItem": [{"UserID": "rl"}]})["ErrorCode"] == 0
    finally:
        stop_server(proc)


def test_junk_values_get_their_codes_never_an_internal_error(v4, make_user):
    """Strings int() or PostgreSQL refuse (a superscript digit, a NUL byte) are bad
    input with the command's own code, not a 500 or an internal-error code."""
    make_user("alice")
    # "²" passes str.isdigit() but not int().
    answer = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": "²"})
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 30001)
    answer = v4("all_member_push/im_set_attr_name", {"AttrNames": {"²": "sex"}})
    assert answer["ErrorCode"] == 90033
    # A NUL byte names nobody, and is no tag, attribute or device.
    answer = v4("all_member_push/im_add_tag",
                {"UserTags": [{"To_Account": "alice", "Tags": ["a\x00b"]}]})
    assert answer["ErrorCode"] == 90040
    answer = v4("all_member_push/im_get_tag", {"To_Account": ["ali\x00ce"]})
    assert answer["ErrorCode"] == 70107
    answer = v4("openim/get_c2c_unread_msg_num", {"To_Account": "ali\x00ce"})
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] not in (91000, 70500)



@pytest.mark.parametrize("path", [
    "im_open_login_svc/account_check/",  # a trailing slash
    "openim",                            # no command
    "openim/sendmsg/extra",              # a segment too many
])
def test_any_other_v4_url_answers_60009_as_json(v4, path):
    # Tencent: a bad resource URL is 60009 in the envelope (HTTP 200), not an HTML page.
    url = v4.url("x").replace("/v4/x?", f"/v4/{path}?")
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        status, answer = response.status, json.loads(response.read())
    assert status == 200
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] == 60009
    assert answer["ErrorInfo"]
