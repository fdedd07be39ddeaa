"""Fixtures of the fake push vendors (real local servers speaking the vendor's protocol),
available to every test under tests/push/."""

from .fake_apns import fake_apns  # noqa: F401
from .fake_fcm import fake_fcm  # noqa: F401
