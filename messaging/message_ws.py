"""WebSocket ops on stored messages and conversations (recall, modify, delete, read
receipts, conversation changes), named as the Web SDK names them. Each op is a thin
translation to a service; the consumer (messaging/consumers.py) merges OPS."""

OPS: dict = {}
