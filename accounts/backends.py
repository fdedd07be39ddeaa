"""Authentication backends: django-axes's lockout check in front of Django's own."""

from axes.backends import AxesStandaloneBackend


class SignInLockout(AxesStandaloneBackend):
    """django-axes's check that this UserID and address are not locked out, for the
    sign-ins that come with a request (the web sign-in form, /admin/). A call without
    one (Django's test client login, a script) has no address to count by, so it is
    not checked here (axes itself would raise)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
