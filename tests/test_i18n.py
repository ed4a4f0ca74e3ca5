"""Translations: French and German catalogs cover every string and ship compiled."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.test import Client
from django.utils import translation

import django_ticketoffice
from django_ticketoffice import views
from django_ticketoffice.checks import TAG
from django_ticketoffice.exceptions import TicketExpiredError, TicketLockedError
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from tests.conftest import _missing_service

LOCALE = Path(django_ticketoffice.__file__).resolve().parent / "locale"
LANGUAGES = ("fr", "de")


@pytest.fixture(autouse=True)
def _fresh_pages():
    views._pages.clear()
    yield
    views._pages.clear()


def read_po(path: Path) -> dict[str, str | tuple[str, ...]]:
    """msgid -> msgstr (or the plural forms) of a .po file, without its header."""
    entries: dict[str, str | tuple[str, ...]] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            match = re.match(r'(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
            elif line.startswith("#, fuzzy") and "msgid" not in fields:
                fields["fuzzy"] = "yes"
        if fields.get("msgid"):
            assert "fuzzy" not in fields, f"{path}: fuzzy entry {fields['msgid']!r}"
            msgid = fields["msgid"].encode().decode("unicode_escape").encode("latin-1").decode()
            unescape = lambda v: v.encode().decode("unicode_escape").encode("latin-1").decode()  # noqa: E731
            if "msgid_plural" in fields:
                forms = sorted(k for k in fields if k.startswith("msgstr["))
                entries[msgid] = tuple(unescape(fields[k]) for k in forms)
            else:
                entries[msgid] = unescape(fields["msgstr"])
    return entries


# Pages -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refusal_page_in_french(client, settings):
    settings.LANGUAGE_CODE = "fr"
    settings.TICKETOFFICE_NEW_LINK_URLS = "/encore/"
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    ticket.use()
    response = client.get(ticket_url("louvre", token))
    assert response.status_code == 403
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "<title>Ticket refusé</title>" in html
    assert "<h1>Ce lien a déjà été utilisé</h1>" in html
    assert "Chaque lien ne fonctionne qu\u2019une fois" in html
    assert '<a href="/encore/">Demander un nouveau lien</a>' in html
    # Without a ticket: the 401 page, in French too.
    assert "Un ticket est requis" in Client().get("/peek/").content.decode()


def test_refusal_pages_per_language(rf):
    error = TicketExpiredError(genuine=True)
    with translation.override("de"):
        german = views.refuse(rf.get("/"), error).content.decode()
    with translation.override("fr"):
        french = views.refuse(rf.get("/"), error).content.decode()
    english = views.refuse(rf.get("/"), error).content.decode()
    assert "Dieser Link ist abgelaufen" in german
    assert "Ce lien a expiré" in french
    assert "This link has expired" in english


def test_locked_page_in_french_and_german(rf):
    error = TicketLockedError(genuine=True)
    with translation.override("fr"):
        french = views.refuse(rf.get("/"), error).content.decode()
    with translation.override("de"):
        german = views.refuse(rf.get("/"), error).content.decode()
    assert "<h1>Ce lien est verrouillé</h1>" in french
    assert "<h1>Dieser Link ist gesperrt</h1>" in german


def test_code_and_unsubscribe_pages_in_german():
    from django.template.loader import render_to_string

    from django_ticketoffice.code_views import IdentifierForm

    with translation.override("de"):
        sign_in = render_to_string(
            "ticketoffice/code_sign_in.html", {"identifier_form": IdentifierForm()}
        )
        confirm = render_to_string(
            "ticketoffice/unsubscribe_confirm.html",
            {"recipient": "ada@example.com", "mailing_list": "news"},
        )
    assert "<h1>Mit einem Code anmelden</h1>" in sign_in
    assert "E-Mail-Adresse" in sign_in
    assert "news nicht mehr an ada@example.com senden?" in confirm


@pytest.mark.django_db
def test_admin_in_french(admin_client, settings):
    settings.LANGUAGE_CODE = "fr"
    html = admin_client.get("/admin/django_ticketoffice/ticket/add/").content.decode()
    assert "Durée de validité" in html
    assert "N\u2019expire jamais" in html
    assert "Billetterie" in html  # the app's name in the breadcrumbs


def test_check_messages_in_german(settings):
    settings.TICKETOFFICE_CACHE = "stamps"
    with translation.override("de"):
        (message,) = [m for m in checks.run_checks(tags=[TAG]) if m.id == "ticketoffice.E001"]
    assert message.msg == (
        "TICKETOFFICE_CACHE nennt den Cache-Alias 'stamps', der nicht in CACHES steht."
    )
    assert message.hint.startswith("Jede Anfrage mit einem Ticket")


# Catalogs --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_is_complete_and_compiled(language):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    entries = read_po(po)
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr in entries.items() if not all(msgstr)]
    assert untranslated == []
    # The committed .mo says what the .po says: run compilemessages after editing it.
    with mo.open("rb") as stream:
        catalog = gettext.GNUTranslations(stream)._catalog  # type: ignore[attr-defined]
    compiled: dict[str, object] = {}
    for key, value in catalog.items():
        if isinstance(key, tuple):
            msgid = key[0].split("\x00")[0]
            compiled.setdefault(msgid, {})[key[1]] = value  # type: ignore[index]
        elif key:
            compiled[key] = value
    expected = {
        msgid: ({i: form for i, form in enumerate(msgstr)} if isinstance(msgstr, tuple) else msgstr)
        for msgid, msgstr in entries.items()
    }
    assert compiled == expected


def test_catalogs_cover_every_translatable_string(tmp_path):
    """makemessages on a copy of the package finds no string the catalogs lack."""
    if not shutil.which("xgettext"):
        _missing_service("gettext is not installed: apt-get install gettext")
    copy = tmp_path / "django_ticketoffice"
    shutil.copytree(LOCALE.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "fr", "--no-location"],
        cwd=copy,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = set(read_po_ids(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po"))
    for language in LANGUAGES:
        committed = set(read_po(LOCALE / language / "LC_MESSAGES" / "django.po"))
        assert fresh - committed == set(), f"untranslated in {language}"
        assert committed - fresh == set(), f"obsolete in {language}"


def read_po_ids(path: Path) -> list[str]:
    """The msgids of a .po, fuzzy or not (makemessages marks its guesses fuzzy)."""
    text = path.read_text(encoding="utf-8").replace("#, fuzzy\n", "")
    tmp = path.with_name("ids.po")
    tmp.write_text(text, encoding="utf-8")
    return list(read_po(tmp))
