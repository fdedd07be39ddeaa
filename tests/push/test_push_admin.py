"""The operator's view of offline pushes: deliveries and attempts, read-only, with the
vendor channels (enabled / disabled) and the counts per vendor above the lists, and the
failures-only filter."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from push.models import PushAttempt, PushDelivery

pytestmark = pytest.mark.django_db


def _delivery(user, device, state, outcome, vendor="fcm", code=""):
    now = timezone.now()
    d = PushDelivery.objects.create(message_id=1, message_key=f"1-2-{device}", user=user,
                                    device_id=device, vendor=vendor, state=state,
                                    created_at=now, updated_at=now)
    PushAttempt.objects.create(delivery=d, message_id=1, message_key=d.message_key, user=user,
                               device_id=device, vendor=vendor, outcome=outcome,
                               vendor_code=code, http_status=200, latency_ms=12,
                               created_at=now)
    return d


def test_operator_sees_deliveries_attempts_channels_and_counts(make_user, settings):
    settings.CHAT_PUSH_FCM_CREDENTIALS = ""
    bob = make_user("bob")
    _delivery(bob, "phone", "delivered", "delivered")
    _delivery(bob, "tablet", "dead_token", "dead_token", code="UNREGISTERED")
    _delivery(bob, "ipad", "failed", "failed", vendor="apns", code="not_configured")
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    page = client.get("/admin/push/pushattempt/").content.decode()
    assert "Vendor channels" in page
    assert "Google (FCM)</td><td>disabled" in page.replace("\n", "").replace("  ", "")
    assert "UNREGISTERED" in page and "not_configured" in page
    failures = client.get("/admin/push/pushattempt/?failures=1").content.decode()
    assert "UNREGISTERED" in failures and "1-2-phone" not in failures
    page = client.get("/admin/push/pushdelivery/?failures=1").content.decode()
    assert "1-2-tablet" in page and "1-2-ipad" in page and "1-2-phone" not in page
    d = PushDelivery.objects.get(device_id="tablet")
    assert client.get(f"/admin/push/pushdelivery/{d.pk}/change/").status_code == 200
    assert client.get("/admin/push/pushdelivery/add/").status_code == 403
    assert client.get("/admin/push/receiveoption/").status_code == 200


def test_old_attempts_and_deliveries_are_purged(make_user):
    from datetime import timedelta

    from push.pipeline import attempts_purge

    bob = make_user("bob")
    old = _delivery(bob, "phone", "delivered", "delivered")
    new = _delivery(bob, "tablet", "delivered", "delivered")
    long_ago = timezone.now() - timedelta(days=8)
    PushDelivery.objects.filter(pk=old.pk).update(created_at=long_ago)
    PushAttempt.objects.filter(delivery=old).update(created_at=long_ago)
    assert attempts_purge(days=7, batch_size=1) == 1
    assert list(PushDelivery.objects.values_list("pk", flat=True)) == [new.pk]
    assert PushAttempt.objects.filter(delivery=new).count() == 1
