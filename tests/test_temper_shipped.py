"""The shipped uhcs3 model: loaded by name, its verdicts on real scans and on other materials,
and explanations in physical terms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shapekit.registry import resolve
from shapekit.temper.modeldir import load_model


@pytest.fixture(scope="module")
def uhcs3():
    return load_model("uhcs3")


def test_simulated_alloy_is_outside_the_uhcs3_training_data(uhcs3):
    """The embedded simulator's aged alloy is another material: every scan is 'unknown'."""
    from shapekit.synth import render_micrograph

    scans = [render_micrograph(t, h, size=384, seed=s)[0] for s, (t, h) in enumerate([(150, 1), (180, 8), (210, 50)])]
    res = uhcs3.classify(scans)
    assert [r["temper"] for r in res] == ["unknown"] * 3
    for r in res:
        assert r["in_distribution"] is False and r["prediction_set"] == [] and r["ood_score"] > 1
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-5       # still says what it resembles
        assert any(n.startswith("outside the training data") for n in r["notes"])
        # arrays without a pixel size: the model has a range to compare with, the scan has none
        assert any(n.startswith("magnification not checked: the scan's pixel size is unknown")
                   for n in r["notes"])


def test_magnification_beyond_the_uhcs_database_range_is_unknown(uhcs3, uhcs_originals_dir):
    """The range comes from the UHCS database (uhcs3 was drawn from it): a scan stated more than
    2x beyond it is 'unknown' for its magnification alone; the same scan inside is not."""
    lo, hi = uhcs3.config["training_um_per_px"]
    assert lo == pytest.approx(0.00194, rel=1e-2) and hi == pytest.approx(5.88, rel=1e-2)
    scan = str(uhcs_originals_dir / "micrograph607.tif")    # a spheroidite scan at 0.16 um/px
    own = uhcs3.classify(scan)[0]
    assert own["temper"] == "spheroidite" and own["ood"]["scale"] == 0.5 and own["notes"] == []
    for ump, word in ((4 * hi, "4x coarser than the coarsest"), (lo / 4, "4x finer than the finest")):
        r = uhcs3.classify(scan, um_per_px=ump)[0]
        assert r["temper"] == "unknown" and r["in_distribution"] is False
        assert r["ood"]["scale"] == pytest.approx(2.0) and r["ood_score"] == pytest.approx(2.0)
        assert r["ood"]["topology"] == own["ood"]["topology"]       # nothing else changed
        assert any(word in n and n.startswith("outside the training data: magnification")
                   for n in r["notes"])


def test_blank_and_saturated_scans_are_unknown(uhcs3):
    rng = np.random.default_rng(0)
    blank = np.clip(0.45 + 0.01 * rng.normal(size=(475, 645)), 0, 1).astype(np.float32)
    assert uhcs3.classify(blank)[0]["temper"] == "unknown"


def test_white_noise_is_unknown_not_spheroidite(uhcs3):
    """A scan of nothing but pixel noise was spheroidite at 0.93, inside the training data
    (ood 0.37); the noise part now flags uniform and Gaussian white noise."""
    rng = np.random.default_rng(1)
    uniform = (np.round(rng.random((475, 645)) * 255) / 255).astype(np.float32)
    gauss = np.clip(0.5 + 0.15 * rng.normal(size=(475, 645)), 0, 1).astype(np.float32)
    for r in uhcs3.classify([uniform, gauss]):
        assert r["temper"] == "unknown" and r["ood"]["noise"] > 1
        assert any("mostly noise" in n for n in r["notes"])
    assert 0.1 < uhcs3.config["outside"]["structure_share_min"] < 0.2     # the least structured uhcs3 scan


def test_uhcs_originals_as_the_card_says(uhcs3, uhcs_originals_dir):
    """Raw microscope TIFFs (info bar cropped on the fly): the verdicts the card reports."""
    card = json.loads((resolve("uhcs3", "classifier") / "card.json").read_text())
    expected = {r["image"]: r for r in card["figures"]["uhcs_originals"]}
    res = uhcs3.classify(sorted(str(p) for p in uhcs_originals_dir.glob("*.tif")))
    assert len(res) == 5
    for r in res:
        e = expected[r["image"].rsplit("/", 1)[-1]]
        assert r["temper"] == e["temper"] and r["prediction_set"] == e["prediction_set"]
        assert r["in_distribution"] is True and r["ood_score"] == pytest.approx(e["ood_score"], abs=2e-3)
        assert r["scan"]["info_bar_rows"] == 38 and r["scan"]["um_per_px_source"] == "OLYMPUS_SIS"
    # the catalogued primary microconstituent where it is a single one of the model's classes
    got = {r["image"].rsplit("/", 1)[-1]: r["temper"] for r in res}
    assert got["micrograph1257.tif"] == got["micrograph1522.tif"] == got["micrograph607.tif"] == "spheroidite"


