"""Dataset manifests: the shipped ones against the real data, the API, and every validation error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from shapekit.errors import ManifestError
from shapekit.io import Manifest, load_manifest, open_image_set, write_manifest

TABLE = "file,cls,temp_C,time_h,hardness,sample,scale\n" \
        "a.tif,peak,180,8,120.5,s1,0.05\n" \
        "b.tif,under,150,1,95,s1,\n" \
        "c.tif,over,220,48,101,s2,0.1\n" \
        "d.tif,peak,200,4,119,s3,0.05\n"
SPEC = {"name": "toy", "root": "data", "table": "t.csv", "images_dir": "img", "image": "file",
        "label": "cls", "group": "sample", "parameters": ["temp_C", "time_h"],
        "properties": ["hardness"], "um_per_px": "scale", "license": "CC0", "citation": "none"}


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    (tmp_path / "data" / "img").mkdir(parents=True)
    for name in "abcd":
        tifffile.imwrite(tmp_path / "data" / "img" / f"{name}.tif", np.zeros((8, 8), np.uint8))
    (tmp_path / "data" / "t.csv").write_text(TABLE)
    write_manifest(tmp_path / "m.yaml", SPEC)
    return tmp_path


def _with(toy: Path, csv_text: str | None = None, **changes: object) -> Path:
    spec = {**SPEC, **changes}
    spec = {k: v for k, v in spec.items() if v is not ...}
    if csv_text is not None:
        (toy / "data" / "t.csv").write_text(csv_text)
    (toy / "m2.yaml").write_text(yaml.safe_dump(spec))
    return toy / "m2.yaml"


def test_toy_manifest_api(toy: Path) -> None:
    m = load_manifest(toy / "m.yaml")
    assert len(m) == 4 and m.name == "toy" and m.root == (toy / "data").resolve()
    assert [p.name for p in m.paths] == ["a.tif", "b.tif", "c.tif", "d.tif"]
    assert all(p.is_absolute() and p.is_file() for p in m.paths)
    assert m.labels.tolist() == ["peak", "under", "over", "peak"]
    assert m.label_names == ["over", "peak", "under"]
    assert m.counts() == {"over": 1, "peak": 2, "under": 1}
    assert m.groups.tolist() == ["s1", "s1", "s2", "s3"]
    np.testing.assert_array_equal(m.parameter_values, [[180, 8], [150, 1], [220, 48], [200, 4]])
    np.testing.assert_array_equal(m.property_values[:, 0], [120.5, 95, 101, 119])
    np.testing.assert_array_equal(m.um_per_px_values, [0.05, np.nan, 0.1, 0.05])
    assert "path" in m.table.columns and "temp_C" in m.table.columns and m.excluded == 0
    sub = m.subset([2, 0])
    assert sub.labels.tolist() == ["over", "peak"] and len(m) == 4
    assert len(m.subset(m.labels == "peak")) == 2
    other = load_manifest(toy / "m.yaml", root=toy / "data")  # --root override
    assert other.paths == m.paths
    fixed = load_manifest(_with(toy, um_per_px=0.2))
    np.testing.assert_array_equal(fixed.um_per_px_values, [0.2] * 4)


def test_folder_image_set(toy: Path) -> None:
    (toy / "data" / "img" / "readme.txt").write_text("not an image")
    (toy / "data" / "img" / "fake.png").write_text("not a png either")
    m = open_image_set(toy / "data" / "img")
    assert [p.name for p in m.paths] == ["a.tif", "b.tif", "c.tif", "d.tif"]
    assert m.labels is None and m.counts() == {"(unlabeled)": 4}
    assert len(open_image_set(toy / "m.yaml")) == 4
    with pytest.raises(ManifestError, match="no readable images"):
        Manifest.from_folder(toy)


def test_exclude_unlabeled_counts_rows(toy: Path) -> None:
    table = TABLE.replace("c.tif,over", "c.tif,")
    with pytest.raises(ManifestError, match=r"t\.csv line 4: empty label"):
        load_manifest(_with(toy, table))
    m = load_manifest(_with(toy, table, exclude_unlabeled=True))
    assert len(m) == 3 and m.excluded == 1 and m.counts() == {"peak": 2, "under": 1}


@pytest.mark.parametrize("csv_text, changes, pattern", [
    (None, {"colour": "red"}, r"unknown key 'colour'"),
    (None, {"image": ...}, r"missing required key 'image'"),
    (None, {"label": "klass"}, r"column 'klass' \(key 'label'\) not in t\.csv"),
    (None, {"parameters": ["temp_C", "pressure"]}, r"column 'pressure' \(key 'parameters'\)"),
    (TABLE.replace("c.tif", "zz.tif"), {}, r"t\.csv line 4: image file not found: .*zz\.tif"),
    (TABLE.replace("d.tif", "a.tif"), {}, r"t\.csv lines 2 and 5: duplicate image"),
    (TABLE.replace("220", "hot"), {}, r"t\.csv line 4: non-numeric value 'hot' in numeric column 'temp_C'"),
    (TABLE.replace(",8,", ",,"), {}, r"t\.csv line 2: missing value in numeric column 'time_h'"),
    (TABLE.replace("b.tif", "../../../../etc/passwd"), {}, r"t\.csv line 3: image path .*escapes the data root"),
    (TABLE.replace("b.tif", "/etc/passwd"), {}, r"line 3: image path '/etc/passwd' escapes the data root"),
    (TABLE.split("\n")[0] + "\n", {}, r"table t\.csv has no rows"),
    ("", {}, r"table t\.csv is empty"),
    (None, {"table": "../../secret.csv"}, r"table escapes the data root"),
    (None, {"table": "nope.csv"}, r"table not found"),
    (None, {"root": "nowhere"}, r"data root not found"),
    (None, {"um_per_px": -3}, r"um_per_px must be a column name or a positive number"),
    (TABLE.replace("0.1\n", "-0.1\n"), {}, r"line 4: um_per_px value .* must be positive"),
    (None, {"parameters": "temp_C,time_h"}, r"column 'temp_C,time_h'"),
    (None, {"exclude_unlabeled": "yes"}, r"exclude_unlabeled must be true or false"),
])
def test_validation_errors_are_one_line_and_name_the_culprit(toy: Path, csv_text: str | None,
                                                           changes: dict, pattern: str) -> None:
    with pytest.raises(ManifestError, match=pattern) as exc:
        load_manifest(_with(toy, csv_text, **changes))
    assert "\n" not in str(exc.value) and "m2.yaml" in str(exc.value)


def test_unreadable_manifest_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ManifestError, match="expected a mapping"):
        load_manifest(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ManifestError, match="empty manifest"):
        load_manifest(tmp_path / "empty.yaml")
    with pytest.raises(ManifestError, match="unknown key"):
        write_manifest(tmp_path / "w.yaml", {"name": "x", "table": "t", "image": "f", "extra": 1})
    assert not (tmp_path / "w.yaml").exists()


def _shipped(manifests_dir: Path, name: str, data_dir: Path):  # noqa: ANN202
    """Load a shipped manifest against the fixture's data dir (honours $SHAPEKIT_SHARED_DATA); when
    the data sits at the manifest's own relative root, that root must resolve to the same place."""
    m = load_manifest(manifests_dir / f"{name}.yaml", root=data_dir)
    if (manifests_dir / ".." / ".." / "shared" / "data").resolve() == data_dir.parent.resolve():
        assert load_manifest(manifests_dir / f"{name}.yaml").paths == m.paths
    return m


