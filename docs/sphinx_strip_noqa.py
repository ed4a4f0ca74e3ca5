"""Sphinx extension: linter comments (``# noqa``, ``# type: ignore``) stay out of the pages.

The examples are real files, linted and tested; their linter comments are for
the linters. This strips them from literal blocks (``literalinclude`` and
``code-block``) and from the highlighted sources of ``sphinx.ext.viewcode``.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes

# "  # noqa", "  # noqa: S105", "  # noqa: F401  (why)", "  # type: ignore[misc]"
_LINTER_COMMENT = re.compile(r"[ \t]*#[ \t]*(?:noqa\b|type:[ \t]*ignore\b)[^\n]*")


def strip_noqa(text: str) -> str:
    """Remove linter comments at the end of lines; lines keep their number.

    >>> strip_noqa('TOKEN = "ticket"  # noqa: S105\\nx = 1\\n')
    'TOKEN = "ticket"\\nx = 1\\n'
    """
    return _LINTER_COMMENT.sub("", text)


def _strip_literal_blocks(app: Any, doctree: nodes.document) -> None:
    for block in doctree.findall(nodes.literal_block):
        text = block.astext()
        stripped = strip_noqa(text)
        if stripped != text:
            block.children = [nodes.Text(stripped)]
            block.rawsource = stripped


def _viewcode_source(app: Any, modname: str) -> tuple[str, dict[str, Any]] | None:
    from sphinx.pycode import ModuleAnalyzer

    try:
        analyzer = ModuleAnalyzer.for_module(modname)
        analyzer.find_tags()
    except Exception:  # viewcode then finds the source its own way
        return None
    return strip_noqa(analyzer.code), analyzer.tags


def setup(app: Any) -> dict[str, Any]:
    """Register the two hooks."""
    app.connect("doctree-read", _strip_literal_blocks)
    app.connect("viewcode-find-source", _viewcode_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
