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


def test_every_option_says_what_it_does() -> None:
    """Every option has a help text: `analyze cka --kernel`, `stitch --lr`, `invariance` and
    `frequency --max-images`, `fibres --tolerance/--n` and `dna --tiles-per-image/--epochs` showed
    only a type and a default in their --help."""
    bare = []
    for path in COMMANDS:
        cmd = app
        for name in path:
            cmd = cmd.commands[name]
        bare += [f"{' '.join(path)} {p.opts[0]}" for p in cmd.params
                 if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()]
    assert bare == []


def test_every_seed_option_refuses_what_numpy_and_torch_refuse(run_cli, tmp_path) -> None:
    """`generate --seed -1` was 'internal error: ValueError: expected non-negative integer', exit 1
    (and 10**20: 'Overflow when unpacking long long'); every --seed takes 0..2**31-1 now."""
    seeded = [(path, p) for path in COMMANDS for p in _command(path).params if p.name == "seed"]
    assert len(seeded) >= 10
    for path, param in seeded:
        assert param.type.convert("2147483647", param, None) == 2 ** 31 - 1
        for bad in ("-1", str(10 ** 20)):
            with pytest.raises(click.BadParameter):
                param.type.convert(bad, param, None)
    code, out, err = run_cli("generate", "sim-parameters", "--seed", "-1", "--out", tmp_path / "g")
    assert code == 2 and "--seed" in err and err.count("\n") == 1 and not (tmp_path / "g").exists()


def _command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = app
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


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


def test_pixel_budget_names_size_and_limit_and_can_be_raised(run_cli, tmp_path, monkeypatch):
    """A derived allocation over the budget is refused naming both sizes; --max-pixels (or the
    environment variable) raises the limit on purpose, for that command only."""
    import os

    import cv2
    import numpy as np

    img = tmp_path / "s.png"
    cv2.imwrite(str(img), (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    args = ("ingest", img, "--out", tmp_path / "o", "--source-um-per-px", "1", "--um-per-px", "0.5")
    monkeypatch.delenv("SHAPEKIT_MAX_PIXELS", raising=False)
    code, _, err = run_cli("--max-pixels", "10000", *args)
    assert code == 2 and "128x128 = 16384 pixels, over the limit of 10000 pixels" in err
    assert not (tmp_path / "o").exists() and "SHAPEKIT_MAX_PIXELS" not in os.environ
    code, _, err = run_cli("--max-pixels", "2e4", *args)
    assert code == 0, err
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", "10000")
    code, _, err = run_cli(*args)
    assert code == 2 and "over the limit of 10000" in err


def test_user_caused_os_errors_exit_2_naming_the_path(run_cli, tmp_path):
    import errno

    from shapekit.cli import app

    @app.command("_oserr", hidden=True)
    def _oserr() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "locked.csv"))

    try:
        code, out, err = run_cli("_oserr")
    finally:
        app.commands.pop("_oserr")
    assert code == 2 and err == f"shapekit: error: {tmp_path / 'locked.csv'}: permission denied\n"


def test_long_messages_are_cut(run_cli):
    from shapekit.cli import app
    from shapekit.errors import InputError

    @app.command("_long", hidden=True)
    def _long() -> None:
        raise InputError("x" * 10**6)

    try:
        code, out, err = run_cli("_long")
    finally:
        app.commands.pop("_long")
    assert code == 2 and err.count("\n") == 1 and len(err) < 450 and err.rstrip().endswith("...")


def test_serve_without_the_extra_says_how_to_install_it(run_cli, monkeypatch) -> None:
    """An installed wheel has no constraints.txt nor source tree: the hint names the extra."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    code, out, err = run_cli("serve", "--no-preload")
    assert code == 2 and out == ""
    assert err.strip() == ("shapekit: error: shapekit serve needs the server extra (uvicorn is "
                           "missing): pip install 'shapekit[serve]'")


def test_bare_command_groups_print_their_help(run_cli) -> None:
    """`shapekit` alone lists the commands (click >= 8.2 made it a usage error, which the
    one-line error squashed into a cut 'shapekit: error: Usage: ...' without any command)."""
    code, out, err = run_cli()
    assert code == 0 and err == ""
    assert out.startswith("Usage: shapekit [OPTIONS] COMMAND") and "Commands:" in out
    assert "  models " in out and "  classify " in out
    code, out, _ = run_cli("analyze")
    assert code == 0 and out.startswith("Usage: shapekit analyze") and "Commands:" in out
