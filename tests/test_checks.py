"""System checks: each warning fires on its misconfiguration and stays quiet otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_ticketoffice.checks import TAG


class CustomSessionMiddleware(SessionMiddleware):
    """A project's own session middleware still provides sessions."""


def ids() -> list[str]:
    """Ids of the ticketoffice messages of a full check run."""
    return [
        message.id
        for message in checks.run_checks(tags=[TAG])
        if message.id and message.id.startswith("ticketoffice.")
    ]


@pytest.fixture
def quiet(settings):
    """A correct deployment: a shared Redis stamp cache, sessions, default settings."""
    settings.TICKETOFFICE_CACHE = "redis"
    return settings


def test_correct_settings_are_quiet(quiet):
    assert ids() == []
    call_command("check", "--tag", TAG)  # raises SystemCheckError on any error


def test_every_message_has_an_id_and_a_hint(settings):
    settings.TICKETOFFICE_CACHE = "missing"
    settings.TICKETOFFICE_CACHE_FAILURE = "open"
    settings.TICKETOFFICE_URLS = ["louvre"]
    messages = [m for m in checks.run_checks(tags=[TAG]) if m.id.startswith("ticketoffice.")]
    assert sorted(m.id for m in messages) == [
        "ticketoffice.E001",
        "ticketoffice.W005",
        "ticketoffice.W007",
    ]
    for message in messages:
        expected = checks.Error if message.id.startswith("ticketoffice.E") else checks.Warning
        assert type(message) is expected
        assert message.hint
        assert message.msg


# Errors: each would break every request of some kind. -------------------------------


def test_e001_missing_cache_alias(quiet):
    quiet.TICKETOFFICE_CACHE = "stamps"
    messages = checks.run_checks(tags=[TAG])
    assert [m.id for m in messages] == ["ticketoffice.E001"]
    assert messages[0].level == checks.ERROR
    assert "'stamps'" in messages[0].msg
    assert "CACHES" in messages[0].hint
    assert "'default'" in messages[0].hint and "'redis'" in messages[0].hint


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("secrets.token_urlsafe", "not a 3-tuple"),
        (("secrets.token_urlsafe", [16]), "not a 3-tuple"),
        (("secrets.token_urlsafe", 16, {}), "args a list"),
        (("secrets.token_urlsafe", [16], []), "kwargs must be a dict"),
        (("secrets.no_such_function", [], {}), "does not import"),
        (("no_such_module.generate", [], {}), "does not import"),
        (("secrets.DEFAULT_ENTROPY", [], {}), "is not callable"),
        # Tokens over the 256 characters that read_token() accepts: always refused.
        (("secrets.token_hex", [100], {}), "tokens of 272 characters, over the 256"),
        (("secrets.token_hex", [-1], {}), "calling it raised ValueError"),
    ],
)
def test_e002_malformed_password_generator(quiet, value, detail):
    quiet.TICKETOFFICE_PASSWORD_GENERATOR = value
    messages = checks.run_checks(tags=[TAG])
    assert [m.id for m in messages] == ["ticketoffice.E002"]
    assert messages[0].level == checks.ERROR
    assert detail in messages[0].msg
    assert '("secrets.token_urlsafe", [16], {})' in messages[0].hint


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("myproject.views.refuse", "does not import"),
        ("django_ticketoffice.views.no_such_handler", "does not import"),
        ("django_ticketoffice.views.TEMPLATES", "is not callable"),
        (42, "not a callable"),
    ],
)
def test_e003_unusable_refusal_handler(quiet, value, detail):
    quiet.TICKETOFFICE_REFUSAL_HANDLER = value
    messages = checks.run_checks(tags=[TAG])
    assert [m.id for m in messages] == ["ticketoffice.E003"]
    assert detail in messages[0].msg
    assert "handler(request, error)" in messages[0].hint


