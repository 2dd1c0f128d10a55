"""CLI commands: shapekit analyze ... (analysis_invariance)."""

from __future__ import annotations

import click


def register(analyze_app: click.Group) -> None:
    """Add this module's commands to the `analyze` sub-application."""
