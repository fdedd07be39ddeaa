"""The consumer: log in (join one's group), save a row, group_send it to the receiver."""

import itertools
import json
import os

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Note

# Checks the checker: with MINIMAL_DROP_EVERY=N, every Nth message is saved and acked but
# never sent to its receiver (bench/minimal_consumer.py --drop-every), so the bench must fail.
_DROP_EVERY = int(os.environ.get("MINIMAL_DROP_EVERY") or 0)
_count = itertools.count(1)


def _group(user_id: str) -> str:
    return f"u.{user_id}"


def _save(sender: str, receiver: str, body: str, custom: str) -> int:
    return Note.objects.create(sender=sender, receiver=receiver, body=body, custom=custom).pk


class MinimalConsumer(AsyncWebsocketConsumer):
    user_id = None

    async def receive(self, text_data=None, bytes_data=None):
        frame = json.loads(text_data or "{}")
        rid, op, data = frame.get("id"), frame.get("op"), frame.get("data") or {}
        if op == "login":
            self.user_id = str(data.get("userID") or "")
            await self.channel_layer.group_add(_group(self.user_id), self.channel_name)
            await self.send(json.dumps({"id": rid, "ok": True, "data": {"userID": self.user_id}}))
            await self.send('{"event":"SDK_READY","data":{}}')
        elif op == "sendMessage" and self.user_id:
            to = str(data.get("to") or "")
            elements = data.get("elements") or []
            text = elements[0]["payload"]["text"] if elements else ""
            custom = str(data.get("cloudCustomData") or "")
            pk = await database_sync_to_async(_save)(self.user_id, to, text, custom)
            msg = {"from": self.user_id, "to": to, "seq": pk, "random": data.get("random"),
                   "elements": elements, "cloudCustomData": custom}
            if not (_DROP_EVERY and next(_count) % _DROP_EVERY == 0):
                await self.channel_layer.group_send(_group(to), {
                    "type": "chat.message", "text": json.dumps(
                        {"event": "MESSAGE_RECEIVED", "data": [msg]}, separators=(",", ":"))})
            await self.send(json.dumps({"id": rid, "ok": True, "data": {"seq": pk}}))
        elif op == "ping":
            await self.send(json.dumps({"id": rid, "ok": True, "data": {}}))
        else:
            await self.send(json.dumps({"id": rid, "ok": False, "code": 400,
                                        "message": "unknown op or not logged in"}))

    async def chat_message(self, event):
        await self.send(event["text"])

    async def disconnect(self, code):
        if self.user_id:
            await self.channel_layer.group_discard(_group(self.user_id), self.channel_name)
