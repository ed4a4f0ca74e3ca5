"""The hand-written floor's model: what a team would write without the library.

Fixed in advance and never changed with the library, so that the floor does
not move when the library's schema does: a uuid with a unique index, the
SHA-256 of the secret, the state columns, and no other index.
"""

from __future__ import annotations

import uuid

from django.db import models


class Invitation(models.Model):
    """A one-shot invitation, checked and consumed by hand-written ORM code."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    place = models.CharField(max_length=50)
    purpose = models.CharField(max_length=50)
    secret_hash = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True)
    used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"invitation {self.uuid}"
