"""Offline-push vendors behind one interface (base.py); one module per vendor.

A vendor module defines a `Provider` subclass decorated with `base.register`;
`load_all` imports every module named in `MODULES` once.
"""

import importlib

MODULES = ("apns", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "meizu", "webpush")

_loaded = False


def load_all() -> None:
    global _loaded
    if not _loaded:
        for name in MODULES:
            importlib.import_module(f"{__name__}.{name}")
        _loaded = True
