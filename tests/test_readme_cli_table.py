"""The README's CLI reference names every option of each command, and no option it lacks."""

import re
from pathlib import Path

import click
import pytest

from shapekit.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _rows() -> dict[str, str]:
    """Command -> the synopsis (first cell) of its row in the CLI reference table."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `shapekit "):
            continue
        synopsis = line.replace("\\|", "/").split("|")[1]
        m = re.match(r"\s*`shapekit ((?:manifest )?[a-z-]+)", synopsis)
        rows.setdefault(m.group(1), synopsis)
    return rows


def _commands():
    for name, cmd in sorted(app.commands.items()):
        if name == "analyze":  # its rows list the subcommands, each with its own --help
            continue
        if isinstance(cmd, click.Group):
            for sub, subcmd in sorted(cmd.commands.items()):
                yield f"{name} {sub}", subcmd
        else:
            yield name, cmd


@pytest.mark.parametrize("name,cmd", list(_commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_cli_table_row_matches_help(name, cmd) -> None:
    rows = _rows()
    assert name in rows, f"no CLI reference row for shapekit {name}"
    options = [[o for o in p.opts if o.startswith("--")] for p in cmd.params
               if isinstance(p, click.Option) and "--help" not in p.opts]
    listed = set(re.findall(r"--[a-z][\w-]*", rows[name]))
    missing = [opts[0] for opts in options if not listed & set(opts)]  # an alias is enough
    assert missing == [], f"shapekit {name}: options missing from the README row"
    unknown = listed - {o for opts in options for o in opts}
    assert unknown == set(), f"shapekit {name}: README row names options --help lacks"
