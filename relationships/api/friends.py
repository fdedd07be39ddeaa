"""REST views for friends (filled in by issue 3)."""

urlpatterns: list = []
