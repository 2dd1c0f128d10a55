"""CLI command ``shapekit models``: the models that ship with shapekit (:mod:`shapekit.registry`)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import emit_json, json_option
from shapekit.errors import InputError


def register(app: click.Group) -> None:
    """Add this module's command to the application."""
    app.add_command(models_cmd)


def _size_bytes(folder: Path) -> int:
    """Bytes of the files in a shipped model's folder (weights, configuration, cards)."""
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def _with_files(card: dict[str, Any], root: Path) -> dict[str, Any]:
    folder = root / card["name"]
    return {**card, "path": str(folder), "size_bytes": _size_bytes(folder)}


@click.command(name="models")
@click.argument("name", required=False)
@click.option("--kind", type=click.Choice(["generator", "classifier"]), default=None,
              help="Only models of this kind.")
@json_option
def models_cmd(name: str | None, kind: str | None, as_json: bool) -> None:
    """List the models that ship with shapekit, or show the model card of NAME.

    Each line gives the model's kind, size on disk, pixel scale and what it predicts or makes,
    then its training data and licence. A NAME works wherever a model directory is asked for;
    `shapekit models NAME` prints its card (data, licence, citation, training command, measured
    figures). --json prints the cards (one card with NAME).
    """
    from shapekit.registry import README, available, pretrained_root

    root = pretrained_root()
    cards = [_with_files(c, root) for c in available(kind)]
    if name is not None:
        found = [c for c in cards if c["name"] == name]
        if not found:
            what = f"shipped {kind}s" if kind else "shipped models"
            names = ", ".join(c["name"] for c in cards) or "none"
            raise InputError(f"no shipped model named {name!r}"
                             f"{f' of kind {kind}' if kind else ''}; {what}: {names}")
        c = found[0]
        if as_json:
            emit_json(c)
            return
        readme = Path(c["path"]) / README
        text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        click.echo(text.rstrip() if text.strip() else _card_text(c))
        click.echo(f"\nfiles: {c['path']}/ ({c['size_bytes'] / 1e6:.1f} MB)")
        return
    if as_json:
        emit_json(cards)
        return
    if not cards:
        click.echo("no shipped models" + (f" of kind {kind}" if kind else ""))
        return
    width = max(len(c["name"]) for c in cards)
    for c in cards:
        scale = f"{c['um_per_px']:g} um/px" if c["um_per_px"] else "scale unknown"
        size = f"{c['size_bytes'] / 1e6:.1f} MB"
        click.echo(f"{c['name']:<{width}}  {c['kind']:<10}  {size:>7}  {scale:<15}  {c['summary']}")
        for field in ("data", "licence"):
            click.echo(textwrap.fill(c[field], width=100, break_on_hyphens=False,
                                     initial_indent=f"{'':<{width}}  {field}: ",
                                     subsequent_indent=f"{'':<{width}}    "))
    click.echo(f"\ncards: shapekit models NAME (README.md and card.json in {root}/NAME/)")


def _card_text(c: dict[str, Any]) -> str:
    """A plain-text card from card.json, for a model folder without README.md."""
    return "\n".join([f"# {c['name']}", "", c["summary"], ""] + [
        f"- {k}: {c[k]}" for k in ("kind", "data", "licence", "citation", "training_command",
                                   "seed", "iterations", "hardware", "um_per_px", "created")])
