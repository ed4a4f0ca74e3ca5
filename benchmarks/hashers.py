"""A cheap PBKDF2 for the test suite's tiny run only: the same design, 1,000 iterations."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class TinyPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """0.2's design at 1,000 iterations, so that ``--tiny`` stays fast (numbers mean nothing)."""

    iterations = 1000
