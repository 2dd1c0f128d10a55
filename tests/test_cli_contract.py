"""The CLI contract every command keeps: --help everywhere, one-line errors, exit codes 2 and 1."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from shapekit.cli import app


def _walk(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        out.append(path)
        if isinstance(cmd, click.Group):
            out.extend(_walk(cmd, path))
    return out


COMMANDS = _walk(app)


def test_main_jobs_are_registered() -> None:
    names = {c[0] for c in COMMANDS}
    for required in ("demo", "ingest", "synth", "manifest"):
        assert required in names, f"missing command {required}"


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_has_help(run_cli, path: tuple[str, ...]) -> None:
    code, out, err = run_cli(*path, "--help")
    assert code == 0, err
    assert "Usage:" in out
    # the help names every option it has, each with a description
    assert len(out.strip().splitlines()) >= 3


def test_unknown_command_is_a_usage_error(run_cli) -> None:
    code, out, err = run_cli("no-such-command")
    assert code == 2
    assert out == ""
    assert err.startswith("shapekit: error:") and err.count("\n") == 1


def test_internal_failure_exits_1_with_one_line(run_cli, monkeypatch) -> None:
    @app.command("_boom", hidden=True)
    def _boom() -> None:
        raise RuntimeError("kaput\nsecond line")

    try:
        code, out, err = run_cli("_boom")
    finally:
        app.commands.pop("_boom")
    assert code == 1
    assert err.count("\n") == 1 and "kaput second line" in err


def test_input_error_exits_2(run_cli) -> None:
    from shapekit.errors import InputError

    @app.command("_bad", hidden=True)
    def _bad() -> None:
        raise InputError("bad thing: /x/y.tif")

    try:
        code, out, err = run_cli("_bad")
    finally:
        app.commands.pop("_bad")
    assert code == 2
    assert err == "shapekit: error: bad thing: /x/y.tif\n"


def test_help_is_fast_and_does_not_import_torch() -> None:
    code = ("import sys; from shapekit.cli import app; "
            "assert 'torch' not in sys.modules, 'torch imported at CLI start'; "
            "assert 'gudhi' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_atomic_writes_leave_nothing_on_failure_and_normal_permissions(tmp_path) -> None:
    import os

    from shapekit._atomic import atomic_path, write_json

    target = tmp_path / "a.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"x": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)
