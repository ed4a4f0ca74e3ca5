"""One-shot authentication (temporary credentials) for Django."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("django-ticketoffice")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
