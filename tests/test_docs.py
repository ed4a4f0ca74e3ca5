"""Every code snippet of the documentation runs here.

The pages include ``docs/snippets/*.py`` with ``literalinclude``; these tests
import every snippet and drive its views through the Django test client.
"""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import override_settings
from django.utils import timezone

from django_ticketoffice import conf, stamps
from django_ticketoffice.exceptions import CredentialsError
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import make_token, read_token

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SNIPPETS = sorted(path.stem for path in (DOCS / "snippets").glob("*.py") if path.stem != "__init__")
# Pages written by other work streams may carry their own examples.
OWN_PAGES = sorted(
    path
    for path in DOCS.rglob("*.rst")
    if "_build" not in path.parts
    and "benchmarks" not in path.parts
    and path.name not in {"design.rst", "operations.rst"}
)

pytestmark = pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer")


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# Every snippet is valid, importable Python, and every page's code comes from one.


@pytest.mark.parametrize("name", SNIPPETS)
def test_snippet_imports(name):
    module = importlib.import_module(f"docs.snippets.{name}")
    assert module.__doc__, f"docs/snippets/{name}.py needs a docstring"


@pytest.mark.parametrize("name", SNIPPETS)
def test_snippet_is_included_by_a_page(name):
    pages = "\n".join(page.read_text() for page in OWN_PAGES)
    assert f"snippets/{name}.py" in pages, f"no page includes docs/snippets/{name}.py"


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda page: page.name)
def test_pages_have_no_untested_python(page):
    text = page.read_text()
    assert not re.search(r"\.\. (code-block|code|sourcecode):: *(python|py|pycon)\b", text), (
        f"{page.name}: put Python examples in docs/snippets/ and literalinclude them"
    )
    for match in re.finditer(r"literalinclude:: *(\S+)\n((?:[ \t]+:[^\n]*\n)*)", text):
        source = page.parent / match.group(1)
        assert source.exists(), match.group(0)
        # Markers that no longer exist would silently include the whole file.
        for marker in re.findall(
            r":(?:start-after|start-at|end-before|end-at): *([^\n]+)", match.group(2)
        ):
            assert marker.strip() in source.read_text(), f"{page.name}: {marker} not found"


# Settings -----------------------------------------------------------------


def test_settings_reference_lists_every_setting_with_its_default():
    from docs.snippets import settings_reference

    documented = {
        name.removeprefix("TICKETOFFICE_"): getattr(settings_reference, name)
        for name in dir(settings_reference)
        if name.startswith("TICKETOFFICE_")
    }
    assert documented == conf.DEFAULTS


def test_configuration_page_names_every_setting():
    text = (DOCS / "configuration.rst").read_text()
    for name in conf.DEFAULTS:
        assert f"TICKETOFFICE_{name}" in text, name


def test_install_settings():
    from docs.snippets import settings_install

    assert "django_ticketoffice" in settings_install.INSTALLED_APPS
    assert "django.contrib.sessions" in settings_install.INSTALLED_APPS
    middleware = settings_install.MIDDLEWARE
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") < (
        middleware.index("django.middleware.csrf.CsrfViewMiddleware")
    )


def test_new_link_settings_pass_the_checks(settings):
    from django.core import checks

    from docs.snippets import settings_new_link

    settings.TICKETOFFICE_NEW_LINK_URLS = settings_new_link.TICKETOFFICE_NEW_LINK_URLS
    found = checks.run_checks(tags=["ticketoffice"])
    assert not [m for m in found if m.id == "ticketoffice.W011" or m.is_serious()]


def test_redis_settings_select_the_redis_store(settings, redis):
    from docs.snippets import settings_redis

    caches = {**settings_redis.CACHES}
    caches["tickets"] = {**caches["tickets"], "LOCATION": settings.REDIS_URL}
    with override_settings(CACHES=caches, TICKETOFFICE_CACHE=settings_redis.TICKETOFFICE_CACHE):
        store = stamps.get_store()
        assert isinstance(store, stamps.RedisStampStore)
        ticket = Ticket(place="museum", purpose="visit")
        store.stamp(ticket.uuid, stamps.USED, None)
        assert store.lookup(ticket.uuid) == stamps.USED


