from __future__ import annotations

from django.db import models


class InboxMessage(models.Model):
    """A callback the demo bot platform received: what its customer would be shown."""

    webhook_id = models.CharField(max_length=64, unique=True)
    integration_id = models.PositiveIntegerField()
    external_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=40)
    text = models.TextField(blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.external_id}"
