"""The operator console in a real browser: an operator signs in and opens the index and
the outbox pages, at desktop and phone sizes, with no error in the browser's console
(the new_page fixture fails the test on any). Screenshots go to $PARLEY_SCREENSHOT_DIR
(else pytest's temporary directory)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import User

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_the_console_opens_without_an_error_in_the_browser(new_page, tmp_path,
                                                            transactional_db):
    shots = Path(os.environ.get("PARLEY_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    User.objects.create_superuser("ops", password="ops-pass-1")
    for width, height, size in ((1280, 800, "desktop"), (390, 844, "phone")):
        page = new_page(width, height)
        page.goto("/admin/login/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", "ops-pass-1")
        page.click("input[type=submit]")
        expect(page).to_have_title("Operations | Parley console")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shots / f"console-{size}.png"))
        for path, title in (("/admin/push/pushunqueued/", "No push task waits"),
                            ("/admin/accounts/webhookunqueued/", "No after-callback waits")):
            page.goto(path)
            expect(page.locator("h1")).to_contain_text(title)
            page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shots / f"console-kept-webhooks-{size}.png"))


def test_the_push_lists_open_without_an_error_in_the_browser(new_page, tmp_path,
                                                            transactional_db):
    """The push delivery and attempt lists carry a table of vendor channels above them;
    it obeys the console's CSP (no inline style, which the browser refuses and logs)."""
    shots = Path(os.environ.get("PARLEY_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    User.objects.create_superuser("ops", password="ops-pass-1")
    for width, height, size in ((1280, 800, "desktop"), (390, 844, "phone")):
        page = new_page(width, height)
        page.goto("/admin/login/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", "ops-pass-1")
        page.click("input[type=submit]")
        expect(page).to_have_title("Operations | Parley console")
        for path, name in (("/admin/push/pushdelivery/", "deliveries"),
                           ("/admin/push/pushattempt/", "attempts")):
            page.goto(path)
            expect(page.locator("h2", has_text="Vendor channels")).to_be_visible()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shots / f"console-push-{name}-{size}.png"))


def test_the_purge_schedule_opens_without_an_error_in_the_browser(new_page, transactional_db):
    """Operators see and change the periodic tasks (django-celery-beat's form page): no
    script the CSP refuses, and the crontab in words is shown."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    User.objects.create_superuser("ops", password="ops-pass-1")
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    task = PeriodicTask.objects.create(name="Purge old history", interval=hourly,
                                       task="messaging.tasks.purge_history")
    page = new_page(1280, 800)
    page.goto("/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-pass-1")
    page.click("input[type=submit]")
    for path in (f"/admin/django_celery_beat/periodictask/{task.pk}/change/",
                 "/admin/django_celery_beat/periodictask/add/"):
        page.goto(path)
        expect(page.locator("#id_name")).to_be_visible()
        page.wait_for_load_state("networkidle")
    # The crontab in words (the field the refused script hid, to write into the help).
    page.goto(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    expect(page.locator(".field-crontab_translation")).to_be_attached()
