"""Folders of scans to tables: rows, failures as rows, resume without recomputing or duplicating,
tiles, the CLI, and the same table from a Dask LocalCluster of 2 worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy import toy_dataset

from shapekit.errors import InputError
from shapekit.temper.batch import ResultTable, classify_batch, expand_inputs


def _png(path: Path, image: np.ndarray) -> None:
    import cv2

    assert cv2.imwrite(str(path), (np.clip(image, 0, 1) * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(5, 96, seed=1)
    out = tmp_path_factory.mktemp("batch-model") / "toy"
    train_on_images(images, labels, model="logreg", tile_size=48, feature_params={"scales": [1, 2]},
                    cv_folds=2, augment=0, aggregation="proba").save(out)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Nine toy scans (three per class) as PNG, plus an unreadable .png and a text file."""
    d = tmp_path_factory.mktemp("scans")
    images, labels = toy_dataset(3, 96, seed=7)
    for i, (im, lab) in enumerate(zip(images, labels)):
        _png(d / f"scan{i:02d}_{lab}.png", im)
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (d / "notes.txt").write_text("not a scan")
    return d


def _table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def test_rows_failures_and_tiles(toy_model, folder, tmp_path):
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    out, tiles = tmp_path / "r.parquet", tmp_path / "t.parquet"
    res = classify_batch(m, [folder], out, model_ref=str(toy_model), tiles_out=tiles)
    assert res == {**res, "scans": 10, "classified": 9, "failed": 1, "skipped": 0}
    df = _table(out)
    assert len(df) == 10 and df["path"].is_unique and list(df["path"]) == sorted(df["path"])
    assert {"p_lamellae", "p_network", "p_spheroids", "ood_score", "in_distribution",
            "prediction_set", "um_per_px_source", "info_bar_rows", "seconds"} <= set(df.columns)
    bad = df[df["image"] == "broken.png"].iloc[0]
    assert bad["error"] and pd.isna(bad["temper"])           # the failure is a row, not an abort
    good = df[df["error"].isna()]
    truth = good["image"].str.extract(r"_(\w+)\.png")[0]
    assert (good["temper"] == truth).all()                   # toy scans: all right and in distribution
    assert good["in_distribution"].all() and (good["tiles"] == 4).all()
    np.testing.assert_allclose(good[["p_lamellae", "p_network", "p_spheroids"]].sum(axis=1), 1, atol=1e-5)
    # the same verdicts as classify() on the same files
    direct = {Path(r["image"]).name: r for r in m.classify(sorted(good["path"]))}
    for _, row in good.iterrows():
        assert row["temper"] == direct[row["image"]]["temper"]
        assert row["p_network"] == pytest.approx(direct[row["image"]]["probabilities"]["network"], abs=1e-6)
    t = _table(tiles)
    assert len(t) == 9 * 4 and set(t["path"]) == set(good["path"])
    assert set(zip(t["row"], t["col"])) == {(0, 0), (0, 48), (48, 0), (48, 48)}
    assert (t["height"] == 48).all() and t[["p_lamellae", "p_network", "p_spheroids"]].sum(axis=1).between(0.999, 1.001).all()


class Interrupting:
    """A model that raises KeyboardInterrupt (a user's Ctrl-C) after ``n`` scans."""

    def __init__(self, model, n):
        self.model, self.n, self.calls = model, n, []
        self.label_names = model.label_names

    def assess_path(self, path, um_per_px=None):
        if len(self.calls) == self.n:
            raise KeyboardInterrupt
        self.calls.append(Path(path).name)
        return self.model.assess_path(path, um_per_px)


def test_resume_after_interruption_recomputes_nothing_and_duplicates_nothing(toy_model, folder, tmp_path):
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    out = tmp_path / "r.csv"
    first = Interrupting(m, 5)
    with pytest.raises(KeyboardInterrupt):
        classify_batch(first, [folder], out, model_ref="toy", flush_every=2)
    df = _table(out)                                  # flushed on the way out: the 5 done rows
    assert sorted(df["image"]) == sorted(first.calls) and len(first.calls) == 5
    ok_first = set(df.loc[df["error"].isna(), "image"])
    assert ok_first == set(first.calls) - {"broken.png"} and len(ok_first) == 4
    second = Interrupting(m, 100)
    res = classify_batch(second, [folder], out, model_ref="toy", flush_every=2)
    assert res["skipped"] == 4 and not set(second.calls) & ok_first      # nothing done twice...
    assert "broken.png" in second.calls                                   # ...but the failure retried
    df2 = _table(out)
    assert len(df2) == 10 and df2["path"].is_unique
    before = df.set_index("path").drop(columns="seconds")
    after = df2.set_index("path").loc[before.index].drop(columns="seconds")
    pd.testing.assert_frame_equal(before, after)      # rows already done kept as they were
    # a third run: the failed scan is retried (and fails again), the rest skipped
    third = Interrupting(m, 100)
    res = classify_batch(third, [folder], out, model_ref="toy")
    assert third.calls == ["broken.png"] and res["skipped"] == 9 and res["failed"] == 1 and len(_table(out)) == 10


