"""``shapekit synth --out DIR`` refuses a folder whose labels.csv or manifest.yaml it did not
write before simulating: it replaced them (a real data set given as --out by mistake lost its
table); a folder of an earlier synth run is written again."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["labels.csv", "manifest.yaml"])
def test_a_foreign_table_or_manifest_is_refused(run_cli, monkeypatch, tmp_path, name):
    import shapekit.synth

    def boom(*a, **k):
        raise AssertionError("simulated")

    monkeypatch.setattr(shapekit.synth, "synthesize", boom)
    (tmp_path / name).write_text("mine\n")
    code, out, err = run_cli("synth", "--n", "2", "--out", tmp_path, "--size", "32")
    assert code == 2 and out == "", err
    assert err.strip() == (f"shapekit: error: --out {tmp_path}: its {name} was not written by "
                           "synth (another data set?) and would be replaced; give a new or empty "
                           "folder")
    assert (tmp_path / name).read_text() == "mine\n"


def test_an_earlier_synth_folder_is_written_again(run_cli, tmp_path):
    for n in ("2", "3"):
        code, _, err = run_cli("synth", "--n", n, "--out", tmp_path, "--size", "32")
        assert code == 0, err
    assert len((tmp_path / "labels.csv").read_text().strip().splitlines()) == 4
