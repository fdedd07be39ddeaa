"""The operator console's "Send message" page (/admin/messaging/sendpage/): send as the
app admin, as any user, or as a system notice; to one user, a list, or everyone a push
audience matches; any element type; the send options.

A door like the others: it translates the form into one call of the send pipeline and
shows what the pipeline answered (words and code). Which rules a send obeys is its
origin's row in messaging.services.SEND_RULES, never decided here:

    mode \\ to     one user            a list (batch task)        an audience (push to all)
    app admin      APP_ADMIN           BATCH                      BROADCAST
    as a user      APP_ADMIN (From)    BATCH (From)               BROADCAST (From)
    system notice  SYSTEM              SYSTEM                     SYSTEM

(the app admin's sends as Tencent's sendmsg, batchsendmsg and im_push make them.) A
list is fanned out by messaging.tasks.send_to_many in chunks; its progress page
follows the batch's chunks and receipts. An audience is a push to all; its page follows
the push's task. Files are uploaded through messaging.uploads (the operator's own
upload limits and the image bounds apply).

Permissions, checked on the page and on the POST: accounts.send_as_app for the app
admin's sends and system notices, accounts.send_as_user to send as a user; a caller
with neither gets 403. Every send, and every send the pipeline refused, lands in the
audit log (accounts.audit.record).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts import selectors as account_selectors
from accounts.audit import record
from accounts.services import user_get_or_register
from chat_project.errors import ChatError
from push import offline_info
from push import selectors as push_selectors
from push.models import BroadcastTask
from push.services import MAX_LIFETIME

from .batch_send import message_send_to_many
from .commands import Origin
from .models import BatchChunk, BatchReceipt, SendPage
from .push_all import broadcast_send
from .services import message_send
from .uploads import upload_store

MAX_LIST = 10_000  # receivers of one list (910041)

MODES = [("app", "As the app admin"), ("user", "As a user (impersonation)"),
         ("system", "As a system notice")]
TARGETS = [("one", "One user"), ("list", "A list of users"),
           ("audience", "Everyone matching a push audience")]
AUDIENCES = [("everyone", "Everyone"), ("TagsAnd", "Users with all of these tags"),
             ("TagsOr", "Users with any of these tags"),
             ("AttrsAnd", "Users with all of these attributes (name=value)"),
             ("AttrsOr", "Users with any of these attributes (name=value)")]
KINDS = [("text", "Text"), ("custom", "Custom (data, description, extension)"),
         ("image", "Image (upload)"), ("file", "File (upload)"), ("location", "Location")]

# mode -> the permission it takes
PERMISSIONS = {"app": "accounts.send_as_app", "system": "accounts.send_as_app",
               "user": "accounts.send_as_user"}
# (mode, target) -> origin (the table above)
ORIGINS = {
    ("app", "one"): Origin.APP_ADMIN, ("user", "one"): Origin.APP_ADMIN,
    ("system", "one"): Origin.SYSTEM,
    ("app", "list"): Origin.BATCH, ("user", "list"): Origin.BATCH,
    ("system", "list"): Origin.SYSTEM,
    ("app", "audience"): Origin.BROADCAST, ("user", "audience"): Origin.BROADCAST,
    ("system", "audience"): Origin.SYSTEM,
}


def may_send(user) -> bool:
    return any(user.has_perm(p) for p in set(PERMISSIONS.values()))


class SendForm(forms.Form):
    """Every field is optional text or a flag: what a send needs is the pipeline's to
    say (with its code), not the form's."""

    mode = forms.ChoiceField(choices=MODES, initial="app", widget=forms.RadioSelect)
    sender = forms.CharField(required=False, label="Send as (UserID)",
                             help_text="only when sending as a user")
    target = forms.ChoiceField(choices=TARGETS, initial="one", widget=forms.RadioSelect)
    to = forms.CharField(required=False, label="To (UserID)")
    to_list = forms.CharField(required=False, label="To (UserIDs)",
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=f"separated by spaces, commas or new lines; "
                                        f"at most {MAX_LIST:,}")
    audience = forms.ChoiceField(choices=AUDIENCES, initial="everyone", required=False)
    audience_values = forms.CharField(required=False, label="Tags or attributes",
                                      widget=forms.Textarea(attrs={"rows": 3}),
                                      help_text="one a line: a tag, or name=value")
    kind = forms.ChoiceField(choices=KINDS, initial="text", label="Message type")
    text = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    custom_data = forms.CharField(required=False, strip=False, label="Custom data",
                                  widget=forms.Textarea(attrs={"rows": 3}))
    custom_data_is_json = forms.BooleanField(required=False, initial=True,
                                             label="Custom data must be JSON")
    custom_description = forms.CharField(required=False, strip=False,
                                         label="Custom description")
    custom_extension = forms.CharField(required=False, strip=False, label="Custom extension")
    upload = forms.FileField(required=False, label="Image or file")
    location_description = forms.CharField(required=False, label="Place")
    longitude = forms.CharField(required=False)
    latitude = forms.CharField(required=False)
    online_only = forms.BooleanField(required=False, label="Online only (not stored)")
    no_push = forms.BooleanField(required=False, label="No offline push")
    no_unread = forms.BooleanField(required=False, label="Not counted as unread")
    no_last_message = forms.BooleanField(required=False,
                                         label="Not the conversation's last message")
    push_title = forms.CharField(required=False, label="Push title")
    push_text = forms.CharField(required=False, label="Push text")
    lifetime = forms.CharField(required=False, label="Lifetime (seconds)",
                               help_text=f"in the receiver's offline cache; 0 to "
                                         f"{MAX_LIFETIME} (7 days); 0 is online only")