def test_resume_with_tiles_added_later_fills_the_tile_table(toy_model, folder, tmp_path):
    """A table first written without --tiles, resumed with it: every scan gets its tile rows
    (the scans already in the table are classified again for them, not silently left out)."""
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    out, tiles = tmp_path / "r.csv", tmp_path / "t.csv"
    classify_batch(m, [folder / "scan00_network.png"], out, model_ref="toy")
    res = classify_batch(m, [folder], out, model_ref="toy", tiles_out=tiles)
    assert res["skipped"] == 0 and res["classified"] == 9 and res["failed"] == 1
    good = _table(out)
    good = good[good["error"].isna()]
    t = _table(tiles)
    assert len(good) == 9 and len(good["path"]) == len(set(good["path"]))
    assert set(t["path"]) == set(good["path"]) and len(t) == 9 * 4
    res = classify_batch(m, [folder], out, model_ref="toy", tiles_out=tiles)   # now all done
    assert res["skipped"] == 9 and len(_table(tiles)) == 9 * 4


def test_upper_case_parquet_suffix_writes_parquet(toy_model, folder, tmp_path):
    """``--out R.PARQUET`` is accepted as Parquet, so it must be written (and resumed) as Parquet,
    not as CSV text under a .PARQUET name."""
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    out, tiles = tmp_path / "R.PARQUET", tmp_path / "T.Parquet"
    classify_batch(m, [folder / "scan00_network.png"], out, model_ref="toy", tiles_out=tiles)
    assert out.read_bytes()[:4] == b"PAR1" and tiles.read_bytes()[:4] == b"PAR1"
    assert len(pd.read_parquet(out)) == 1 and len(pd.read_parquet(tiles)) == 4
    res = classify_batch(m, [folder / "scan00_network.png"], out, model_ref="toy", tiles_out=tiles)
    assert res["skipped"] == 1


def test_run_failing_before_its_first_scan_leaves_no_table_and_no_lock(toy_model, folder, tmp_path):
    """Interrupted (or refused, e.g. an unreachable Dask scheduler) before any scan is done: no
    empty table is written and no lock file is left beside it."""
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    out = tmp_path / "r.csv"
    with pytest.raises(KeyboardInterrupt):
        classify_batch(Interrupting(m, 0), [folder], out, model_ref="toy")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):                 # later: the table is kept, the lock goes
        classify_batch(Interrupting(m, 3), [folder], out, model_ref="toy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"] and len(_table(out)) == 3


def test_table_refusals(toy_model, folder, tmp_path):
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    out = tmp_path / "r.csv"
    classify_batch(m, [folder / "scan00_network.png"], out, model_ref="toy")
    with pytest.raises(InputError, match="written by model 'toy', not 'other'"):
        classify_batch(m, [folder], out, model_ref="other")
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a shapekit results table"):
        classify_batch(m, [folder], tmp_path / "junk.csv", model_ref="toy")
    # a list of scans of one's own (a 'path' column) was 'written by model None, not toy'
    (tmp_path / "mine.csv").write_text("path,magnification\n/a.tif,5000\n")
    with pytest.raises(InputError, match="not a shapekit results table \\(no 'model' column\\)"):
        classify_batch(m, [folder], tmp_path / "mine.csv", model_ref="toy")
    assert (tmp_path / "mine.csv").read_text() == "path,magnification\n/a.tif,5000\n"
    with pytest.raises(InputError, match=".csv or .parquet"):
        ResultTable(tmp_path / "r.xlsx", ["a"], "toy")
    with pytest.raises(InputError, match="no image matches"):
        expand_inputs([str(folder / "*.tif")])


