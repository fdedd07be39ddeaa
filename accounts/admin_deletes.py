"""Deletes in the operator console: through a service, or not offered.

Django admin deletes rows itself (the "Delete selected" action and the per-object
delete page): behind the services' back, so devices keep showing what is gone and the
sync log never says so. Every ModelAdmin of Parley therefore either

- mixes in `ServiceDeletes` and says what a delete does (`delete_effect`) and how
  (`delete_through_service(request, obj)`, a service call that tells the devices), or
- mixes in `NoDeletes` (has_delete_permission False: Django then offers neither the
  action nor the page).

tests/test_admin_deletes.py walks every registered ModelAdmin and fails for one that
offers Django's own delete, so a new admin cannot add one silently.

What the operator is told counts only what was done. Django's own "Delete selected"
says "Successfully deleted N" for every row it was given, and its delete page "was
deleted successfully", whatever the service answered; here each row is tried on its own
and the answer says how many went, then names each row left as it was and why: the
service refused it (its message and code), it is beyond the operator's permission
(has_delete_permission for that row, e.g. another staff member's account), or it was
already gone (deleted meanwhile, in another tab: `delete_through_service` raises
`AlreadyGone`, or the row is no longer there to select).

Deletes are audited: a LogEntry for each row once its service has deleted it (Django
writes them before it deletes, refused rows too), copied into the audit log
(accounts/audit.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponseRedirect
from django.urls import reverse

from chat_project.errors import ChatError

from . import audit

SHOWN = 20  # rows named in one message (the rest are counted)
GONE = "already gone (deleted meanwhile)"


class AlreadyGone(Exception):
    """Raised by `delete_through_service` when there was nothing left to delete (the
    row was deleted meanwhile, e.g. in another tab)."""


def _named(items: list[str]) -> str:
    more = len(items) - SHOWN
    return "; ".join(items[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


class ServiceDeletes:
    """Deletes (one, or the bulk action) call `delete_through_service(request, obj)`
    instead of deleting rows; what it refuses is said, with why, never counted."""

    delete_effect = "deleted through its service"

    def delete_through_service(self, request, obj) -> None:
        raise NotImplementedError

    def delete_refusal(self, request, obj) -> str | None:
        """Why this admin will not delete `obj` (start it with "already " for a row
        deleted already), or None."""
        return None

    def _delete_one(self, request, obj, audit_action: str | None = None) -> str | None:
        """Delete `obj` through its service: None when done (and audited: a LogEntry,
        or an entry named `audit_action`), else why not, as the operator reads it."""
        if not self.has_delete_permission(request, obj):
            return "not yours to delete (beyond your role or permissions)"
        refusal = self.delete_refusal(request, obj)
        if refusal is not None:
            return refusal
        try:
            self.delete_through_service(request, obj)
        except ChatError as exc:
            return f"{exc.message} ({exc.code})"
        except (AlreadyGone, ObjectDoesNotExist):
            return GONE
        # Django logs before it deletes (refused rows too): the entry is written here,
        # once done; its post_save copies it into the audit log.
        if audit_action is not None:
            audit.record(request, audit_action, target=str(obj),
                         detail={"model": self.model._meta.label_lower, "pk": obj.pk})
        else:
            LogEntry.objects.log_actions(user_id=request.user.pk, queryset=[obj],
                                         action_flag=DELETION)
        return None

    def delete_model(self, request, obj):
        request._service_delete_refusal = self._delete_one(request, obj)

    def delete_queryset(self, request, queryset):
        self.delete_through_service_reporting(request, queryset)

    def log_deletions(self, request, queryset):
        return []  # written by _delete_one, for what was deleted only

    def response_delete(self, request, obj_display, obj_id):
        refusal = getattr(request, "_service_delete_refusal", None)
        if refusal is None:
            return super().response_delete(request, obj_display, obj_id)
        self.message_user(request, f"{obj_display}: not deleted: {refusal}", messages.ERROR)
        opts = self.model._meta
        if self.model._default_manager.filter(pk=obj_id).exists():
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj_id],
                          current_app=self.admin_site.name)
        else:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist",
                          current_app=self.admin_site.name)
        return HttpResponseRedirect(url)

    def delete_through_service_reporting(self, request, queryset, *, noun: str | None = None,
                                         audit_action: str | None = None) -> int:
        """Delete each row of `queryset` through its service; tell the operator how
        many went ("Deleted N <noun>", the model's name by default), and name each row
        left as it was and why. Returns how many went."""
        rows = list(queryset)
        done, refused = 0, []
        for obj in rows:
            why = self._delete_one(request, obj, audit_action)
            if why is None:
                done += 1
            else:
                refused.append((obj, why))
        if done:
            self.message_user(
                request, f"Deleted {done} {noun or model_ngettext(self.opts, done)}.",
                messages.SUCCESS)
        gone = [f"{obj}: {why}" for obj, why in refused if why.startswith("already ")]
        failed = [f"{obj}: {why}" for obj, why in refused if not why.startswith("already ")]
        if failed:
            self.message_user(request, "Not deleted: " + _named(failed), messages.ERROR)
        # (Selected rows no longer there at all are named before the action runs:
        # accounts/admin_selection.py.)
        if gone:  # nothing left to do: said, not an error
            self.message_user(request, "Not deleted: " + _named(gone), messages.WARNING)
        return done

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (service_delete_selected, name, description)
        return actions

    def get_deleted_objects(self, objs, request):
        # The confirmation page lists what the service does, not Django's cascade
        # (no row is deleted by admin itself).
        objs = list(objs)
        lines = [f"{obj}: {self.delete_effect}" for obj in objs]
        return lines, {self.model._meta.verbose_name_plural: len(objs)}, set(), []


def service_delete_selected(modeladmin, request, queryset):
    """Django's "Delete selected": its confirmation page as it is; once confirmed, each
    row through the service (`delete_through_service_reporting`) and the answer counts
    what was done."""
    if not request.POST.get("post"):
        return delete_selected(modeladmin, request, queryset)
    # What the confirmation page refuses (and offers no button for) is refused whole
    # when posted anyway, said in a message rather than Django's bare 403.
    _, _, refused, _ = modeladmin.get_deleted_objects(queryset, request)
    if refused:
        modeladmin.message_user(request, "Nothing deleted: " + _named(sorted(map(str, refused))),
                                messages.ERROR)
        return None
    modeladmin.delete_through_service_reporting(request, queryset)
    return None


service_delete_selected.allowed_permissions = ("delete",)
service_delete_selected.short_description = delete_selected.short_description


class NoDeletes:
    """No delete in admin: the rows are records (purged by their schedule) or state only
    a service may change."""

    def has_delete_permission(self, request, obj=None):
        return False
