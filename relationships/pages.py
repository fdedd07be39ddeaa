"""The web UI's pages for contacts, friend requests, the blocklist and my profile.

The views only render the shell; the page's script (static/parley/*.js) does the rest
over the WebSocket, through the JS SDK.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def _page(request, template: str, active: str):
    me = request.user
    # Read by the page's script (rendered with json_script, so it is escaped).
    config = {"userID": me.user_id, "nick": me.nick, "avatar": me.avatar}
    return render(request, template, {"active": active, "parley_config": config})


@login_required
def contacts(request):
    return _page(request, "relationships/contacts.html", "contacts")


@login_required
def friend_requests(request):
    return _page(request, "relationships/requests.html", "requests")


@login_required
def blocklist(request):
    return _page(request, "relationships/blocklist.html", "blocklist")


@login_required
def my_profile(request):
    return _page(request, "relationships/profile.html", "profile")