def test_resume_with_another_pixel_size_is_refused_not_ignored(run_cli, toy_model, folder, tmp_path):
    """A table classified without --um-per-px, resumed with it (as its notes advise: 'give
    --um-per-px to have it checked'), skipped every scan and said '0 classified, N already in':
    the new pixel size was silently ignored. Now a resume whose pixel size differs from the
    table's rows is refused, saying how the rows were classified; the same setting resumes."""
    from shapekit.temper.modeldir import load_model

    m, ref = load_model(toy_model), str(toy_model)
    one = [folder / "scan00_network.png"]
    out = tmp_path / "r.csv"
    classify_batch(m, one, out, model_ref=ref)
    with pytest.raises(InputError, match="classified without --um-per-px"):
        classify_batch(m, one, out, model_ref=ref, um_per_px=0.1)
    code, _, err = run_cli("classify", toy_model, *one, "--out", out, "--um-per-px", "0.1")
    assert code == 2 and "without --um-per-px" in err, err
    out2 = tmp_path / "r2.parquet"
    classify_batch(m, one, out2, model_ref=ref, um_per_px=0.1)
    with pytest.raises(InputError, match="with --um-per-px 0.1"):
        classify_batch(m, one, out2, model_ref=ref, um_per_px=0.2)
    with pytest.raises(InputError, match="with --um-per-px 0.1"):
        classify_batch(m, one, out2, model_ref=ref)
    res = classify_batch(m, [folder / "scan01_lamellae.png", *one], out2, model_ref=ref,
                         um_per_px=0.1)
    assert res["skipped"] == 1 and res["classified"] == 1, res
    assert set(_table(out2)["um_per_px_source"]) == {"user"}


