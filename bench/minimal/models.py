from django.db import models


class Note(models.Model):
    """One chat message, as little as a chat server stores."""

    sender = models.CharField(max_length=32)
    receiver = models.CharField(max_length=32)
    body = models.TextField()
    custom = models.TextField(default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "minimal"

    def __str__(self) -> str:
        return f"{self.sender} -> {self.receiver}: {self.body[:40]}"
