"""A primary/replica database router: reads from the replica, writes to the primary.

django-ticketoffice reads tickets through the router's *write* database
(``Ticket.objects.primary()``), so ticket checks and claims always run on the
primary, whatever ``db_for_read`` says. The admin's lists use ``db_for_read``.
"""


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both databases hold the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"  # the replica follows by streaming replication
