"""PostgreSQL behind PgBouncer in transaction pooling mode."""

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "myproject",
        "USER": "myproject",
        # PgBouncer, not PostgreSQL.
        "HOST": "pgbouncer.internal",
        "PORT": 6432,
        # Persistent client connections to PgBouncer, checked before reuse, so a
        # PgBouncer restart costs the requests in flight, not every thread's next one.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # A server-side cursor (QuerySet.iterator()) outlives the transaction
        # that PgBouncer lends a server connection for.
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {
            # Django's default with psycopg 3: parameters bound on the client,
            # no prepared statements, which PgBouncer < 1.21 cannot route.
            "server_side_binding": False,
        },
    },
}
