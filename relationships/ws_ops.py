"""WebSocket ops of relationships, named as the Web SDK names them."""

from .blocklist_ws import OPS as BLOCKLIST_OPS
from .friends_ws import OPS as FRIEND_OPS
from .profiles_ws import OPS as PROFILE_OPS

OPS = {**FRIEND_OPS, **BLOCKLIST_OPS, **PROFILE_OPS}
