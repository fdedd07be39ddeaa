"""Messages' offline-push settings in the one stored shape (push/offline_info.py):
rows written before it hold the /v4 names (PushFlag, Desc, ...) or the Web SDK's.
Data only; batched on the primary key."""

from django.db import migrations


def convert(apps, schema_editor):
    from push.offline_info import from_any_stored

    Message = apps.get_model("messaging", "Message")
    last = 0
    while True:
        rows = list(Message.objects.filter(pk__gt=last, offline_push_info__isnull=False)
                    .order_by("pk").values_list("pk", "offline_push_info")[:2000])
        if not rows:
            break
        for pk, info in rows:
            new = from_any_stored(info)
            if new != info:
                Message.objects.filter(pk=pk).update(offline_push_info=new)
        last = rows[-1][0]
    BroadcastTask = apps.get_model("push", "BroadcastTask")
    for pk, info in BroadcastTask.objects.filter(offline_push_info__isnull=False) \
            .values_list("pk", "offline_push_info"):
        new = from_any_stored(info)
        if new != info:
            BroadcastTask.objects.filter(pk=pk).update(offline_push_info=new)


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0010_conversation_remind_type"),
        ("push", "0001_initial"),
    ]

    operations = [migrations.RunPython(convert, migrations.RunPython.noop)]
