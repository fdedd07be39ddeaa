"""The web UI's chat page; everything live goes over the WebSocket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def chat(request):
    me = request.user
    # Read by static/parley/chat.js (rendered with json_script, so it is escaped).
    config = {"userID": me.user_id, "nick": me.nick, "avatar": me.avatar,
              # how long one's own messages can be recalled (the Recall button's window)
              "recallSeconds": settings.CHAT_RECALL_SECONDS,
              # the largest message body, as the server counts it (93000 past it)
              "maxContentBytes": settings.CHAT_MAX_CONTENT_BYTES}
    return render(request, "messaging/chat.html", {"me": me, "parley_config": config})
