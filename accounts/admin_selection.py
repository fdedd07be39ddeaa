"""A console list's action posted with a selection that names no row is a message,
never a 500.

Django runs an action on the list's rows `pk__in` the posted checkboxes
(`_selected_action`); a value the primary key cannot hold ("abc", "1.5", "", a NUL: a
tampered form) raised a ValueError in that filter: a 500 on every list, third-party
ones (groups, the schedule, sign-in lockouts) too. This middleware checks the posted
selection against the list's model before the list's view runs (Django marks each
ModelAdmin view with `model_admin`), and answers a bad one with an error message and
the list again; nothing is done. Ids past what the column holds are no error here:
Django's lookup finds no row for them, and the action says so.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect


def _holds(field, value: str) -> bool:
    if "\x00" in value:  # PostgreSQL text holds no NUL
        return False
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return value != ""


class SelectionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)
        if (model_admin is None or request.method != "POST"
                or getattr(view_func, "__name__", "") != "changelist_view"
                or not model_admin.admin_site.has_permission(request)):
            return None  # not a list's action (or not staff: the view sends to sign-in)
        pk = model_admin.model._meta.pk
        bad = [v for v in request.POST.getlist(ACTION_CHECKBOX_NAME) if not _holds(pk, v)]
        if not bad:
            return None
        shown = ", ".join(repr(v.replace("\x00", "\\x00")) for v in bad[:5])
        messages.error(request, f"The selection names no row ({shown}: not a row id). "
                                "Nothing was done.")
        return HttpResponseRedirect(request.get_full_path())
