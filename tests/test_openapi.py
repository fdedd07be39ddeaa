"""The OpenAPI schema of /api/v1/: it generates cleanly, lists every endpoint, and what
the endpoints really answer matches it."""

import copy
import io
import json

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats
from PIL import Image
from rest_framework.test import APIClient

ENDPOINTS = {
    ("/api/v1/messages/", "post"),
    ("/api/v1/messages/{message_id}/modify/", "post"),
    ("/api/v1/messages/{message_id}/revoke/", "post"),
    ("/api/v1/messages/{message_id}/extensions/", "get"),
    ("/api/v1/messages/{message_id}/extensions/", "post"),
    ("/api/v1/messages/{message_id}/extensions/delete/", "post"),
    ("/api/v1/messages/delete/", "post"),
    ("/api/v1/messages/read-receipts/", "post"),
    ("/api/v1/conversations/{conversation_id}/clear-history/", "post"),
    ("/api/v1/conversations/{conversation_id}/delete/", "post"),
    ("/api/v1/conversations/{conversation_id}/draft/", "post"),
    ("/api/v1/conversations/{conversation_id}/pin/", "post"),
    ("/api/v1/push/tokens/", "post"),
    ("/api/v1/push/tokens/", "delete"),
    ("/api/v1/conversations/", "get"),
    ("/api/v1/conversations/{conversation_id}/messages/", "get"),
    ("/api/v1/conversations/{conversation_id}/read/", "post"),
    ("/api/v1/conversations/unread-count/", "get"),
    ("/api/v1/me/", "get"),
    ("/api/v1/me/", "patch"),
    ("/api/v1/files/", "post"),
    ("/api/v1/users/", "get"),
    ("/api/v1/users/profiles/", "get"),
    ("/api/v1/blocklist/", "get"),
    ("/api/v1/blocklist/", "post"),
    ("/api/v1/blocklist/check/", "post"),
    ("/api/v1/blocklist/remove/", "post"),
    ("/api/v1/friends/", "get"),
    ("/api/v1/friends/", "post"),
    ("/api/v1/friends/", "patch"),
    ("/api/v1/friends/check/", "post"),
    ("/api/v1/friends/delete/", "post"),
    ("/api/v1/friends/delete-all/", "post"),
    ("/api/v1/friends/profiles/", "post"),
    ("/api/v1/friend-requests/", "get"),
    ("/api/v1/friend-requests/accept/", "post"),
    ("/api/v1/friend-requests/refuse/", "post"),
    ("/api/v1/friend-requests/delete/", "post"),
    ("/api/v1/friend-requests/read/", "post"),
    ("/api/v1/friend-groups/", "get"),
    ("/api/v1/friend-groups/", "post"),
    ("/api/v1/friend-groups/add-members/", "post"),
    ("/api/v1/friend-groups/remove-members/", "post"),
    ("/api/v1/friend-groups/delete/", "post"),
    ("/api/v1/friend-groups/rename/", "post"),
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    """The schema as `manage.py spectacular --validate --fail-on-warn` writes it."""
    out = tmp_path_factory.mktemp("openapi") / "schema.json"
    reset_generator_stats()  # warnings of earlier generations in this process
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 "--file", str(out))
    return json.loads(out.read_text())


def as_json_schema(node):
    """OpenAPI 3.0 schema objects as plain JSON Schema, strict about unknown keys.

    `nullable` becomes a union with null; an object schema that lists its properties
    allows no others, so an undocumented key in a response fails validation.
    """
    if isinstance(node, list):
        return [as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: as_json_schema(v) for k, v in node.items()}
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def check(schema, instance, fragment):
    """Validate `instance` against a schema object of `schema` (often just a $ref)."""
    document = {"components": as_json_schema(copy.deepcopy(schema["components"])),
                **as_json_schema(fragment)}
    jsonschema.Draft202012Validator(document).validate(instance)


def response_schema(schema, path, method, status):
    content = schema["paths"][path][method]["responses"][str(status)]["content"]
    return content["application/json"]["schema"]


def request_schema(schema, path, method, media_type="application/json"):
    return schema["paths"][path][method]["requestBody"]["content"][media_type]["schema"]


