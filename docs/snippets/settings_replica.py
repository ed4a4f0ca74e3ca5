"""PostgreSQL with a streaming replica, and a router that sends reads to it."""

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "myproject",
        "USER": "myproject",
        "HOST": "db-primary.internal",
        "PORT": 5432,
    },
    "replica": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "myproject",
        "USER": "myproject",
        "HOST": "db-replica.internal",
        "PORT": 5432,
        # Tests run against the primary's test database.
        "TEST": {"MIRROR": "default"},
    },
}

# The router of routers.py, at its place in your project.
DATABASE_ROUTERS = ["myproject.routers.PrimaryReplicaRouter"]
