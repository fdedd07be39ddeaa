"""A local HTTP server speaking the six Android vendors' push protocols, for tests.

One threaded server on a free port; each vendor lives under its own path prefix
(`/huawei`, `/honor`, `/xiaomi`, `/oppo`, `/vivo`, `/meizu`) so a test points the
vendor's base URL setting at `fake.url(vendor)`. The server checks what a real vendor
checks: it recomputes OPPO's sha256 and vivo's and Meizu's md5 signatures from its own
copy of the secrets, issues OAuth / auth tokens and refuses unknown or expired ones with
the vendor's code, checks Xiaomi's `Authorization: key=` header, and validates the
fields a notification needs. What it answers to a valid send is the next entry of the
vendor's plan: "ok" (default), "dead", "throttle", "quota", "5xx", "slow", "garbage" or
"refuse_token".
Every request is recorded (vendor, endpoint, headers, parsed body).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

CREDS = {
    "huawei": {"app_id": "10086001", "app_secret": "hw-secret"},
    "honor": {"app_id": "104400001", "client_id": "honor-client", "client_secret": "honor-secret"},
    "xiaomi": {"app_secret": "mi-secret==", "package": "com.example.parley"},
    "oppo": {"app_key": "oppo-key", "master_secret": "oppo-master"},
    "vivo": {"app_id": "10004", "app_key": "vivo-key", "app_secret": "vivo-secret"},
    "meizu": {"app_id": "110001", "app_secret": "meizu-secret"},
}


class _Garbage(Exception):
    """Planned answer "garbage": a 200 that is not the vendor's JSON (a captive proxy)."""


@dataclass
class Seen:
    vendor: str
    endpoint: str      # "auth" or "send"
    headers: dict
    body: dict
    answered: str = ""  # what the fake answered: "ok", "dead", "refused", ...


