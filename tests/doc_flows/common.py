"""Set up Django inside a project built from the documentation, as ``manage.py`` would."""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import urlsplit


def setup() -> None:
    """Import the project in the current directory, with the test client's environment."""
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()


def local(url: str) -> str:
    """The path and query of an absolute link, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def csrf_token(html: str) -> str:
    """The CSRF token of the page's form: the flows post as a browser does."""
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the form has no CSRF token"
    return match.group(1)
