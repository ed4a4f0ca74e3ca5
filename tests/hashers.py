"""A real password hasher that counts its runs (tests/test_seams.py, tests/test_attempts.py)."""

import threading

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingMD5PasswordHasher(MD5PasswordHasher):
    """Django's MD5 hasher, counting how often it hashes, and with which salts.

    A check of a stored hash runs with that hash's salt; a dummy run (an
    unknown uuid, a locked ticket) with a fresh one.
    """

    runs = 0
    salts: list[str] = []
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.runs = 0
            cls.salts = []

    def encode(self, password, salt):
        cls = type(self)
        with cls._lock:
            cls.runs += 1
            cls.salts.append(salt)
        return super().encode(password, salt)
