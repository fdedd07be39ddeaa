"""/v4 commands (tencent-rest.md): see chat_project/v4.py for the transport."""

from chat_project.v4 import V4Error, command, fields  # noqa: F401
