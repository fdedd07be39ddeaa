"""The web UI's chat page; everything live goes over the WebSocket."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def chat(request):
    return render(request, "messaging/chat.html", {"me": request.user})