class FakeAndroidVendors:
    def __init__(self):
        self.requests: list[Seen] = []
        self.plans: dict[str, deque] = defaultdict(deque)
        self.tokens: dict[str, set] = defaultdict(set)
        self.vivo_request_ids: set[str] = set()
        self.slow_seconds = 2.0
        self.oauth_expires_in = 3600
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(parse_qsl(raw, keep_blank_values=True))
                vendor, _, rest = self.path.lstrip("/").partition("/")
                headers = {k.lower(): v for k, v in self.headers.items()}
                route = getattr(fake, f"_{vendor}", None)
                if route is None:
                    return self._reply(404, {"error": "no such vendor"})
                try:
                    status, answer, extra = route("/" + rest, headers, body)
                except _Garbage:
                    page = b"<html><body>Service Unavailable</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                self._reply(status, answer, extra)

            def _reply(self, status, answer, extra=None):
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- test-facing -------------------------------------------------------------------

    def start(self) -> FakeAndroidVendors:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, vendor: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{vendor}"

    def plan(self, vendor: str, *answers: str) -> None:
        with self.lock:
            self.plans[vendor].extend(answers)

    def expire_tokens(self, vendor: str) -> None:
        """The vendor forgets every auth token it issued (they expired)."""
        with self.lock:
            self.tokens[vendor].clear()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.plans.clear()
            self.tokens.clear()
            self.vivo_request_ids.clear()

    def seen(self, vendor: str, endpoint: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.requests
                    if s.vendor == vendor and (endpoint is None or s.endpoint == endpoint)]

    # --- shared ------------------------------------------------------------------------

    def _record(self, vendor, endpoint, headers, body) -> Seen:
        seen = Seen(vendor, endpoint, headers, body)
        with self.lock:
            self.requests.append(seen)
        return seen

    def _issue(self, vendor: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[vendor].add(token)
        return token

    def _valid(self, vendor: str, token: str) -> bool:
        with self.lock:
            return token in self.tokens[vendor]

    def _next(self, vendor: str, seen: Seen) -> str:
        with self.lock:
            answer = self.plans[vendor].popleft() if self.plans[vendor] else "ok"
        if answer == "slow":
            time.sleep(self.slow_seconds)
            answer = "ok"
        seen.answered = answer
        if answer == "garbage":
            raise _Garbage
        return answer

    @staticmethod
    def _fresh_ms(value) -> bool:
        try:
            return abs(int(value) - time.time() * 1000) < 10 * 60 * 1000
        except (TypeError, ValueError):
            return False

    # --- Huawei and Honor: OAuth client credentials --------------------------------------

    def _oauth(self, vendor, headers, body, client_id, client_secret):
        seen = self._record(vendor, "auth", headers, body)
        if (body.get("grant_type") != "client_credentials" or body.get("client_id") != client_id
                or body.get("client_secret") != client_secret):
            seen.answered = "refused"
            return 400, {"error": 1101, "sub_error": 20152,
                         "error_description": "invalid client credentials"}, {}
        seen.answered = "ok"
        return 200, {"access_token": self._issue(vendor), "expires_in": self.oauth_expires_in,
                     "token_type": "Bearer"}, {}

    def _bearer(self, vendor, headers) -> bool:
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and self._valid(vendor, auth[7:])

    def _huawei(self, path, headers, body):
        creds = CREDS["huawei"]
        if path == "/oauth2/v3/token":
            return self._oauth("huawei", headers, body, creds["app_id"], creds["app_secret"])
        seen = self._record("huawei", "send", headers, body)
        if path != f"/v1/{creds['app_id']}/messages:send":
            return 404, {"code": "80100001", "msg": "no such app"}, {}
        if not self._bearer("huawei", headers):
            seen.answered = "refused"
            return 401, {"code": "80200003", "msg": "Oauth token expired"}, {}
        message = body.get("message") or {}
        note = (message.get("android") or {}).get("notification") or {}
        if (len(message.get("token") or []) != 1 or not note.get("title")
                or not note.get("body") or (note.get("click_action") or {}).get("type") is None):
            seen.answered = "bad"
            return 400, {"code": "80100003", "msg": "Illegal payload"}, {}
        answer = self._next("huawei", seen)
        if answer == "refuse_token":
            return 401, {"code": "80200003", "msg": "Oauth token expired"}, {}
        if answer == "dead":
            return 400, {"code": "80300007", "msg": "All the tokens are invalid"}, {}
        if answer == "partial":
            return 200, {"code": "80100000", "msg": json.dumps({
                "success": 0, "failure": 1, "illegal_tokens": message["token"]})}, {}
        if answer == "throttle":
            return 503, {"code": "80300009", "msg": "flow control"}, {"Retry-After": "7"}
        if answer == "5xx":
            return 500, {"code": "81000001", "msg": "System inner error"}, {}
        return 200, {"code": "80000000", "msg": "Success", "requestId": secrets.token_hex(8)}, {}

    def _honor(self, path, headers, body):
        creds = CREDS["honor"]
        if path == "/auth/token":
            return self._oauth("honor", headers, body, creds["client_id"], creds["client_secret"])
        seen = self._record("honor", "send", headers, body)
        if path != f"/api/v1/{creds['app_id']}/sendMessage":
            return 404, {"code": 80100001, "message": "no such app"}, {}
        if not self._bearer("honor", headers):
            seen.answered = "refused"
            return 401, {"code": 80200003, "message": "token expired"}, {}
        note = (body.get("android") or {}).get("notification") or {}
        if (not self._fresh_ms(headers.get("timestamp")) or len(body.get("token") or []) != 1
                or not note.get("title") or not note.get("body")):
            seen.answered = "bad"
            return 400, {"code": 80100003, "message": "Illegal payload"}, {}
        answer = self._next("honor", seen)
        token = body["token"][0]
        if answer == "refuse_token":
            return 401, {"code": 80200003, "message": "token expired"}, {}
        if answer == "throttle":
            return 429, {"code": 80300009, "message": "flow control"}, {"Retry-After": "5"}
        if answer == "5xx":
            return 503, {"code": 81000001, "message": "busy"}, {}
        return 200, {"code": 200, "message": "success", "data": {
            "sendResult": answer == "ok", "requestId": secrets.token_hex(8),
            "failTokens": [token] if answer == "failed_token" else [],
            "expireTokens": [token] if answer == "dead" else []}}, {}

    # --- Xiaomi: AppSecret header ----------------------------------------------------------

    def _xiaomi(self, path, headers, body):
        creds = CREDS["xiaomi"]
        seen = self._record("xiaomi", "send", headers, body)
        if path != "/v3/message/regid":
            return 404, {"result": "error", "code": 404, "reason": "not found"}, {}
        if headers.get("authorization") != f"key={creds['app_secret']}":
            seen.answered = "refused"
            return 401, {"result": "error", "code": 21301, "reason": "Authentication failed"}, {}
        if (body.get("restricted_package_name") != creds["package"] or not body.get("title")
                or not body.get("description") or not body.get("registration_id")):
            seen.answered = "bad"
            return 200, {"result": "error", "code": 10017, "reason": "Invalid parameters"}, {}
        answer = self._next("xiaomi", seen)
        if answer == "dead":
            return 200, {"result": "ok", "code": 0, "description": "成功", "data": {
                "id": secrets.token_hex(8), "bad_regids": body["registration_id"]}}, {}
        if answer == "dead_code":
            return 200, {"result": "error", "code": 20301, "reason": "No valid targets!",
                         "description": "发送消息失败"}, {}
        if answer == "send_failed":
            return 200, {"result": "error", "code": 20301, "reason": "Message send failed",
                         "description": "发送消息失败"}, {}
        if answer == "throttle":
            return 200, {"result": "error", "code": 10027, "description": "应用的API调用太频繁",
                         "reason": "Too many requests"}, {}
        if answer == "quota":
            return 200, {"result": "error", "code": 10034, "description": "应用当日发送消息数量过多",
                         "reason": "Too many messages today"}, {}
        if answer == "5xx":
            return 502, {"result": "error", "code": 502, "reason": "bad gateway"}, {}
        return 200, {"result": "ok", "code": 0, "description": "成功",
                     "data": {"id": secrets.token_hex(8)}, "trace_id": secrets.token_hex(8)}, {}

    # --- OPPO: sha256-signed auth, auth_token ------------------------------------------------

    def _oppo(self, path, headers, body):
        creds = CREDS["oppo"]
        if path == "/server/v1/auth":
            seen = self._record("oppo", "auth", headers, body)
            expected = hashlib.sha256(
                f"{creds['app_key']}{body.get('timestamp')}{creds['master_secret']}".encode()
            ).hexdigest()
            if body.get("app_key") != creds["app_key"]:
                seen.answered = "refused"
                return 200, {"code": 14, "message": "Invalid App Key"}, {}
            if not self._fresh_ms(body.get("timestamp")):
                seen.answered = "refused"
                return 200, {"code": 19, "message": "Invalid Timestamp"}, {}
            if body.get("sign") != expected:
                seen.answered = "refused"
                return 200, {"code": 16, "message": "Invalid Signature"}, {}
            seen.answered = "ok"
            return 200, {"code": 0, "message": "Success", "data": {
                "auth_token": self._issue("oppo"), "create_time": int(time.time() * 1000)}}, {}
        seen = self._record("oppo", "send", headers, body)
        if path != "/server/v1/message/notification/unicast":
            return 404, {"code": 20, "message": "Invalid Method"}, {}
        if not self._valid("oppo", body.get("auth_token", "")):
            seen.answered = "refused"
            return 200, {"code": 11, "message": "Invalid AuthToken"}, {}
        message = json.loads(body.get("message") or "{}")
        note = message.get("notification") or {}
        if (message.get("target_type") != 2 or not message.get("target_value")
                or not note.get("title") or not note.get("content")):
            seen.answered = "bad"
            return 200, {"code": 41, "message": "Invalid Arguments"}, {}
        answer = self._next("oppo", seen)
        if answer == "refuse_token":
            return 200, {"code": 11, "message": "Invalid AuthToken"}, {}
        if answer == "dead":
            return 200, {"code": 10000, "message": "Invalid Registration_id"}, {}
        if answer == "throttle":
            return 200, {"code": -2, "message": "Service in Flow Control"}, {}
        if answer == "quota":
            return 200, {"code": 33, "message": "The number of messages exceeds the daily limit"}, {}
        if answer == "5xx":
            return 500, {"code": -1, "message": "Service Currently Unavailable"}, {}
        return 200, {"code": 0, "message": "Success",
                     "data": {"messageId": f"{creds['app_key']}-1-1-{secrets.token_hex(8)}"}}, {}

    # --- vivo: md5-signed auth, authToken header ---------------------------------------------

    def _vivo(self, path, headers, body):
        creds = CREDS["vivo"]
        if path == "/message/auth":
            seen = self._record("vivo", "auth", headers, body)
            expected = hashlib.md5(
                f"{creds['app_id']}{creds['app_key']}{body.get('timestamp')}"
                f"{creds['app_secret']}".encode()).hexdigest()
            if str(body.get("appId")) != creds["app_id"] or body.get("appKey") != creds["app_key"]:
                seen.answered = "refused"
                return 200, {"result": 10202, "desc": "appKey 不合法"}, {}
            if not self._fresh_ms(body.get("timestamp")):
                seen.answered = "refused"
                return 200, {"result": 10203, "desc": "timestamp 不合法"}, {}
            if body.get("sign") != expected:
                seen.answered = "refused"
                return 200, {"result": 10205, "desc": "sign 不合法"}, {}
            seen.answered = "ok"
            return 200, {"result": 0, "desc": "请求成功", "authToken": self._issue("vivo")}, {}
        seen = self._record("vivo", "send", headers, body)
        if path != "/message/send":
            return 404, {"result": 404, "desc": "not found"}, {}
        if not self._valid("vivo", headers.get("authtoken", "")):
            seen.answered = "refused"
            return 200, {"result": 10000, "desc": "权限认证失败"}, {}
        if str(body.get("appId")) != creds["app_id"]:
            seen.answered = "bad"
            return 200, {"result": 10094, "desc": "appId 与鉴权信息不一致"}, {}
        required = ("regId", "notifyType", "title", "content", "skipType", "requestId")
        if any(body.get(k) in (None, "") for k in required):
            seen.answered = "bad"
            return 200, {"result": 10040, "desc": "参数不合法"}, {}
        answer = self._next("vivo", seen)
        if answer == "refuse_token":
            return 200, {"result": 10000, "desc": "权限认证失败"}, {}
        if answer == "dead":
            return 200, {"result": 10302, "desc": "regId 不合法"}, {}
        if answer == "throttle":
            return 200, {"result": 10072, "desc": "超频"}, {}
        if answer == "quota":
            return 200, {"result": 10070, "desc": "发送总量超出限制"}, {}
        if answer == "5xx":
            return 500, {"result": 500, "desc": "Internet server error!"}, {}
        with self.lock:
            repeated = body["requestId"] in self.vivo_request_ids
            self.vivo_request_ids.add(body["requestId"])
        seen.answered = "repeated" if repeated else "ok"
        return 200, {"result": 0, "desc": "请求成功", "taskId": secrets.token_hex(6)}, {}

    # --- Meizu: md5 of the sorted parameters --------------------------------------------------

    def _meizu(self, path, headers, body):
        creds = CREDS["meizu"]
        seen = self._record("meizu", "send", headers, body)
        if path != "/garcia/api/server/push/varnished/pushByPushId":
            return 404, {"code": "500", "message": "not found", "value": ""}, {}
        params = {k: v for k, v in body.items() if k != "sign"}
        expected = hashlib.md5(("".join(f"{k}={params[k]}" for k in sorted(params))
                                + creds["app_secret"]).encode()).hexdigest()
        if body.get("sign") != expected:
            seen.answered = "refused"
            return 200, {"code": "1006", "message": "签名认证失败", "value": "", "redirect": ""}, {}
        if body.get("appId") != creds["app_id"]:
            seen.answered = "bad"
            return 200, {"code": "110000", "message": "appId不合法", "value": ""}, {}
        message = json.loads(body.get("messageJson") or "{}")
        bar = message.get("noticeBarInfo") or {}
        if not bar.get("title") or not bar.get("content") or not body.get("pushIds"):
            seen.answered = "bad"
            return 200, {"code": "110004", "message": "参数不能为空", "value": ""}, {}
        answer = self._next("meizu", seen)
        push_id = body["pushIds"]
        if answer == "dead":
            return 200, {"code": "200", "message": "", "value": {"110002": [push_id]},
                         "msgId": secrets.token_hex(8)}, {}
        if answer == "throttle":
            return 200, {"code": "110010", "message": "应用请求频率超过限制", "value": "",
                         "redirect": ""}, {}
        if answer == "5xx":
            return 502, {"code": "500", "message": "bad gateway", "value": ""}, {}
        return 200, {"code": "200", "message": "", "value": {}, "msgId": secrets.token_hex(8)}, {}