@dataclass
class Sent:
    """What a send did, for the operator and the audit log."""

    origin: Origin
    sender: str
    receivers: int
    message_ids: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    batch_id: str = ""
    task_id: str = ""


def _fail(why: str) -> ChatError:
    return ChatError(910040, why)


def _receivers(text: str) -> list[str]:
    names = list(dict.fromkeys(n for n in re.split(r"[\s,;]+", text) if n))
    if not names:
        raise _fail("the list holds no UserID")
    if len(names) > MAX_LIST:
        raise ChatError(910041, f"the list holds {len(names):,} UserIDs; at most "
                                f"{MAX_LIST:,} at once")
    return names


def _condition(kind: str, text: str) -> dict | None:
    lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    if kind == "everyone":
        return None
    if not lines:
        raise _fail("name at least one tag or attribute for the audience")
    if kind.startswith("Tags"):
        return {kind: lines}
    attrs = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise _fail(f"an attribute is name=value, not {line!r}")
        attrs[name.strip()] = value.strip()
    return {kind: attrs}


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise _fail(f"{name} must be a number") from None


def _lifetime(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    # ASCII digits only: str.isdigit() takes "²", which int() refuses
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_LIFETIME:
        raise ChatError(90044, f"the lifetime must be a whole number of seconds from 0 to "
                               f"{MAX_LIFETIME}")
    return int(value)


def _elements(data: dict, request, uploads_as) -> list:
    kind = data["kind"]
    if kind == "text":
        return [{"type": "TIMTextElem", "payload": {"text": data["text"]}}]
    if kind == "custom":
        if data["custom_data_is_json"] and data["custom_data"]:
            try:
                json.loads(data["custom_data"])
            except (ValueError, RecursionError) as exc:
                raise ChatError(910042, f"the custom data is not JSON ({exc})") from None
        return [{"type": "TIMCustomElem", "payload": {
            "data": data["custom_data"], "description": data["custom_description"],
            "extension": data["custom_extension"]}}]
    if kind == "location":
        return [{"type": "TIMLocationElem", "payload": {
            "description": data["location_description"],
            "longitude": _number(data["longitude"], "longitude"),
            "latitude": _number(data["latitude"], "latitude")}}]
    upload = data.get("upload")
    if upload is None:
        raise _fail(f"choose the {kind} to upload")
    return [upload_store(user=uploads_as, kind=kind, file=upload,
                         absolute_url=request.build_absolute_uri)]


def _push_info(data: dict) -> dict | None:
    info = {}
    if data["no_push"]:
        info["disablePush"] = True
    if data["push_title"]:
        info["title"] = data["push_title"]
    if data["push_text"]:
        info["description"] = data["push_text"]
    return offline_info.from_web(info) if info else None


def console_send(request, data: dict) -> Sent:
    """One send from the page's cleaned data. Raises PermissionDenied for a mode the
    operator may not use, ChatError for what the pipeline (or the form) refuses."""
    mode, target = data["mode"], data["target"]
    if not request.user.has_perm(PERMISSIONS[mode]):
        raise PermissionDenied(f"sending {dict(MODES)[mode].lower()} is not yours to do")
    origin = ORIGINS[mode, target]
    if mode == "user":
        sender_id = data["sender"].strip()
        sender = account_selectors.user_by_user_id(sender_id) if sender_id else None
        if sender is None:
            raise ChatError(20003, f"the sender {sender_id!r} does not exist" if sender_id
                            else "name the user to send as")
    else:
        sender = user_get_or_register(user_id=settings.CHAT_ADMIN_USERS[0])
    # Who gets it is settled before anything is uploaded.
    to = data["to"].strip() if target == "one" else ""
    if target == "one" and not to:
        raise _fail("name the receiver")
    names = _receivers(data["to_list"]) if target == "list" else []
    condition = _condition(data["audience"] or "everyone", data["audience_values"]) \
        if target == "audience" else None
    life_time = _lifetime(data["lifetime"])
    push_info = _push_info(data)
    elements = _elements(data, request, request.user)
    options = dict(elements=elements, random=secrets.randbelow(2**32),
                   online_user_only=data["online_only"], offline_push_info=push_info,
                   excluded_from_unread=data["no_unread"],
                   excluded_from_last_message=data["no_last_message"], life_time=life_time,
                   platform="RESTAPI")
    if target == "one":
        sent = message_send(origin=origin, sender=sender, to=to, **options)
        return Sent(origin, sender.user_id, 1, message_ids=[sent["ID"]])
    if target == "list":
        batch_id = str(uuid.uuid4())
        _, unknown = message_send_to_many(sender=sender, to=names, origin=origin,
                                          batch_id=batch_id, **options)
        return Sent(origin, sender.user_id, len(names) - len(unknown), unknown=unknown,
                    batch_id=batch_id)
    if data["no_unread"] or data["no_last_message"]:
        raise ChatError(910043, "a push to an audience is counted as unread and is the "
                                "conversation's last message (push to all has no such options)")
    if data["online_only"]:
        life_time = 0
    task = broadcast_send(sender=sender, elements=elements, msg_random=options["random"],
                          lifetime=MAX_LIFETIME if life_time is None else life_time,
                          condition=condition, offline_push_info=push_info, origin=origin)
    return Sent(origin, sender.user_id, 0, task_id=task.task_id)


def _target_text(data: dict) -> str:
    if data["target"] == "one":
        return data["to"].strip()
    if data["target"] == "list":
        return "a list"
    return f"audience {data['audience'] or 'everyone'}"


def _audit(request, data: dict, *, sent: Sent | None = None,
           error: ChatError | None = None) -> None:
    detail = {"mode": data["mode"], "target": data["target"], "kind": data["kind"],
              "sender": sent.sender if sent else (data["sender"].strip()
                                                  if data["mode"] == "user" else "")}
    if sent is not None:
        detail.update(origin=sent.origin.value, receivers=sent.receivers,
                      message_ids=sent.message_ids, unknown=sent.unknown[:100])
        if sent.batch_id:
            detail["batch_id"] = sent.batch_id
        if sent.task_id:
            detail["task_id"] = sent.task_id
        if data["target"] == "list":  # whom it was for; the first 100 (`receivers` counts)
            detail["to"] = _receivers(data["to_list"])[:100]
        if data["target"] == "audience":
            detail["condition"] = data["audience_values"][:500]
    else:
        detail.update(code=error.code, error=error.message[:500])
    record(request, "send message" if sent else "send message refused",
           target=_target_text(data), detail=detail)


def batch_progress(batch_id: str) -> dict | None:
    """{total, done, delivered} receivers of a batch (its chunks), None if unknown."""
    chunks = list(BatchChunk.objects.filter(batch_id=batch_id).values_list("receivers",
                                                                           "done_at"))
    if not chunks:
        return None
    total = sum(len(r) for r, _ in chunks)
    done = sum(len(r) for r, at in chunks if at is not None)
    delivered = BatchReceipt.objects.filter(batch_id=batch_id).count()
    return {"total": total, "done": done, "delivered": delivered, "finished": done == total}


@admin.register(SendPage)
class SendPageAdmin(admin.ModelAdmin):
    """Listed in the admin index under Messaging; its pages are the view below."""

    def has_view_permission(self, request, obj=None):
        return may_send(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.send_view), name="messaging_sendpage_changelist"),
            path("batch/<str:batch_id>/", view(self.batch_view), name="messaging_send_batch"),
            path("push/<str:task_id>/", view(self.push_view), name="messaging_send_push"),
        ]

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    def _check(self, request) -> None:
        if not may_send(request.user):
            raise PermissionDenied("sending is not yours to do")

    def send_view(self, request):
        self._check(request)
        form = SendForm(request.POST or None, request.FILES or None)
        error = None
        if request.method == "POST":
            if not form.is_valid():
                error = _fail("; ".join(f"{name}: {' '.join(errs)}"
                                        for name, errs in form.errors.items()))
            else:
                try:
                    sent = console_send(request, form.cleaned_data)
                except ChatError as exc:
                    error = exc
                    _audit(request, form.cleaned_data, error=exc)
                else:
                    _audit(request, form.cleaned_data, sent=sent)
                    return self._after_send(request, sent)
        labels = {mode: label.lower() for mode, label in MODES}
        allowed = [labels[mode] for mode, perm in PERMISSIONS.items()
                   if request.user.has_perm(perm)]
        return TemplateResponse(request, "admin/messaging/send.html", self._context(
            request, title="Send message", form=form, error=error,
            allowed_modes=allowed), status=400 if error else 200)

    def _after_send(self, request, sent: Sent):
        if sent.unknown:
            messages.warning(request, f"Not sent to {len(sent.unknown)} UserID(s) that are no "
                                      f"active user (20003): {', '.join(sent.unknown[:20])}")
        if sent.batch_id and sent.receivers:
            messages.success(request, f"Sending to {sent.receivers} user(s) "
                                      f"({sent.origin.value}).")
            return redirect(reverse("admin:messaging_send_batch", args=[sent.batch_id]))
        if sent.task_id:
            messages.success(request, f"Push to all {sent.task_id} queued "
                                      f"({sent.origin.value}).")
            return redirect(reverse("admin:messaging_send_push", args=[sent.task_id]))
        if sent.message_ids:
            messages.success(request, f"Sent as {sent.sender} ({sent.origin.value}): "
                                      f"message {sent.message_ids[0]}.")
        return redirect(reverse("admin:messaging_sendpage_changelist"))

    def batch_view(self, request, batch_id: str):
        self._check(request)
        try:
            batch_id = str(uuid.UUID(batch_id))
        except ValueError:
            raise Http404("no such batch") from None
        progress = batch_progress(batch_id)
        if progress is None:
            raise Http404("no such batch (or purged with the history)")
        return TemplateResponse(request, "admin/messaging/send_progress.html", self._context(
            request, title="Sending to a list", kind="batch", ident=batch_id,
            progress=progress, refresh=not progress["finished"]))

    def push_view(self, request, task_id: str):
        self._check(request)
        if "\x00" in task_id:  # PostgreSQL text holds none: no such push, not a 500
            raise Http404("no such push")
        task = push_selectors.broadcast_by_task_id(task_id)
        if task is None:
            raise Http404("no such push")
        ended = task.state in (BroadcastTask.State.DONE, BroadcastTask.State.FAILED)
        progress = {"total": task.matched, "done": task.delivered + task.failed,
                    "delivered": task.delivered, "failed": task.failed,
                    "state": task.state, "finished": ended}
        return TemplateResponse(request, "admin/messaging/send_progress.html", self._context(
            request, title="Sending to an audience", kind="push", ident=task_id,
            progress=progress, refresh=not ended))