@pytest.mark.parametrize(
    "value", ["example.com", "//example.com", "ftp://example.com", "https://", 42, b"x"]
)
def test_e004_base_url_without_scheme_or_host(quiet, value):
    quiet.TICKETOFFICE_BASE_URL = value
    messages = checks.run_checks(tags=[TAG])
    assert [m.id for m in messages] == ["ticketoffice.E004"]
    assert "https://example.com" in messages[0].hint


@pytest.mark.parametrize("value", [0, -60, "7d", timedelta(0), True])
def test_e005_unusable_default_lifetime(quiet, value):
    quiet.TICKETOFFICE_DEFAULT_LIFETIME = value
    assert ids() == ["ticketoffice.E005"]


@pytest.mark.parametrize("value", [None, 3600, 0.5, timedelta(hours=1)])
def test_usable_default_lifetimes_are_quiet(quiet, value):
    quiet.TICKETOFFICE_DEFAULT_LIFETIME = value
    assert ids() == []


def test_errors_stop_the_check_command(quiet, capsys):
    quiet.TICKETOFFICE_BASE_URL = "museum.example.com"
    with pytest.raises(SystemCheckError, match=r"ticketoffice\.E004"):
        call_command("check", "--tag", TAG)


@pytest.mark.parametrize(
    "value",
    [["/again/"], {"louvre": "/again/"}, {"*": ""}, {"louvre:visit": None}, 42, ""],
)
def test_w011_malformed_new_link_urls(quiet, value):
    quiet.TICKETOFFICE_NEW_LINK_URLS = value
    assert ids() == ["ticketoffice.W011"]


@pytest.mark.parametrize(
    "value", [None, "ask-again", "/again/", {"louvre:visit": "ask-again", "*": "https://x.org/"}]
)
def test_good_new_link_urls_are_quiet(quiet, value):
    quiet.TICKETOFFICE_NEW_LINK_URLS = value
    assert ids() == []


# Warnings: what still works, worse. ---------------------------------------------------


OVERRIDING_DATABASES = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@OVERRIDING_DATABASES
def test_w002_local_memory_cache_with_a_shared_database(quiet):
    quiet.TICKETOFFICE_CACHE = "default"  # LocMemCache in the test settings
    quiet.DATABASES = {
        **quiet.DATABASES,
        "shared": {"ENGINE": "django.db.backends.postgresql", "NAME": "app"},
    }
    assert ids() == ["ticketoffice.W002"]


@OVERRIDING_DATABASES
def test_w002_quiet_with_sqlite_only(quiet):
    quiet.TICKETOFFICE_CACHE = "default"
    quiet.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    assert ids() == []


def test_w003_redirect_without_session_middleware(quiet):
    quiet.MIDDLEWARE = [
        m for m in quiet.MIDDLEWARE if m != "django.contrib.sessions.middleware.SessionMiddleware"
    ]
    assert "ticketoffice.W003" in ids()
    quiet.TICKETOFFICE_REDIRECT = False
    assert "ticketoffice.W003" not in ids()


def test_w003_accepts_a_session_middleware_subclass(quiet):
    quiet.MIDDLEWARE = [
        f"{__name__}.CustomSessionMiddleware" if "SessionMiddleware" in m else m
        for m in quiet.MIDDLEWARE
    ]
    assert "ticketoffice.W003" not in ids()


def test_w004_ignore_exceptions(quiet):
    ignoring = {**quiet.CACHES["redis"]}
    ignoring["OPTIONS"] = {**ignoring["OPTIONS"], "IGNORE_EXCEPTIONS": True}
    quiet.CACHES = {**quiet.CACHES, "ignoring": ignoring}
    quiet.TICKETOFFICE_CACHE = "ignoring"
    assert ids() == ["ticketoffice.W004"]


