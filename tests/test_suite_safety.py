"""The suite never deletes Redis keys it did not write."""

from __future__ import annotations

import pytest

from tests import conftest


def test_refuses_a_database_holding_foreign_keys(redis, monkeypatch):
    monkeypatch.setattr(conftest, "_checked_databases", set())
    redis.set("someone-elses-key", "precious")
    try:
        with pytest.raises(pytest.fail.Exception, match="did not write"):
            conftest.flush_test_redis(redis)
        assert redis.get("someone-elses-key") == b"precious"
    finally:
        redis.delete("someone-elses-key")


def test_deletes_only_the_suites_keys(redis, monkeypatch, settings):
    redis.set(f"{settings.TEST_KEY_PREFIX}:stamp", "used")
    conftest.flush_test_redis(redis)  # the database was checked once already
    assert redis.dbsize() == 0
    # Even past the first check, a key without the prefix survives.
    redis.set("arrived-later", "1")
    try:
        conftest.flush_test_redis(redis)
        assert redis.get("arrived-later") == b"1"
    finally:
        redis.delete("arrived-later")
