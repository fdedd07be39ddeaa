"""A console list's action posted with a selection that names no row is a message,
never a 500; so is a list asked for a filter value no row can hold.

Django runs an action on the list's rows `pk__in` the posted checkboxes
(`_selected_action`); a value the primary key cannot hold ("abc", "1.5", "", a NUL: a
tampered form) raised a ValueError in that filter: a 500 on every list, third-party
ones (groups, the schedule, sign-in lockouts) too. This middleware checks the posted
selection against the list's model before the list's view runs (Django marks each
ModelAdmin view with `model_admin`), and answers a bad one with an error message and
the list again; nothing is done. Ids past what the column holds are no error here:
Django's lookup finds no row for them. Selected rows that are no longer there (deleted
in another tab since the list was drawn) are named in a warning, and the action runs on
the others (none left: it does not run), so no action's count leaves them out silently.

A list's query string with a NUL in it (PostgreSQL text holds none) or a date link past
year 9998 (Django computes the next year's start, past what a date holds: ?at__year=9999
was a 500) is answered as Django answers any invalid filter: the list again with "?e=1".
Parley's own lists check more (accounts/admin_lists.py CheckedChangeList); this covers
the third-party ones too.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

YEARS = range(1, 9999)  # a date link's year whose next year a date still holds


def _holds(field, value: str) -> bool:
    if "\x00" in value:  # PostgreSQL text holds no NUL
        return False
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return value != ""


def _bad_filter(model_admin, request) -> bool:
    if any("\x00" in value for _, values in request.GET.lists() for value in values):
        return True
    field = model_admin.date_hierarchy
    year = request.GET.get(f"{field}__year") if field else None
    if year is None:
        return False
    return not (year.isascii() and year.isdigit() and len(year) <= 4 and int(year) in YEARS)


class SelectionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)
        if (model_admin is None or getattr(view_func, "__name__", "") != "changelist_view"
                or not model_admin.admin_site.has_permission(request)
                or not model_admin.has_view_or_change_permission(request)):
            # Not a list, or not the caller's: the view refuses (sign-in, 403) before it
            # reads anything, and so must this (which ids exist is the list's data).
            return None
        if _bad_filter(model_admin, request):
            return HttpResponseRedirect(request.path + "?e=1")
        if request.method != "POST":
            return None
        pk = model_admin.model._meta.pk
        selected = list(dict.fromkeys(request.POST.getlist(ACTION_CHECKBOX_NAME)))
        bad = [v for v in selected if not _holds(pk, v)]
        if bad:
            shown = ", ".join(repr(v.replace("\x00", "\\x00")) for v in bad[:5])
            messages.error(request, f"The selection names no row ({shown}: not a row id). "
                                    "Nothing was done.")
            return HttpResponseRedirect(request.get_full_path())
        if not selected or request.POST.get("select_across") == "1" \
                or not request.POST.get("action"):
            return None
        # Rows deleted since the list was drawn (in another tab): named, never silently
        # left out of the action's count; none left, and the action does not run.
        found = {str(v) for v in model_admin.get_queryset(request)
                 .filter(pk__in=selected).values_list("pk", flat=True)}
        gone = [v for v in selected if str(pk.to_python(v)) not in found]
        if not gone:
            return None
        shown = ", ".join(f"#{v}" for v in gone[:20]) + \
            (f" and {len(gone) - 20} more" if len(gone) > 20 else "")
        if len(gone) == len(selected):
            messages.warning(request, f"Nothing done: already gone (deleted meanwhile): "
                                      f"{shown}.")
            return HttpResponseRedirect(request.get_full_path())
        messages.warning(request, f"Left out, already gone (deleted meanwhile): {shown}.")
        return None