def test_explanation_in_physical_terms(uhcs3, uhcs_originals_dir):
    """Sizes in micrometres from the file's pixel size; no pair reaches past the scan's edge."""
    from shapekit.temper.explain import MEANING, explain_scan

    ex = explain_scan(uhcs3, uhcs_originals_dir / "micrograph607.tif", top=100)
    h, w = ex.scan.shape
    assert (h, w) == (484, 645) and ex.um_per_px == pytest.approx(0.1631, abs=1e-3)
    top = ex.pairs[:100]
    assert top and all(r["size_um"] == pytest.approx(r["size_px"] * ex.um_per_px) for r in top)
    for r in ex.pairs:
        reach = max(r["reach_px"], r["scale"])
        assert reach <= r["row"] <= h - 1 - reach and reach <= r["col"] <= w - 1 - reach
    s = ex.summary()
    assert s["reading"][0].startswith("verdict: spheroidite")
    assert set(b["what"] for b in s["blocks"]) == set(MEANING.values())
    assert any(b["typical_size_um"] is not None for b in s["blocks"][:3])
    assert any("um across" in line for line in s["reading"][1:])


def test_twelve_bit_scan_in_a_sixteen_bit_file_gets_an_actionable_note(uhcs3, uhcs3_dir, tmp_path,
                                                                       run_cli):
    """A uhcs3 scan stored as 12-bit values in a 16-bit TIFF fails the grey-level check (its grey
    levels fill 6 % of the range); the verdict says so and how to fix it, and once the contrast is
    stretched the scan is inside the training data with the same probabilities (session 24)."""
    import cv2
    import tifffile

    im = cv2.imread(str(uhcs3_dir / "images" / "micrograph1.jpg"), cv2.IMREAD_GRAYSCALE)
    d12 = (im.astype(np.uint32) * 4095 // 255).astype(np.uint16)
    tifffile.imwrite(tmp_path / "d12.tif", d12)
    tifffile.imwrite(tmp_path / "d16.tif", (d12.astype(np.uint32) * 65535 // 4095).astype(np.uint16))
    narrow, stretched = uhcs3.classify([tmp_path / "d12.tif", tmp_path / "d16.tif"])
    assert narrow["temper"] == "unknown" and not narrow["in_distribution"]
    assert sum("12-bit detector in a 16-bit file" in n for n in narrow["notes"]) == 1, narrow["notes"]
    assert stretched["in_distribution"] and not any("12-bit" in n for n in stretched["notes"])
    for k, p in narrow["probabilities"].items():
        assert p == pytest.approx(stretched["probabilities"][k], abs=0.02)
    # `shapekit classify` without --json shows the remedy too, not only the "outside" line before it
    code, out, err = run_cli("classify", "uhcs3", tmp_path / "d12.tif")
    assert code == 0 and "\tunknown\t" in out, err
    assert "12-bit detector in a 16-bit file" in err and "65535/4095" in err, err
    # so does `shapekit explain` (it printed 'unknown: outside the training data' alone)
    code, out, err = run_cli("explain", "uhcs3", tmp_path / "d12.tif", "--out", tmp_path / "why.png")
    assert code == 0 and "\tunknown\t" in out and "65535/4095" in err, err
    # ingest says it too (it kept the scan as it is, silently, before); not for the stretched copy
    code, out, err = run_cli("ingest", tmp_path / "d12.tif", tmp_path / "d16.tif", "--out",
                             tmp_path / "ing", "--json")
    assert code == 0, err
    notes = {r["source"].rsplit("/", 1)[-1]: r["notes"] for r in json.loads(out)["images"]}
    assert any("65535/4095" in n for n in notes["d12.tif"]) and notes["d16.tif"] == [], notes


def test_dim_eight_bit_scan_is_not_told_it_is_a_sixteen_bit_file(uhcs3, uhcs3_dir, tmp_path):
    """An 8-bit scan (or an array) whose grey levels fill little of the range fails the grey-level
    check: its note says the contrast is low, not "a 12-bit detector in a 16-bit file? scale by
    65535/4095", which an 8-bit file cannot be (the superalloy scans got that advice)."""
    import cv2

    im = cv2.imread(str(uhcs3_dir / "images" / "micrograph1.jpg"), cv2.IMREAD_GRAYSCALE)
    dim = (im.astype(np.float64) * 16 / 255 + 100).astype(np.uint8)      # 100-116 of 0-255
    cv2.imwrite(str(tmp_path / "dim.png"), dim)
    for r in uhcs3.classify([tmp_path / "dim.png", dim.astype(np.float32) / 255]):
        assert r["temper"] == "unknown", r
        hint = [n for n in r["notes"] if "of the file's range" in n or "of the range" in n]
        assert len(hint) == 1, r["notes"]
        assert "16-bit" not in hint[0] and "65535" not in hint[0], hint
        assert "stretch its contrast" in hint[0], hint


def test_server_checks_magnification_like_the_cli(uhcs3, uhcs_originals_dir):
    """The page's classify gives the shipped model the scan's own pixel size, so its
    magnification check runs as in `shapekit classify` (it said 'pixel size unknown' and passed
    a scan stated 4x beyond the range)."""
    from shapekit.server.services import classify_file

    scan = uhcs_originals_dir / "micrograph607.tif"
    cli = uhcs3.classify(str(scan))[0]
    res = classify_file(uhcs3, scan, scan.name)
    assert res["ood"] == cli["ood"] and res["ood"]["scale"] == 0.5 and res["notes"] == []
    hi = uhcs3.config["training_um_per_px"][1]
    far = classify_file(uhcs3, scan, scan.name, um_per_px=4 * hi)
    assert far["temper"] == "unknown" and far["ood"]["scale"] == pytest.approx(2.0)


def test_outside_score_just_over_the_limit_does_not_read_as_the_limit(uhcs3, uhcs3_dir):
    """uhcs3's micrograph354 scores 1.0004 on grey levels: 'unknown', and its note read
    'score 1; 1 is the 99 % limit', as if it were inside. The note now shows the excess."""
    r = uhcs3.classify([str(uhcs3_dir / "images" / "micrograph354.jpg")])[0]
    assert r["temper"] == "unknown" and 1 < r["ood_score"] < 1.01
    note = next(n for n in r["notes"] if n.startswith("outside the training data"))
    assert "(score 1.000" in note and "(score 1;" not in note


def test_evaluate_counts_the_shipped_models_training_scans_under_any_name(uhcs3_dir, tmp_path,
                                                                         run_cli):
    """`evaluate uhcs3` on a manifest of uhcs3 scans under other names (a lab's own copy) gave
    training-set figures without a word: only the manifest file trained on was recognised. The
    shipped config holds the digests of its 450 training scans' pixels; a copy is counted, a copy
    changed by one grey level is not."""
    import shutil

    import cv2
    import pandas as pd

    cfg = json.loads((resolve("uhcs3", "classifier") / "config.json").read_text())
    assert len(set(cfg["training_fingerprints"])) == cfg["n_train"] == 450
    table = pd.read_csv(uhcs3_dir / "labels.csv").iloc[[0, 200, 400]]
    (tmp_path / "images").mkdir()
    rows = []
    for i, (name, label) in enumerate(zip(table["file"], table["label_name"])):
        dest = tmp_path / "images" / f"lab_scan_{i}.jpg"
        if i < 2:   # the file itself, renamed
            shutil.copyfile(uhcs3_dir / "images" / name, dest)
        else:       # its pixels changed by one grey level, stored lossless
            dest = dest.with_suffix(".png")
            im = cv2.imread(str(uhcs3_dir / "images" / name), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(dest), np.where(im < 255, im + 1, im - 1).astype(np.uint8))
        rows.append({"file": dest.name, "label": label})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "lab.yaml").write_text("name: lab\nroot: .\ntable: labels.csv\nimages_dir: images\n"
                                       "image: file\nlabel: label\n")
    code, out, err = run_cli("evaluate", "uhcs3", tmp_path / "lab.yaml", "--json")
    assert code == 0, err
    assert json.loads(out)["training_scans"] == 2
    assert "2 of 3 scans" in err and "trained on (identical pixels)" in err, err


def test_a_training_scan_is_noted_as_one(uhcs3, uhcs3_dir, uhcs_originals_dir, run_cli):
    """`classify uhcs3 micrograph1.jpg` (a training scan; the README's explain example) read like
    a verdict on a new scan. Its verdict now carries a note; a scan the model has not seen does not."""
    from shapekit.temper.model import TRAINING_SCAN_NOTE

    seen, new = uhcs3.classify([uhcs3_dir / "images" / "micrograph1.jpg",
                                uhcs_originals_dir / "micrograph607.tif"])
    assert TRAINING_SCAN_NOTE in seen["notes"] and TRAINING_SCAN_NOTE not in new["notes"]
    code, out, err = run_cli("classify", "uhcs3", uhcs3_dir / "images" / "micrograph1.jpg")
    assert code == 0 and "one of this model's training scans" in err, err
