"""CLI commands: foundation (filled in by its issue)."""

from __future__ import annotations

import click


def register(app: click.Group, manifest_app: click.Group) -> None:
    """Add this module's commands to the application."""
