"""Create the demo users a newcomer signs in with, and print how to connect.

Alice and Bob are made friends and given a short conversation (once: not when they have
exchanged messages already), so the first page a newcomer opens shows the product at
work rather than an empty list. Carol stays a stranger to both. The messages go through
the send pipeline as any user's would (messaging.services.message_send)."""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.usersig import gen_usersig

DEMO_PASSWORD = "parley-demo"
DEMO_USERS = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]
DEMO_CHAT = [
    ("bob", "alice", "Hi Alice! This is Parley, one-to-one chat on your own server."),
    ("alice", "bob", "Hi Bob. Pictures, voice notes, files and stickers work too."),
    ("bob", "alice", "Sign in as bob in another browser window to answer live."),
]


class Command(BaseCommand):
    help = "Create demo users (alice, bob, carol; password parley-demo) and the app admin."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")
        parser.add_argument("--url", default="http://127.0.0.1:8000",
                            help="where the server will listen (for the printed links)")

    def handle(self, *args, quiet=False, url="http://127.0.0.1:8000", **options):
        url = url.rstrip("/")
        for user_id, nick in DEMO_USERS:
            user, created = User.objects.get_or_create(user_id=user_id, defaults={"nick": nick})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
        _seed_conversation()
        for admin_id in settings.CHAT_ADMIN_USERS:
            admin, created = User.objects.get_or_create(
                user_id=admin_id, defaults={"nick": "Administrator", "is_staff": True,
                                            "is_superuser": True})
            if created:
                admin.set_password(DEMO_PASSWORD)
                admin.save(update_fields=["password"])
        if quiet:
            return
        out = self.stdout.write
        out("")
        out("Parley is ready.")
        out(f"  Web UI:      {url}/  (sign in as alice, bob or carol; "
            f"password {DEMO_PASSWORD})")
        out(f"  Admin:       {url}/admin/  ({', '.join(settings.CHAT_ADMIN_USERS)}"
            f" / {DEMO_PASSWORD})")
        out(f"  API docs:    {url}/api/docs/")
        out(f"  SDKAppID:    {settings.CHAT_SDKAPPID}")
        out(f"  Secret key:  {settings.CHAT_SECRET_KEY}   (UserSig key; set CHAT_SECRET_KEY "
            "in production)")
        out(f"  UserSig for alice (180 days): {gen_usersig('alice')}")
        admin_id = settings.CHAT_ADMIN_USERS[0]
        out(f"  Tencent REST: {url}/v4/openim/sendmsg?sdkappid={settings.CHAT_SDKAPPID}"
            f"&identifier={admin_id}&usersig={gen_usersig(admin_id)}&random=1"
            "&contenttype=json")
        out("")


def _seed_conversation() -> None:
    """Alice and Bob as friends, with DEMO_CHAT between them, unless they have messages."""
    from messaging.commands import Origin
    from messaging.models import Message
    from messaging.services import message_send
    from relationships.friends import friend_add
    from relationships.models import Friendship

    users = {u.user_id: u for u in User.objects.filter(user_id__in=["alice", "bob"])}
    alice, bob = users["alice"], users["bob"]
    if Message.objects.filter(sender__in=[alice, bob], receiver__in=[alice, bob]).exists():
        return
    if not Friendship.objects.filter(owner=alice, friend=bob).exists():
        friend_add(user=alice, to="bob", source="AddSource_Type_Demo", force=True)
    for sender, to, text in DEMO_CHAT:
        # A random as a client's (a small one would make a later send a "retry").
        message_send(origin=Origin.USER, sender=users[sender], to=to,
                     random=secrets.randbelow(2**32),
                     elements=[{"type": "TIMTextElem", "payload": {"text": text}}])
