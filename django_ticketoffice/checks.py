"""System checks (filled in by the admin-and-operations work)."""

from __future__ import annotations
