"""Sphinx extension: linter comments (``# noqa``, ``# type: ignore``) stay out of the pages.

The examples are real files, linted and tested; their linter comments are for
the linters. This strips them from literal blocks (``literalinclude`` and
``code-block``) and from the highlighted sources of ``sphinx.ext.viewcode``.

The markers that delimit the parts a page includes (``# [view]`` ...
``# [/view]``, alone on their line) are for ``literalinclude`` too: a page
that shows the whole file shows it without them.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes

# A hash, then "noqa", "noqa: S105", "noqa: F401  (why)" or "type: ignore[misc]".
_LINTER_COMMENT = re.compile(r"[ \t]*#[ \t]*(?:noqa\b|type:[ \t]*ignore\b)[^\n]*")


def strip_noqa(text: str) -> str:
    """Remove linter comments at the end of lines; lines keep their number.

    >>> strip_noqa('TOKEN = "ticket"  # noqa: S105\\nx = 1\\n')
    'TOKEN = "ticket"\\nx = 1\\n'
    """
    return _LINTER_COMMENT.sub("", text)


# "# [view]", "# [/view]": a line of its own.
_PART_MARKER = re.compile(r"^[ \t]*# \[/?[\w-]+\][ \t]*$")


def strip_part_markers(text: str) -> str:
    """Remove the lines that only mark where an included part starts or ends.

    The blank lines they leave are merged (two at most in a row), as a
    formatter would.

    >>> strip_part_markers('x = 1\\n\\n\\n# [view]\\ndef view():\\n    pass\\n\\n\\n# [/view]\\n')
    'x = 1\\n\\n\\ndef view():\\n    pass\\n'
    """
    if not any(_PART_MARKER.match(line) for line in text.splitlines()):
        return text
    kept: list[str] = []
    for line in text.splitlines():
        if _PART_MARKER.match(line):
            continue
        if not line.strip() and len(kept) >= 2 and not kept[-1].strip() and not kept[-2].strip():
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def _strip_literal_blocks(app: Any, doctree: nodes.document) -> None:
    for block in doctree.findall(nodes.literal_block):
        text = block.astext()
        stripped = strip_part_markers(strip_noqa(text))
        # A part ends where its end marker was: without the blank lines before it.
        stripped = re.sub(r"\n[ \t\n]*\Z", "\n", stripped) if stripped.strip() else stripped
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
