"""A client of the /v4 door, as an integrator's backend is: UserSig from Tencent's own
`tls-sig-api-v2` package, a raw JSON body with no Content-Type header, over real HTTP."""

from __future__ import annotations

import json
import random
import urllib.request
from urllib.parse import urlencode

import TLSSigAPIv2
from django.conf import settings


class V4Client:
    def __init__(self, base_url: str, identifier: str = "administrator", *,
                 sdkappid: int | None = None, key: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.identifier = identifier
        self.sdkappid = settings.CHAT_SDKAPPID if sdkappid is None else sdkappid
        self.signer = TLSSigAPIv2.TLSSigAPIv2(
            self.sdkappid, settings.CHAT_SECRET_KEY if key is None else key)

    def url(self, path: str, **query) -> str:
        params = {"sdkappid": self.sdkappid, "identifier": self.identifier,
                  "usersig": self.signer.gen_sig(self.identifier),
                  "random": random.randint(0, 2**32 - 1), "contenttype": "json"}
        params.update(query)
        params = {k: v for k, v in params.items() if v is not None}
        return f"{self.base_url}/v4/{path.strip('/')}?{urlencode(params)}"

    def raw(self, path: str, data: bytes, *, method: str = "POST", **query) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url(path, **query), data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()

    def __call__(self, path: str, body: dict | None = None, **query) -> dict:
        """POST `body` to v4/<path>; return the decoded answer (HTTP must be 200)."""
        status, raw = self.raw(path, json.dumps({} if body is None else body).encode(),
                               **query)
        assert status == 200, (status, raw)
        return json.loads(raw)
