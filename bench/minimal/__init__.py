"""A minimal Channels app, the reference point Parley is compared with (bench/compare.py).

A WebSocket consumer that, for each message, saves one row with the Django ORM
(`database_sync_to_async`) and `group_send`s it to the receiver's group over channels-redis's
`RedisPubSubChannelLayer`, as Parley does. It speaks just enough of shared/PROTOCOL.md
(`login`, `sendMessage`, `MESSAGE_RECEIVED`) for bench/loadgen.py to drive it unchanged;
it checks no UserSig and keeps no sync log, conversations or unread counts: the least a
Channels chat server can do per message.
"""
