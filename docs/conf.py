"""Sphinx configuration. Django is set up so that autodoc can import the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django_ticketoffice import __version__  # noqa: E402

project = "django-ticketoffice"
author = "django-ticketoffice contributors"
copyright = "2014-2026, django-ticketoffice contributors"
release = __version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "docs.sphinx_strip_noqa"]
exclude_patterns = ["_build", "snippets", "examples"]
# Furo: a maintained theme whose code blocks scroll instead of being cut off.
html_theme = "furo"
html_title = "django-ticketoffice"
html_theme_options = {
    "source_repository": "https://github.com/django-ticketoffice/django-ticketoffice/",
    "source_branch": "main",
    "source_directory": "docs/",
}
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
# Sphinx sometimes cannot resolve Django's own types in signatures; do not warn about them.
nitpicky = False
