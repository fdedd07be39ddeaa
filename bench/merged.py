"""What a merged message whose list is stored apart costs (messaging/merged.py).

In process, against the database DATABASE_URL names (migrated first; it writes users
alice-m*/bob-m*/carol-m* and their messages): the send pipeline
(`messaging.services.message_send`) for a text and for a merged message of the
largest list allowed (200 KB), its statements; `downloadMergerMessage`'s service for
that list; the read check through a chain of nested lists (each list holding the key
of the one before, the reader holding only the outermost); a recall that deletes a
200 KB list. Medians of `--runs`, in milliseconds; prints JSON.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley_bench_merged \\
    SECRET_KEY=x CHAT_SECRET_KEY=y python bench/merged.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")


def _ms(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for i in range(runs):
        start = time.perf_counter()
        result = fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--depths", default="1,10,50")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from accounts.services import user_get_or_register
    from messaging import changes, merged
    from messaging.commands import Origin
    from messaging.elements import MAX_MERGED_BYTES, json_size
    from messaging.models import Message
    from messaging.services import message_send
    from messaging.views import parse_message_id

    tag = str(int(time.time()))
    alice, bob, carol = (user_get_or_register(user_id=f"{u}-m{tag}")
                         for u in ("alice", "bob", "carol"))
    text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
    messages = [{"ID": f"m-{i}", "elements": [{"type": "TIMTextElem",
                                               "payload": {"text": "x" * 1000}}]}
                for i in range(190)]
    messages[-1]["elements"][0]["payload"]["text"] += "y" * (MAX_MERGED_BYTES
                                                             - json_size(messages))
    assert json_size(messages) == MAX_MERGED_BYTES

    def relay(payload):
        return [{"type": "TIMRelayElem", "payload": {"title": "t", "compatibleText": "c",
                                                     **payload}}]

    def send(sender, to, elements, random):
        return message_send(origin=Origin.USER, sender=sender, to=to.user_id,
                            elements=elements, random=random)

    out: dict = {"runs": args.runs, "list_bytes": json_size(messages)}
    out["send_text_ms"], _ = _ms(lambda i: send(alice, bob, text, 10_000 + i), args.runs)
    out["send_200kb_merged_ms"], sent = _ms(
        lambda i: send(alice, bob, relay({"messageList": messages}), 20_000 + i), args.runs)
    with CaptureQueriesContext(connection) as queries:
        send(alice, bob, relay({"messageList": messages}), 29_999)
    out["send_200kb_merged_statements"] = len(queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        send(alice, bob, text, 19_999)
    out["send_text_statements"] = len(queries.captured_queries)
    key = sent["elements"][0]["payload"]["downloadKey"]
    out["download_200kb_ms"], _ = _ms(
        lambda i: merged.access_merged_list(user=bob, download_key=key), args.runs)

    # A chain: list k nests list k-1; carol has only the outermost.
    depths = sorted(int(d) for d in args.depths.split(","))
    small = [{"elements": [{"type": "TIMTextElem", "payload": {"text": "z" * 200}}]}] * 60
    inner = send(alice, bob, relay({"messageList": small}), 30_000)
    keys = [inner["elements"][0]["payload"]["downloadKey"]]
    for level in range(1, depths[-1] + 1):
        to = carol if level in depths else bob
        m = send(alice, to, relay({"messageList": small + [{"elements": relay(
            {"downloadKey": keys[-1]})}]}), 30_000 + level)
        keys.append(m["elements"][0]["payload"]["downloadKey"])
        if level in depths:  # carol reads the innermost through `level` lists
            out[f"read_check_through_{level}_nested_ms"], readable = _ms(
                lambda i: merged.readable_keys(carol.pk, [keys[0]]), args.runs)
            assert readable == {keys[0]}
            # Hidden from carol (the lists stay), so the next depth is read through all.
            Message.objects.filter(pk=parse_message_id(m["ID"])).update(
                deleted_by_receiver=True)

    texts = [send(alice, bob, text, 50_000 + i)["ID"] for i in range(5)]
    out["recall_text_ms"], _ = _ms(
        lambda i: changes.message_revoke(message_pk=parse_message_id(texts[i]),
                                         actor=None), 5)
    to_recall = [send(alice, bob, relay({"messageList": messages}), 40_000 + i)["ID"]
                 for i in range(5)]
    out["recall_with_200kb_list_ms"], _ = _ms(
        lambda i: changes.message_revoke(message_pk=parse_message_id(to_recall[i]),
                                         actor=None), 5)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
