from django.db import models


class Visit(models.Model):
    """A row written by a stamped view: proves how many times its body ran."""

    ticket_uuid = models.UUIDField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"visit with {self.ticket_uuid}"


class Pass(models.Model):
    """Another model with a uuid, its own table and fields: statements compile per model."""

    uuid = models.UUIDField(unique=True)
    note = models.CharField(max_length=50)

    class Meta:
        db_table = "tests_custom_pass"

    def __str__(self) -> str:
        return f"pass {self.uuid}"