def test_cli_folder_to_table_and_explain_map(run_cli, toy_model, folder, tmp_path):
    out = tmp_path / "r.csv"
    code, stdout, err = run_cli("classify", str(toy_model), str(folder / "*.png"), "--out", str(out),
                                "--tiles", str(tmp_path / "t.csv"), "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["classified"] == 9 and res["failed"] == 1 and len(_table(out)) == 10
    code, stdout, err = run_cli("classify", str(toy_model), str(folder / "*.png"), "--out", str(out), "--json")
    assert code == 0 and json.loads(stdout)["skipped"] == 9
    code, _, err = run_cli("classify", str(toy_model), str(folder), "--tiles", str(tmp_path / "t.csv"))
    assert code == 2 and "--tiles needs --out" in err
    png = tmp_path / "map.png"
    code, stdout, err = run_cli("explain", str(toy_model), str(folder / "scan00_network.png"),
                                "--out", str(png), "--map", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert png.read_bytes()[:4] == b"\x89PNG" and len(res["tile_map"]["tiles"]) == 4
    assert res["reading"][0].startswith("verdict: network")


def test_local_cluster_gives_the_local_table(toy_model, folder, tmp_path):
    """Two worker processes of a dask.distributed LocalCluster: the same rows as the local run."""
    distributed = pytest.importorskip("distributed")
    from shapekit.temper.modeldir import load_model

    m = load_model(toy_model)
    local, remote = tmp_path / "local.parquet", tmp_path / "remote.parquet"
    classify_batch(m, [folder], local, model_ref=str(toy_model), tiles_out=tmp_path / "lt.parquet")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = classify_batch(m, [folder], remote, model_ref=str(toy_model), scheduler=cluster.scheduler_address,
                             tiles_out=tmp_path / "rt.parquet")
        with distributed.Client(cluster) as client:
            workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2 and res["classified"] == 9 and res["failed"] == 1
    a, b = _table(local).drop(columns="seconds"), _table(remote).drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(_table(tmp_path / "lt.parquet"), _table(tmp_path / "rt.parquet"))


def test_csv_counts_stay_integers_beside_failure_rows(toy_model, folder, tmp_path):
    """With a failed scan in the table, tile counts are written as 4, not 4.0, and the failed
    row's count is empty (pandas would turn the column into floats; session 24)."""
    import csv

    from shapekit.temper.modeldir import load_model

    out = tmp_path / "r.csv"
    classify_batch(load_model(toy_model), [folder], out, model_ref="toy")
    rows = list(csv.DictReader(open(out, newline="")))
    assert sum(bool(r["error"]) for r in rows) == 1
    assert {r["tiles"] for r in rows if not r["error"]} == {"4"}
    assert [r["tiles"] for r in rows if r["error"]] == [""]
    assert all(r["info_bar_rows"] in ("", "0") or r["info_bar_rows"].isdigit() for r in rows)


def test_symlinked_scans_are_reported_under_the_given_name(toy_model, folder, tmp_path):
    """A folder of links to an archive: rows name the links, not their targets (session 24)."""
    from shapekit.temper.batch import expand_inputs

    links = tmp_path / "links"
    links.mkdir()
    (links / "my_scan.png").symlink_to(folder / "scan00_network.png")
    got = expand_inputs([links, str(links / "*.png"), links / "my_scan.png"])
    assert got == [links / "my_scan.png"]
    out = tmp_path / "r.csv"
    from shapekit.temper.modeldir import load_model

    classify_batch(load_model(toy_model), [links], out, model_ref="toy")
    df = _table(out)
    assert list(df["image"]) == ["my_scan.png"] and df["temper"].iloc[0] == "network"


def test_cli_sigterm_writes_the_scans_done_and_resumes(run_cli, toy_model, folder, tmp_path, monkeypatch):
    """A SIGTERM (a batch scheduler's stop) ended `classify --out` at once: the scans done since
    the last flush (up to 25, or 30 s) were lost and the lock file stayed. Now the table is
    written on the way out, the exit is 143 with a one-line message, and a rerun resumes."""
    import os
    import signal

    import shapekit.temper.batch as batch

    real, calls = batch.classify_path, []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "classify_path", stopping)
    out = tmp_path / "r.csv"
    ignore = lambda signum, frame: None                # noqa: E731 - without the fix the run goes on
    before = signal.signal(signal.SIGTERM, ignore)
    try:
        code, _, err = run_cli("classify", str(toy_model), str(folder), "--out", str(out))
        assert signal.getsignal(signal.SIGTERM) is ignore
    finally:
        signal.signal(signal.SIGTERM, before)
    assert code == 143 and "stopped by SIGTERM" in err and "run the same command again" in err
    assert err.count("\n") == 1
    first = _table(out)                               # broken.png (an error row) and two scans
    assert len(first) == 3 and not (tmp_path / ".r.csv.lock").exists()
    monkeypatch.setattr(batch, "classify_path", real)
    code, _, err = run_cli("classify", str(toy_model), str(folder), "--out", str(out))
    assert code == 0 and f"{first['error'].isna().sum()} already in" in err
    df = _table(out)
    assert len(df) == 10 and df["path"].is_unique


def test_cli_folder_without_out_classifies_the_readable_scans(run_cli, toy_model, folder):
    """Without --out, one unreadable scan in a folder ended the command with its error alone: the
    other scans' verdicts were never printed. Each scan is classified on its own now (as ingest
    does); the bad one is an error line and the exit code 2."""
    code, out, err = run_cli("classify", str(toy_model), str(folder))
    assert code == 2
    assert len(out.strip().splitlines()) == 9 and "broken.png" not in out
    lines = err.strip().splitlines()
    assert lines[0].startswith("shapekit: error: ") and "broken.png" in lines[0]
    assert lines[-1].startswith("1 of 10 scans could not be classified")
    code, out, err = run_cli("classify", str(toy_model), str(folder / "broken.png"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "broken.png" in err


def test_cli_json_without_out_gives_failed_scans_in_the_list(run_cli, toy_model, folder):
    """With --json and no --out a scan that could not be read was on stderr only: a consumer of
    stdout never learnt of it (one broken scan alone printed nothing at all). It is now an
    {"image", "error"} object in its place, as the --out table's failure row; stderr and the exit
    code are as before."""
    code, out, err = run_cli("classify", str(toy_model), str(folder), "--json")
    res = json.loads(out)
    assert code == 2 and len(res) == 10
    bad = [r for r in res if "error" in r]
    assert [Path(r["image"]).name for r in bad] == ["broken.png"] and set(bad[0]) == {"image", "error"}
    assert bad[0]["error"] in err and err.startswith("shapekit: error: ")
    assert [r["image"] for r in res] == sorted(r["image"] for r in res)   # in the scans' order
    assert all("temper" in r for r in res if "error" not in r)
    code, out, err = run_cli("classify", str(toy_model), str(folder / "broken.png"), "--json")
    assert code == 2 and json.loads(out) == [{"image": str(folder / "broken.png"),
                                              "error": err.strip().removeprefix("shapekit: error: ")}]


def test_table_gives_the_scans_own_pixel_size_and_tiles_in_its_pixels(folder, tmp_path):
    """A model with a pixel size resamples each scan to it. The scan table's pixel size was the
    model's, beside the source of the scan's own ('0.0556, OLYMPUS_SIS' for a file whose tag says
    0.163), and the tile table's coordinates were in the resampled image (rows past the file's
    last row). Now the table gives the scan's own pixel size and the tiles in the file's pixels."""
    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(4, 96, seed=1)
    model = train_on_images(images, labels, model="logreg", tile_size=48, augment=0, cv_folds=2,
                            feature_params={"scales": [1, 2]}, aggregation="proba",
                            target_um_per_px=0.075)
    scan = folder / "scan00_network.png"                              # 96x96 px
    out, tiles = tmp_path / "r.csv", tmp_path / "t.csv"
    res = classify_batch(model, [scan], out, model_ref="toy", tiles_out=tiles, um_per_px=0.15)
    assert res["classified"] == 1, _table(out).to_dict("records")
    row = _table(out).iloc[0]
    assert row["um_per_px"] == pytest.approx(0.15) and row["um_per_px_source"] == "user"
    assert row["tiles"] == 16                                         # 192 px classified, 48-px tiles
    t = _table(tiles)
    assert len(t) == 16 and set(t["height"]) == {24} and set(t["width"]) == {24}
    assert (t["row"] + t["height"]).max() == 96 and (t["col"] + t["width"]).max() == 96
    assert t["row"].min() == 0 and t["col"].min() == 0
