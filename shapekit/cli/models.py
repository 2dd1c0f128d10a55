"""CLI command ``shapekit models``: the models that ship with shapekit (:mod:`shapekit.registry`)."""

from __future__ import annotations

import click

from shapekit.cli._common import emit_json, json_option


def register(app: click.Group) -> None:
    """Add this module's command to the application."""
    app.add_command(models_cmd)


@click.command(name="models")
@click.option("--kind", type=click.Choice(["generator", "classifier"]), default=None,
              help="Only models of this kind.")
@json_option
def models_cmd(kind: str | None, as_json: bool) -> None:
    """List the models that ship with shapekit (use a NAME where a model directory is asked for).

    Each has a model card (data, licence, training command, measured figures): --json prints the
    cards, and the folder's README.md is the human-readable one.
    """
    from shapekit.registry import available, pretrained_root

    cards = available(kind)
    if as_json:
        emit_json([{**c, "path": str(pretrained_root() / c["name"])} for c in cards])
        return
    if not cards:
        click.echo("no shipped models" + (f" of kind {kind}" if kind else ""))
        return
    width = max(len(c["name"]) for c in cards)
    for c in cards:
        scale = f"{c['um_per_px']:g} um/px" if c["um_per_px"] else "scale unknown"
        click.echo(f"{c['name']:<{width}}  {c['kind']:<10}  {scale:<15}  {c['summary']}")
    click.echo(f"\ncards and README.md: {pretrained_root()}/NAME/")