def test_sentinel_settings_name_real_classes():
    from django.utils.module_loading import import_string

    from docs.snippets import settings_sentinel

    options = settings_sentinel.CACHES["tickets"]["OPTIONS"]
    import_string(options["CLIENT_CLASS"])
    import_string(options["CONNECTION_FACTORY"])
    assert settings_sentinel.CACHES["tickets"]["LOCATION"].startswith("redis://")


def test_builtin_redis_settings_select_the_raw_store(settings, redis):
    from docs.snippets import settings_builtin_redis

    caches = {**settings_builtin_redis.CACHES}
    # The primary here; the "replica" on a closed port is never read for stamps.
    caches["tickets"] = {
        **caches["tickets"],
        "LOCATION": [settings.REDIS_URL, "redis://127.0.0.1:1/0"],
    }
    with override_settings(
        CACHES=caches, TICKETOFFICE_CACHE=settings_builtin_redis.TICKETOFFICE_CACHE
    ):
        store = stamps.get_store()
        assert isinstance(store, stamps.RedisStampStore)
        ticket = Ticket(place="museum", purpose="visit")
        store.stamp(ticket.uuid, stamps.USED, None)
        assert store.lookup(ticket.uuid) == stamps.USED
        assert redis.get(store.key(ticket.uuid)) == b"used"


def test_ticketoffice_redis_snippets_are_well_formed():
    from django_ticketoffice.stamps.redis_clients import setting_problem
    from docs.snippets import settings_cluster, settings_reference, settings_sentinel_setting

    for snippet in (settings_cluster, settings_sentinel_setting, settings_reference):
        assert setting_problem(snippet.TICKETOFFICE_REDIS) is None, snippet.__name__


def test_valkey_cluster_settings_name_a_real_backend():
    pytest.importorskip("django_valkey")
    from django.utils.module_loading import import_string

    from docs.snippets import settings_cluster_valkey

    config = settings_cluster_valkey.CACHES[settings_cluster_valkey.TICKETOFFICE_CACHE]
    import_string(config["BACKEND"])


def test_replica_settings_route_tickets_to_the_primary():
    from django.utils.module_loading import import_string

    from django_ticketoffice.models import Ticket as TicketModel
    from docs.snippets import routers, settings_replica

    assert set(settings_replica.DATABASES) == {"default", "replica"}
    (path,) = settings_replica.DATABASE_ROUTERS
    assert path.rsplit(".", 1)[1] == "PrimaryReplicaRouter"
    router = import_string(f"docs.snippets.routers.{path.rsplit('.', 1)[1]}")()
    assert isinstance(router, routers.PrimaryReplicaRouter)
    assert router.db_for_write(TicketModel) == "default"
    assert router.db_for_read(TicketModel) == "replica"
    assert router.allow_migrate("replica", "django_ticketoffice") is False


def test_pgbouncer_settings_avoid_prepared_statements():
    from docs.snippets import settings_pgbouncer

    database = settings_pgbouncer.DATABASES["default"]
    assert database["OPTIONS"]["server_side_binding"] is False
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True


@pytest.mark.django_db
def test_key_rotation_keeps_old_links_valid(settings):
    from docs.snippets import key_rotation

    ticket = Ticket.objects.create(place="museum", purpose="visit")
    secret = ticket.generate_password()
    with override_settings(SECRET_KEY=key_rotation.SECRET_KEY_FALLBACKS[0]):
        old_token = make_token(ticket, secret)
    with override_settings(
        SECRET_KEY=key_rotation.SECRET_KEY, SECRET_KEY_FALLBACKS=key_rotation.SECRET_KEY_FALLBACKS
    ):
        assert read_token(old_token, "museum", "visit").uuid == ticket.uuid
    with (
        override_settings(SECRET_KEY=key_rotation.SECRET_KEY, SECRET_KEY_FALLBACKS=[]),
        pytest.raises(CredentialsError),
    ):
        read_token(old_token, "museum", "visit")


# Rendering -------------------------------------------------------------------------
# (The tutorial and the quick start are built as projects: tests/test_doc_projects.py.)


