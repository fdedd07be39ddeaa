"""/v4 all_member_push tag and attribute commands (tencent-rest.md §10); see
chat_project/v4.py for the transport. im_push itself sends messages, so it lives in
messaging/v4_push.py.

| command | request | answer |
| --- | --- | --- |
| im_set_attr_name | AttrNames {"0": "sex", ...} (slots 0-9, names <= 50 B) | |
| im_get_attr_name | {} | AttrNames |
| im_set_attr | UserAttrs [{To_Account, Attrs {name: value}}] | |
| im_get_attr | To_Account [...] | UserAttrs [{To_Account, Attrs}] |
| im_remove_attr | UserAttrs [{To_Account, Attrs [name, ...]}] | |
| im_add_tag | UserTags [{To_Account, Tags [...]}] | |
| im_get_tag | To_Account [...] | UserTags [{To_Account, Tags}] |
| im_remove_tag | UserTags [{To_Account, Tags [...]}] | |
| im_remove_all_tags | To_Account [...] | |

At most 100 accounts per request (90018); every named account must exist (70107);
a request is all or nothing. Codes: push/services.py.
"""

from chat_project.v4 import command

from . import selectors, services

SERVICE = "all_member_push"
LIMIT = 100  # requests per second, as Tencent's


@command(SERVICE, "im_set_attr_name", limit=LIMIT)
def im_set_attr_name(req, body):
    services.attr_names_set(body.get("AttrNames"))
    return {}


@command(SERVICE, "im_get_attr_name", limit=LIMIT)
def im_get_attr_name(req, body):
    return {"AttrNames": selectors.attr_names()}


@command(SERVICE, "im_set_attr", limit=LIMIT)
def im_set_attr(req, body):
    services.user_attrs_set(entries=body.get("UserAttrs"))
    return {}


@command(SERVICE, "im_get_attr", limit=LIMIT)
def im_get_attr(req, body):
    user_ids = body.get("To_Account")
    users = services.check_accounts(user_ids)
    return {"UserAttrs": selectors.user_attrs(users, user_ids)}


@command(SERVICE, "im_remove_attr", limit=LIMIT)
def im_remove_attr(req, body):
    services.user_attrs_remove(entries=body.get("UserAttrs"))
    return {}


@command(SERVICE, "im_add_tag", limit=LIMIT)
def im_add_tag(req, body):
    services.user_tags_add(entries=body.get("UserTags"))
    return {}


@command(SERVICE, "im_get_tag", limit=LIMIT)
def im_get_tag(req, body):
    user_ids = body.get("To_Account")
    users = services.check_accounts(user_ids)
    return {"UserTags": selectors.user_tags(users, user_ids)}


@command(SERVICE, "im_remove_tag", limit=LIMIT)
def im_remove_tag(req, body):
    services.user_tags_remove(entries=body.get("UserTags"))
    return {}


@command(SERVICE, "im_remove_all_tags", limit=LIMIT)
def im_remove_all_tags(req, body):
    services.user_tags_clear(user_ids=body.get("To_Account"))
    return {}
