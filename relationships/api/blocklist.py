"""REST views for blocklist (filled in by issue 3)."""

urlpatterns: list = []