def test_linter_comments_are_stripped_from_the_pages():
    from docutils import nodes
    from docutils.utils import new_document

    from docs.sphinx_strip_noqa import _strip_literal_blocks, strip_noqa

    source = (DOCS / "snippets" / "settings_reference.py").read_text()
    assert "# noqa: S105" in source
    assert "noqa" not in strip_noqa(source)
    assert strip_noqa(source).count("\n") == source.count("\n")
    assert strip_noqa("from . import checks  # noqa: F401  (registers)\n") == (
        "from . import checks\n"
    )
    assert strip_noqa("x = f()  # type: ignore[misc]\n") == "x = f()\n"
    assert strip_noqa("# a comment about noqa stays\n") == "# a comment about noqa stays\n"
    document = new_document("page")
    document += nodes.literal_block(source, source)
    _strip_literal_blocks(None, document)
    assert "noqa" not in document.astext()


def test_part_markers_are_stripped_from_whole_files():
    """A page that shows a whole module shows it without its ``# [part]`` markers."""
    from docutils import nodes
    from docutils.utils import new_document

    from docs.sphinx_strip_noqa import _strip_literal_blocks, strip_part_markers

    source = (DOCS / "snippets" / "password_reset.py").read_text()
    assert "# [issue]" in source and "# [/confirm]" in source
    shown = strip_part_markers(source)
    assert not re.search(r"^\s*# \[", shown, re.M)
    assert "\n\n\n\n" not in shown  # the blank lines they leave are merged
    # Only marker lines and blank lines go: every other line stays, in order.
    assert [line for line in shown.splitlines() if line.strip()] == [
        line for line in source.splitlines() if line.strip() and not line.startswith("# [")
    ]
    assert strip_part_markers("x = [1]  # [not a marker]\n") == "x = [1]  # [not a marker]\n"
    document = new_document("page")
    document += nodes.literal_block(source, source)
    _strip_literal_blocks(None, document)
    assert "# [issue]" not in document.astext()


def test_docs_use_a_maintained_theme_and_read_the_docs_config():
    conf = (DOCS / "conf.py").read_text()
    assert 'html_theme = "furo"' in conf
    assert "docs.sphinx_strip_noqa" in conf
    rtd = (ROOT / ".readthedocs.yaml").read_text()
    assert "configuration: docs/conf.py" in rtd
    assert "fail_on_warning: true" in rtd
    assert "- docs" in rtd


def test_docs_index_has_an_example():
    index = (DOCS / "index.rst").read_text()
    assert "literalinclude:: examples/quickstart/museum/views.py" in index


# How-to guides ----------------------------------------------------------------
# Their modules, templates and settings are built into a startproject project and
# walked through by tests/test_doc_projects.py (tests/doc_flows/howtos.py); the
# attempt-limit and throttle recipes also run here: tests/test_howto_multiuse.py.


@pytest.mark.django_db
def test_revoke_snippets(django_capture_on_commit_callbacks):
    from docs.snippets import revoke

    ada = Ticket.objects.issue("museum", "visit", data={"first_name": "Ada"})[0]
    grace = Ticket.objects.issue("museum", "visit", data={"first_name": "Grace"})[0]
    Ticket.objects.issue("museum", "visit", data={"first_name": "Alan"})
    assert revoke.revoke_invitation(ada.uuid) is True
    assert revoke.revoke_invitation(ada.uuid) is False
    assert revoke.revoke_invitations_for("Grace") == 1
    assert Ticket.objects.get(pk=grace.pk).revoked
    with django_capture_on_commit_callbacks(execute=True):
        assert revoke.cancel_event_invitations() == 1
    assert Ticket.objects.valid().count() == 0


# Upgrading from 0.2 -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls("docs.snippets.upgrading")
def test_upgrading_examples(client):
    from docs.snippets.upgrading import check, invite_0_2, invite_1_0

    old_link = invite_0_2()
    assert "uuid=" in old_link and "password=" in old_link
    response = client.get(old_link)
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.content == "Welcome to the Louvre museum Léonard".encode()

    ticket = Ticket.objects.get()
    assert check(ticket.uuid, "I love Paris") == "used"
    assert check(ticket.uuid, "wrong") == "invalid"
    assert check("not-a-uuid", "I love Paris") == "invalid"

    new_link = local(invite_1_0())
    assert client.get(new_link).status_code == 302
    Ticket.objects.filter(pk=ticket.pk).update(expiry_datetime=timezone.now() - timedelta(days=1))
    assert check(ticket.uuid, "I love Paris") == "used"  # "used" wins, as in 0.2
