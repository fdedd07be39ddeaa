"""Create the demo users a newcomer signs in with, and print how to connect."""

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.usersig import gen_usersig

DEMO_PASSWORD = "parley-demo"
DEMO_USERS = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]


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
