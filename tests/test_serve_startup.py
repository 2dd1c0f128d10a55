"""``shapekit serve``'s start-up line names what the page offers, the shipped models included."""

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")


def test_startup_line_names_the_shipped_models(run_cli, monkeypatch, tmp_path) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    code, out, err = run_cli("serve", "--no-preload", "--port", "8765",
                             "--workdir", tmp_path / "work")
    assert code == 0, err
    assert calls and calls[0]["port"] == 8765
    line = next(x for x in err.splitlines() if x.startswith("shapekit serve: "))
    # it read "0 classifier(s), 0 generator(s)" while the page offered all four shipped models
    assert "classifiers: uhcs3;" in line
    assert "generators: sim-parameters, sim-properties, uhcs3-class;" in line
    assert "real sets: none;" in line


def test_a_shipped_model_can_be_offered_under_another_name(run_cli, monkeypatch, tmp_path) -> None:
    """The README's requests name generator=sim; a user without a trained run who offered the
    shipped generator under that name (--generator sim=sim-parameters) got 'run directory not
    found: sim-parameters', though a shipped name works wherever the CLI asks for a model."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    code, _, err = run_cli("serve", "--no-preload", "--generator", "sim=sim-parameters",
                           "--model", "steel=uhcs3", "--workdir", tmp_path / "work", "--port", "0")
    assert code == 0, err
    line = next(x for x in err.splitlines() if x.startswith("shapekit serve: "))
    assert "classifiers: steel, uhcs3;" in line
    assert "generators: sim, sim-parameters, sim-properties, uhcs3-class;" in line
    code, _, err = run_cli("serve", "--no-preload", "--generator", "sim=nope", "--workdir", tmp_path / "w2")
    assert code == 2 and "run directory not found: nope" in err