def test_manifest_root_expands_variables(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_DATA", str(toy / "data"))
    assert len(load_manifest(_with(toy, root="${TOY_DATA}"))) == 4


def test_shipped_uhcs3(manifests_dir: Path, uhcs3_dir: Path) -> None:
    m = _shipped(manifests_dir, "uhcs3", uhcs3_dir)
    assert len(m) == 450 and m.counts() == {"carbide_network": 150, "pearlite": 150, "spheroidite": 150}
    assert m.root == uhcs3_dir.resolve() and all(p.parent.name == "images" for p in m.paths[:5])
    assert m.groups is None and np.isnan(m.um_per_px_values).all()
    assert "CC BY 3.0" in m.license


def test_shipped_uhcs_originals(manifests_dir: Path, uhcs_originals_dir: Path) -> None:
    m = _shipped(manifests_dir, "uhcs_originals", uhcs_originals_dir)
    assert len(m) == 5 and m.excluded == 0
    assert m.parameters == ["anneal_temperature_C", "anneal_time_min"]
    assert m.parameter_values.shape == (5, 2) and np.isfinite(m.parameter_values).all()
    assert set(m.groups.tolist()) == {"34", "21", "5"}
    assert np.all((m.um_per_px_values > 0.03) & (m.um_per_px_values < 0.2))


def test_shipped_superalloy_excludes_unlabeled(manifests_dir: Path, superalloy_dir: Path) -> None:
    m = _shipped(manifests_dir, "superalloy_aging", superalloy_dir)
    assert len(m) == 18 and m.excluded == 5
    assert m.counts() == {"0": 9, "180": 9}
    assert m.label_col == "exposure_days" and m.group_col == "spot"
    assert sorted(set(m.groups.tolist())) == [str(i) for i in range(1, 8)]
    assert all(p.suffix == ".tif" and p.is_file() for p in m.paths)


def test_symlink_leaving_the_root_is_refused_with_the_reason(toy: Path) -> None:
    """A link to an image outside the root is refused (the root is the boundary), and the message
    says that it is a link and where it points (session 24: it said only "escapes")."""
    outside = toy / "elsewhere.tif"
    tifffile.imwrite(outside, np.zeros((8, 8), np.uint8))
    (toy / "data" / "img" / "b.tif").unlink()
    (toy / "data" / "img" / "b.tif").symlink_to(outside)
    with pytest.raises(ManifestError, match=r"line 3: .*escapes the data root .* \(a symlink to "
                                            r".*elsewhere\.tif: links must stay inside the root"):
        load_manifest(toy / "m.yaml")


def test_a_label_column_that_is_also_a_parameter_keeps_its_labels_as_written(toy: Path) -> None:
    # label and parameter both time_h: the parameter's float conversion turned the labels into
    # "8.0", "1.0", ..., so that `generate --label 8` was refused ("known labels: 1.0, 4.0, ...")
    alone = load_manifest(_with(toy, label="time_h", parameters=["temp_C"]))
    both = load_manifest(_with(toy, label="time_h", parameters=["temp_C", "time_h"]))
    assert alone.labels.tolist() == both.labels.tolist() == ["8", "1", "48", "4"]
    assert both.parameter_values[:, 1].tolist() == [8.0, 1.0, 48.0, 4.0]
    halves = "file,cls,temp_C,time_h,hardness,sample,scale\na.tif,x,1,0.5,1,s,\nb.tif,x,1,2,1,s,\n"
    assert load_manifest(_with(toy, halves, label="time_h", parameters=["time_h"],
                               um_per_px=None)).labels.tolist() == ["0.5", "2"]