def test_schema_generates_without_warnings_and_validates(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Parley API"


def test_every_endpoint_is_documented(schema):
    documented = {(path, method) for path, ops in schema["paths"].items()
                  for method in ops if method in {"get", "post", "patch", "put", "delete"}}
    assert ENDPOINTS <= documented
    for path, method in ENDPOINTS:
        operation = schema["paths"][path][method]
        assert {"UserSig": []} in operation["security"]
        assert {"cookieAuth": []} in operation["security"]
        for status in ("400", "401", "403"):
            assert operation["responses"][status]["content"]["application/json"]["schema"] \
                == {"$ref": "#/components/schemas/Error"}
    assert "413" in schema["paths"]["/api/v1/files/"]["post"]["responses"]
    scheme = schema["components"]["securitySchemes"]["UserSig"]
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")


def test_the_schema_is_served(db):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/messages/" in json.loads(response.content)["paths"]


def test_the_checker_is_strict(schema):
    """The comparison below can fail: a wrong type or an extra key is caught."""
    message = {"$ref": "#/components/schemas/UnreadCount"}
    check(schema, {"totalUnreadCount": 3}, message)
    with pytest.raises(jsonschema.ValidationError):
        check(schema, {"totalUnreadCount": "3"}, message)
    with pytest.raises(jsonschema.ValidationError):
        check(schema, {"totalUnreadCount": 3, "extra": 1}, message)
    element = {"$ref": "#/components/schemas/MessageElement"}
    check(schema, {"type": "TIMTextElem", "payload": {"text": "hi"}}, element)
    for wrong in ({"type": "TIMTextElem", "payload": {"text": 1}},
                  {"type": "TIMImageElem", "payload": {"text": "hi"}},
                  {"type": "TIMNopeElem", "payload": {"text": "hi"}}):
        with pytest.raises(jsonschema.ValidationError):
            check(schema, wrong, element)


def _png(size=(800, 400)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.django_db
def test_real_responses_match_the_schema(schema, make_user, usersig, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    make_user("alice"), make_user("bob")
    alice, bob = APIClient(), APIClient()
    alice.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{usersig('alice')}")
    bob.credentials(HTTP_AUTHORIZATION=f"UserSig bob:{usersig('bob')}")

    def ok(response, path, method, status):
        assert response.status_code == status, response.content
        check(schema, response.json(), response_schema(schema, path, method, status))
        return response.json()

    files = "/api/v1/files/"
    uploads = [
        {"kind": "image", "file": SimpleUploadedFile("a.png", _png())},
        {"kind": "sound", "file": SimpleUploadedFile("a.mp3", b"\x01" * 64), "second": 2},
        {"kind": "file", "file": SimpleUploadedFile("a.pdf", b"\x01" * 64)},
        {"kind": "video", "file": SimpleUploadedFile("a.mp4", b"\x01" * 64), "second": 5,
         "thumb": SimpleUploadedFile("t.png", _png((64, 36)))},
        {"kind": "video", "file": SimpleUploadedFile("b.mp4", b"\x01" * 64)},
    ]
    elements = [ok(alice.post(files, body, format="multipart"), files, "post", 201)
                for body in uploads]
    elements += [
        {"type": "TIMTextElem", "payload": {"text": "hi"}},
        {"type": "TIMFaceElem", "payload": {"index": 1, "data": "smile"}},
        {"type": "TIMLocationElem", "payload": {"description": "here", "longitude": 113.9,
                                                "latitude": 22.5}},
        {"type": "TIMCustomElem", "payload": {"data": "{}"}},
        {"type": "TIMRelayElem", "payload": {"title": "t", "abstractList": ["a: hi"],
                                             "compatibleText": "c",
                                             "messageList": [{"from": "a"}]}},
    ]

    send = "/api/v1/messages/"
    for random, element in enumerate(elements):
        body = {"to": "bob", "elements": [element], "random": random, "priority": "High",
                "offlinePushInfo": {"title": "t", "disablePush": False},
                "messageControlInfo": {"excludedFromUnreadCount": False}}
        check(schema, body, request_schema(schema, send, "post"))
        ok(alice.post(send, body, format="json"), send, "post", 201)
    online = {"to": "bob", "elements": elements[-1:], "random": 99, "onlineUserOnly": True}
    ok(alice.post(send, online, format="json"), send, "post", 201)

    # Key-value extensions of a message sent with isSupportExtension.
    vote = {"to": "bob", "elements": elements[-1:], "random": 100, "isSupportExtension": True}
    check(schema, vote, request_schema(schema, send, "post"))
    voted = ok(alice.post(send, vote, format="json"), send, "post", 201)
    assert voted["isSupportExtension"] is True
    ext = "/api/v1/messages/{message_id}/extensions/"
    ext_url = f"/api/v1/messages/{voted['ID']}/extensions/"
    body = {"extensions": [{"key": "bob", "value": "yes", "seq": 0}, {"key": "n", "value": ""}]}
    check(schema, body, request_schema(schema, ext, "post"))
    set_ = ok(bob.post(ext_url, body, format="json"), ext, "post", 200)
    assert [e["code"] for e in set_["extensions"]] == [0, 0]
    stale = ok(alice.post(ext_url, {"extensions": [{"key": "bob", "value": "no"}]},
                          format="json"), ext, "post", 200)
    assert stale["extensions"] == [{"code": 23001, "key": "bob", "value": "yes", "seq": 1}]
    got = ok(alice.get(ext_url, {"startSeq": 0}), ext, "get", 200)
    assert [e["key"] for e in got["extensions"]] == ["bob", "n"] and got["isCompleted"]
    gone = "/api/v1/messages/{message_id}/extensions/delete/"
    for body in ({"extensions": [{"key": "bob", "seq": 1}]}, {"keyList": ["n"]}, {}):
        check(schema, body, request_schema(schema, gone, "post"))
        ok(alice.post(f"{ext_url}delete/", body, format="json"), gone, "post", 200)
    ok(alice.post(ext_url, {"extensions": [{"key": "k" * 101, "value": ""}]}, format="json"),
       ext, "post", 400)
    ok(alice.get(ext_url, {"startSeq": "x"}), ext, "get", 400)

    conversations = "/api/v1/conversations/"
    listed = ok(bob.get(conversations), conversations, "get", 200)
    assert listed["conversationList"][0]["lastMessage"]["flow"] == "in"
    make_user("carol")
    ok(APIClient().get(conversations, HTTP_AUTHORIZATION=f"UserSig carol:{usersig('carol')}"),
       conversations, "get", 200)  # no conversations: an empty list

    page = "/api/v1/conversations/{conversation_id}/messages/"
    first = ok(bob.get("/api/v1/conversations/C2Calice/messages/", {"count": 4}),
               page, "get", 200)
    assert len(first["messageList"]) == 4 and not first["isCompleted"]
    read = "/api/v1/conversations/{conversation_id}/read/"
    ok(bob.post("/api/v1/conversations/C2Calice/read/"), read, "post", 200)
    ok(alice.get("/api/v1/conversations/C2Cbob/messages/"), page, "get", 200)
    unread = "/api/v1/conversations/unread-count/"
    ok(bob.get(unread), unread, "get", 200)

    me = "/api/v1/me/"
    ok(alice.get(me), me, "get", 200)
    change = {"nick": "Ally", "gender": "Gender_Type_Female", "birthday": 20000101}
    check(schema, change, request_schema(schema, me, "patch"))
    ok(alice.patch(me, change, format="json"), me, "patch", 200)

    # Errors: one shape everywhere.
    ok(alice.post(send, {"to": "nobody", "elements": elements[-1:], "random": 1},
                  format="json"), send, "post", 400)
    ok(alice.post(send, {"to": "bob", "elements": [], "random": "x"}, format="json"),
       send, "post", 400)
    ok(bob.get("/api/v1/conversations/C2Calice/messages/", {"count": "x"}), page, "get", 400)
    ok(alice.patch(me, {"nick": "n" * 600}, format="json"), me, "patch", 400)
    ok(APIClient().get(conversations), conversations, "get", 401)
    settings.CHAT_MAX_FILE_BYTES = 10
    ok(alice.post(files, {"kind": "file", "file": SimpleUploadedFile("big.bin", b"x" * 11)},
                  format="multipart"), files, "post", 413)


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_this_server(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page and "cdn." not in page
    asset = next(part.split('"')[0] for part in page.split('src="')[1:]
                 if "swagger-ui-bundle" in part)
    assert client.get(asset).status_code == 200
