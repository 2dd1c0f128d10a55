"""CLI commands: shapekit synth (the micrograph simulator)."""

from __future__ import annotations

import click


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
