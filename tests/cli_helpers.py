"""Assertions shared by the CLI tests (the ``run_cli`` fixture of conftest.py gives the result)."""
from __future__ import annotations

from pathlib import Path


def assert_refused(result: tuple[int, str, str], message: str, out: Path | None = None) -> None:
    """The command was refused as bad input: exit 2, nothing on stdout, one line on stderr that
    starts ``shapekit: error:`` and contains ``message``; with ``out``, that path was not made."""
    code, stdout, err = result
    assert code == 2 and stdout == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shapekit: error: "), err
    assert message in lines[0], err
    if out is not None:
        assert not out.exists()


def forbid(monkeypatch, what: str, *targets: tuple[object, str]) -> None:
    """Make each ``(owner, name)`` of ``targets`` fail the test when called, saying ``what``
    happened (the expensive step that a refusal must come before)."""
    def boom(*a, **k):
        raise AssertionError(what)

    for owner, name in targets:
        monkeypatch.setattr(owner, name, boom)
