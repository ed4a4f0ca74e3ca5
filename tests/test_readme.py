"""README.rst renders cleanly (it is the PyPI page) and its commands are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

docutils_core = pytest.importorskip("docutils.core", reason="docutils comes with sphinx")

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text()


def test_readme_renders_without_warnings():
    # halt_level 2: any warning (a malformed table, say) raises instead of rendering.
    doctree = docutils_core.publish_doctree(
        README,
        settings_overrides={"report_level": 2, "halt_level": 2, "warning_stream": False},
    )
    titles = [node.astext() for node in doctree.findall() if node.tagname == "title"]
    assert "Quick start" in titles


def test_readme_test_command_is_what_ci_runs():
    commands = re.findall(r"^    (pip install -e .*)$", README, flags=re.MULTILINE)
    assert 'pip install -e ".[demo]" && python -m demo' in commands
    assert 'pip install -e ".[test]" && pytest' in commands
    assert 'pip install -e ".[test]" && pytest' in (ROOT / ".ci" / "run").read_text()


def test_readme_settings_table_lists_every_setting():
    from django_ticketoffice.conf import DEFAULTS

    for name in DEFAULTS:
        assert f"``TICKETOFFICE_{name}``" in README, name