def test_w004_global_ignore_exceptions(quiet):
    quiet.DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    assert ids() == ["ticketoffice.W004"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CACHE_FAILURE", "open", "ticketoffice.W005"),
        ("CACHE_FAILURE", None, "ticketoffice.W005"),
        ("URLS", [("louvre:visit", "louvre")], "ticketoffice.W007"),
        ("URLS", {"louvre": "louvre"}, "ticketoffice.W007"),
        ("URLS", {"louvre:visit": None}, "ticketoffice.W007"),
        ("STAMP_TTL", 0, "ticketoffice.W008"),
        ("STAMP_TTL", -5, "ticketoffice.W008"),
        ("STAMP_TTL", "30d", "ticketoffice.W008"),
        ("STAMP_TTL", 1.5, "ticketoffice.W008"),
        ("STAMP_TTL", True, "ticketoffice.W008"),
        ("CLAIM_TTL", None, "ticketoffice.W008"),
        ("CACHE_RETRY_INTERVAL", 0, "ticketoffice.W008"),
        ("TOKEN_PARAMETER", "", "ticketoffice.W009"),
        ("REDIRECT", "yes", "ticketoffice.W009"),
        ("CACHE_KEY_PREFIX", None, "ticketoffice.W009"),
        ("SECRET_KEY", b"bytes", "ticketoffice.W009"),
        ("SECRET_KEY_FALLBACKS", "one-key", "ticketoffice.W009"),
        ("REDIS", "10.0.0.5:6379", "ticketoffice.W009"),
        ("REDIS", {"CLUSTER": "redis://10.0.0.1:6379"}, "ticketoffice.W009"),
    ],
)
def test_wrong_setting_types(quiet, name, value, expected):
    setattr(quiet, f"TICKETOFFICE_{name}", value)
    messages = [m for m in checks.run_checks(tags=[TAG]) if m.id == expected]
    assert len(messages) == 1, ids()
    assert f"TICKETOFFICE_{name}" in messages[0].msg
    assert messages[0].hint
    assert set(ids()) == {expected}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CACHE_FAILURE", "closed"),
        ("PASSWORD_GENERATOR", ["django_ticketoffice.utils.random_password", [], {}]),
        ("URLS", {"louvre:visit": "louvre", ":": "/anywhere/"}),
        ("STAMP_TTL", 3600),
        ("CACHE_RETRY_INTERVAL", 0.5),
        ("BASE_URL", "https://example.com"),
        ("SECRET_KEY", "dedicated"),
        ("SECRET_KEY_FALLBACKS", ("old",)),
        ("REFUSAL_HANDLER", "django_ticketoffice.views.refuse"),
        ("REDIS", "redis://10.0.0.5:6379/0"),
        ("REDIS", {"CLUSTER": ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]}),
    ],
)
def test_right_setting_types_are_quiet(quiet, name, value):
    setattr(quiet, f"TICKETOFFICE_{name}", value)
    assert ids() == []


def test_own_redis_makes_the_cache_alias_irrelevant(settings):
    # A local-memory TICKETOFFICE_CACHE next to a shared database would warn
    # (W002), and a missing alias is an error (E001); neither matters once the
    # stamps have their own Redis.
    settings.TICKETOFFICE_CACHE = "missing"
    assert "ticketoffice.E001" in ids()
    settings.TICKETOFFICE_REDIS = "redis://10.0.0.5:6379/0"
    assert ids() == []


def test_w010_unknown_setting(quiet):
    quiet.TICKETOFFICE_URL = {"louvre:visit": "louvre"}
    messages = checks.run_checks(tags=[TAG])
    assert [m.id for m in messages] == ["ticketoffice.W010"]
    assert "TICKETOFFICE_URL " in messages[0].msg
    assert "TICKETOFFICE_URLS" in messages[0].hint


def test_warnings_do_not_stop_the_check_command(quiet, capsys):
    quiet.TICKETOFFICE_CACHE_FAILURE = "open"
    call_command("check", "--tag", TAG)
    assert "ticketoffice.W005" in capsys.readouterr().err
    with pytest.raises(SystemCheckError):
        call_command("check", "--tag", TAG, "--fail-level", "WARNING")


def test_malformed_caches_entry_does_not_crash_the_checks(settings):
    from django_ticketoffice.checks import check_cache

    settings.CACHES = {**settings.CACHES, "broken": "redis://127.0.0.1"}
    settings.TICKETOFFICE_CACHE = "broken"
    assert check_cache() == []
