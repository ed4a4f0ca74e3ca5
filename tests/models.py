from django.db import models


class Visit(models.Model):
    """A row written by a stamped view: proves how many times its body ran."""

    ticket_uuid = models.UUIDField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"visit with {self.ticket_uuid}"
