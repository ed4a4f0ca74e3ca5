"""The integrations stay optional: the core never imports them, nor their dependencies.

Each check runs in a fresh interpreter with a minimal project (the suite's
own settings install every integration's package).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE_MODULES = sorted(
    "django_ticketoffice."
    + ".".join(path.relative_to(ROOT / "django_ticketoffice").with_suffix("").parts)
    for path in (ROOT / "django_ticketoffice").rglob("*.py")
    if "contrib" not in path.parts and "migrations" not in path.parts and path.name != "__init__.py"
)
WATCHED = ("django_ticketoffice.contrib", "rest_framework", "ninja", "drf_spectacular", "pydantic")

SCRIPT = """
import importlib, json, sys
from django.conf import settings
settings.configure(
    SECRET_KEY="imports",
    INSTALLED_APPS=[
        "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
        "django.contrib.sessions", "django.contrib.messages", "django_ticketoffice",
    ] + EXTRA_APPS,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
import django
django.setup()
for name in MODULES:
    importlib.import_module(name)
print(json.dumps(sorted(
    name for name in sys.modules if name.split(".")[0] in WATCHED_ROOTS or name.startswith(WATCHED)
)))
"""


def loaded_after(modules: list[str], extra_apps: tuple[str, ...] = ()) -> set[str]:
    """Modules of WATCHED in sys.modules after importing ``modules`` in a fresh process."""
    code = (
        SCRIPT.replace("EXTRA_APPS", repr(list(extra_apps)))
        .replace("MODULES", repr(modules))
        .replace(
            "WATCHED_ROOTS", repr({w.split(".")[0] for w in WATCHED} - {"django_ticketoffice"})
        )
        .replace("WATCHED", repr(WATCHED))
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_core_imports_no_integration():
    assert "django_ticketoffice.models" in CORE_MODULES
    assert loaded_after(CORE_MODULES) == set()


@pytest.mark.parametrize(
    ("module", "apps"),
    [
        ("django_ticketoffice.contrib.auth", ()),
        ("django_ticketoffice.contrib.unsubscribe", ()),
        ("django_ticketoffice.contrib.audit.admin", ("django_ticketoffice.contrib.audit",)),
    ],
)
def test_django_only_integrations_need_no_api_package(module, apps):
    loaded = loaded_after([module], apps)
    assert module in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("rest_framework", "ninja")}


def test_each_api_integration_imports_only_its_own_package():
    drf = loaded_after(["django_ticketoffice.contrib.rest_framework"])
    assert "rest_framework" in drf
    assert not {name for name in drf if name.split(".")[0] == "ninja"}
    ninja = loaded_after(["django_ticketoffice.contrib.ninja"])
    assert "ninja" in ninja
    assert not {
        name for name in ninja if name.split(".")[0] in ("rest_framework", "drf_spectacular")
    }
