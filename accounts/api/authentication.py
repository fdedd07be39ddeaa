"""REST authentication for clients that are not browsers: their UserSig.

Send `Authorization: UserSig <UserID>:<UserSig>`. A browser signed in to the web UI
uses its session cookie (and CSRF token) instead.
"""

from rest_framework import authentication, exceptions

from accounts.services import user_login_with_usersig
from chat_project.errors import ChatError


class UserSigAuthentication(authentication.BaseAuthentication):
    keyword = "UserSig"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        credentials = header[len(self.keyword) + 1:].strip()
        user_id, sep, usersig = credentials.rpartition(":")
        if not sep or not user_id or not usersig:
            exc = exceptions.AuthenticationFailed("expected 'UserSig <UserID>:<UserSig>'")
            exc.chat_code = 70002
            raise exc
        try:
            user = user_login_with_usersig(user_id=user_id, usersig=usersig)
        except ChatError as err:
            exc = exceptions.AuthenticationFailed(err.message)
            exc.chat_code = err.code
            raise exc from None
        return user, None

    def authenticate_header(self, request):
        return self.keyword
