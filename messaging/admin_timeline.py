"""The operator console's conversation pages (under /admin/messaging/message/):

- timeline/<user>/<peer>/: the dialog between two users as stored, newest first, 50 a
  page (keyset on seq: ?before=<seq>), every element rendered (console_render), with a
  search box (messaging/search.py) and a recall button per message. Needs
  messaging.view_message (support and operator).
- timeline/<user>/<peer>/export/: the dialog as JSON, as `user` sees it through the
  REST history API (views.message_dict), newest first, at most EXPORT_MAX messages a
  file, streamed in chunks of EXPORT_CHUNK; `nextBeforeSeq` starts the next file
  (?before=). Needs messaging.view_message; audited.
- <pk>/recall/: POST only, recalls one message through changes.message_revoke (as
  the app admin, as the list's "Recall" action). Needs accounts.recall_message; audited.

Permissions are checked before anything is looked up, so a refused caller learns
nothing of what exists.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.audit import record
from accounts.models import User
from chat_project.errors import ChatError

from .changes import message_revoke
from .console_render import elements_html
from .models import Conversation, Message
from .search import MAX_TERM
from .selectors import TIMELINE_PAGE, dialog_between, dialog_timeline
from .views import message_dict

VIEW = "messaging.view_message"
RECALL = "accounts.recall_message"
EXPORT_MAX = 10_000
EXPORT_CHUNK = 500


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _before(request) -> int | None:
    raw = request.GET.get("before", "")
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


def _pair(user_pk: int, peer_pk: int) -> tuple[User, User]:
    users = {u.pk: u for u in User.objects.filter(pk__in=[user_pk, peer_pk])}
    if user_pk not in users or peer_pk not in users or user_pk == peer_pk:
        raise Http404("no such pair of users")
    return users[user_pk], users[peer_pk]


def timeline_url(user_pk: int, peer_pk: int) -> str:
    return reverse("admin:messaging_message_timeline", args=[user_pk, peer_pk])


def timeline_view(modeladmin, request, user_pk: int, peer_pk: int):
    _require(request, VIEW)
    user, peer = _pair(user_pk, peer_pk)
    term = request.GET.get("q", "")[:MAX_TERM]
    before = _before(request)
    dialog = dialog_between(user.pk, peer.pk)
    rows, next_before = dialog_timeline(dialog=dialog, before=before, search=term)
    convs = {c.owner_id: c for c in Conversation.objects.filter(
        owner_id__in=[user.pk, peer.pk], peer_id__in=[user.pk, peer.pk])}
    names = {user.pk: user.user_id, peer.pk: peer.user_id}
    items = [{"message": m, "from": names.get(m.sender_id, "?"), "to": names.get(m.receiver_id, "?"),
              "outgoing": m.sender_id == user.pk, "html": elements_html(m.elements)}
             for m in rows]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Conversation {user.user_id} ↔ {peer.user_id}",
        "opts": modeladmin.model._meta,
        "user_obj": user, "peer_obj": peer,
        "items": items, "term": term, "before": before, "next_before": next_before,
        "page_size": TIMELINE_PAGE,
        "can_recall": request.user.has_perm(RECALL),
        "can_view_users": request.user.has_perm("accounts.view_user"),
        "user_conv": convs.get(user.pk), "peer_conv": convs.get(peer.pk),
        "here": request.get_full_path(),
        "swap_url": timeline_url(peer.pk, user.pk),
        "export_url": reverse("admin:messaging_message_export", args=[user.pk, peer.pk]),
    }
    return TemplateResponse(request, "admin/messaging/timeline.html", context)


def _export_rows(user: User, peer: User, dialog, cursor: int | None, size: int,
                 peer_read: int) -> tuple[list[str], int | None]:
    """One chunk of the file: up to `size` messages before `cursor`, as JSON texts."""
    rows, cursor = dialog_timeline(dialog=dialog, before=cursor, size=size)
    names = {user.pk: user.user_id, peer.pk: peer.user_id}
    return [json.dumps(message_dict(m, viewer_pk=user.pk, sender_user_id=names[m.sender_id],
                                    receiver_user_id=names[m.receiver_id],
                                    is_peer_read=m.sender_id == user.pk and m.seq <= peer_read),
                       ensure_ascii=False) for m in rows], cursor


async def _export_chunks(user: User, peer: User, dialog, before: int | None, peer_read: int):
    """The JSON file, a chunk at a time (an async iterator, so the ASGI server sends
    each chunk as it is read instead of buffering the file): at most EXPORT_MAX
    messages, read EXPORT_CHUNK at a time by seq."""
    yield json.dumps({"conversationID": f"C2C{peer.user_id}", "userID": user.user_id,
                      "peerID": peer.user_id})[:-1] + ', "messageList": ['
    sent, cursor, more, first = 0, before, True, True
    while more and sent < EXPORT_MAX:
        size = min(EXPORT_CHUNK, EXPORT_MAX - sent)
        parts, cursor = await sync_to_async(_export_rows)(user, peer, dialog, cursor, size,
                                                          peer_read)
        more = cursor is not None
        sent += len(parts)
        if parts:
            yield ("" if first else ",") + ",".join(parts)
            first = False
    yield "], " + json.dumps({"count": sent, "isCompleted": not more,
                              "nextBeforeSeq": cursor if more else None})[1:]


def export_view(modeladmin, request, user_pk: int, peer_pk: int):
    _require(request, VIEW)
    user, peer = _pair(user_pk, peer_pk)
    before = _before(request)
    dialog = dialog_between(user.pk, peer.pk)
    conv = Conversation.objects.filter(owner=user, peer=peer).first()
    record(request, "export conversation", target=f"{user.user_id} -> {peer.user_id}",
           detail={"user": user.pk, "peer": peer.pk, "before": before, "max": EXPORT_MAX})
    response = StreamingHttpResponse(
        _export_chunks(user, peer, dialog, before, conv.peer_read_seq if conv else 0),
                                     content_type="application/json; charset=utf-8")
    name = f"conversation-{user.pk}-{peer.pk}" + (f"-before-{before}" if before else "")
    response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response


def recall_view(modeladmin, request, pk: int):
    _require(request, RECALL)
    if request.method != "POST":
        raise PermissionDenied  # a recall is a POST with the CSRF token, never a link
    msg = Message.objects.filter(pk=pk).select_related("sender", "receiver").first()
    if msg is None:
        raise Http404("no such message")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = timeline_url(msg.sender_id, msg.receiver_id)
    try:
        message_revoke(message_pk=msg.pk, actor=None, platform="RESTAPI", time_limit=False)
    except ChatError as exc:
        modeladmin.message_user(request, f"Not recalled: {exc.message} ({exc.code})",
                                level="WARNING")
        return HttpResponseRedirect(back)
    record(request, "recall", target=f"{msg.sender.user_id} -> {msg.receiver.user_id}",
           detail={"model": "messaging.message", "pk": msg.pk, "id": msg.public_id,
                   "seq": msg.seq})
    modeladmin.message_user(request, f"Recalled message {msg.public_id}.")
    return HttpResponseRedirect(back)
