"""score(): validity on the simulator and on simple textures, determinism, bad input, CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from shapekit.errors import InputError
from shapekit.realism import ScaleWarning, score

FAST = dict(n_boot=40, n_perm=40, max_diagram_images=10)


def _texture(rng: np.random.Generator, sigma: float, n: int, size: int = 48) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        im = ndimage.gaussian_filter(rng.random((size, size)), sigma)
        out.append(((im - im.min()) / (im.max() - im.min())).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def textures():
    rng = np.random.default_rng(0)
    return _texture(rng, 2.0, 16), _texture(rng, 2.0, 16), _texture(rng, 3.5, 16)


def test_same_distribution_not_significant_and_different_is(textures):
    real, same, other = textures
    r_same = score(real, same, **FAST)
    r_diff = score(real, other, **FAST)
    assert r_same["p_value"] > 0.05
    assert r_diff["p_value"] <= 0.05
    assert r_diff["topological_distance"] > r_diff["real_vs_real"]["ci"][1]
    assert r_diff["topological_distance"] > 2 * r_same["topological_distance"]
    # the same real set gives the same baseline
    assert r_same["real_vs_real"] == r_diff["real_vs_real"]
    ci = r_diff["ci"]["topological_distance"]
    assert ci[0] <= r_diff["topological_distance"] <= ci[1]
    assert set(r_same["components"]) == {"d_summaries", "d_mmd", "d_energy"}
    json.dumps(r_same)  # JSON-ready (NaN aside, which emit_json maps to null)


def test_degradation_monotone_and_collapse_flagged(textures):
    real, held, _ = textures
    kw = dict(n_boot=5, n_perm=5, max_diagram_images=10)
    tds = [score(real, [ndimage.gaussian_filter(x, s) for x in held], **kw)["topological_distance"]
           for s in (0.5, 1.0, 2.0)]
    assert tds[0] < tds[1] < tds[2]
    rng = np.random.default_rng(1)
    collapsed = [np.clip(held[0] + rng.normal(0, 0.01, held[0].shape), 0, 1).astype(np.float32)
                 for _ in held]
    rc = score(real, collapsed, **kw)
    assert rc["coverage"]["collapsed"] and rc["coverage"]["diversity_ratio"] < 0.5
    assert not score(real, held, **kw)["coverage"]["collapsed"]


def test_simulator_aging_time_ranked_by_parameter_distance():
    from shapekit.synth import render_micrograph

    def sims(t_h: float, seed0: int, n: int = 10) -> list[np.ndarray]:
        return [render_micrograph(180.0, t_h, size=80, seed=seed0 + i)[0] for i in range(n)]

    ref = sims(3.0, 0)
    tds = [score(ref, sims(t, 1000), n_boot=5, n_perm=5, max_diagram_images=10)["topological_distance"]
           for t in (3.0, 12.0, 100.0)]
    assert tds[0] < tds[1] < tds[2]


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def test_jpeg_ladder_of_never_compressed_images_ranked_monotonically():
    # 8-bit simulator micrographs were never JPEG-compressed: each step down the standard ladder
    # removes more detail and the distance grows (uhcs3, already JPEG q75, behaves differently when
    # re-encoded on its own block grid: see benchmarks/realism_jpeg_cause.py)
    from shapekit.realism.prepared import prepare_set
    from shapekit.synth import render_micrograph

    ims = [(np.round(render_micrograph(180.0, 3.0, size=96, seed=i)[0] * 255) / 255).astype(np.float32)
           for i in range(24)]
    ref = prepare_set(ims[:12])
    res = [score(ref, [_jpeg(x, q) for x in ims[12:]], n_boot=5, n_perm=5, max_diagram_images=6)
           for q in (90, 70, 50, 30, 20, 10)]
    tds = [r["topological_distance"] for r in res]
    assert all(a < b for a, b in zip(tds, tds[1:])), tds
    assert tds[-1] > res[-1]["real_vs_real"]["ci"][1]


def test_deterministic_per_seed(textures):
    real, same, _ = textures
    a = score(real[:8], same[:8], n_boot=10, n_perm=10, seed=3)
    b = score(real[:8], same[:8], n_boot=10, n_perm=10, seed=3)
    a.pop("timings_s"), b.pop("timings_s"), a.pop("per_image_cpu_s"), b.pop("per_image_cpu_s")
    assert json.dumps(a, default=str) == json.dumps(b, default=str)


@pytest.mark.slow
def test_parallel_equals_serial(textures):
    real, same, _ = textures
    a = score(real[:10], same[:10], n_boot=5, n_perm=5, n_jobs=1)
    b = score(real[:10], same[:10], n_boot=5, n_perm=5, n_jobs=2)
    assert a["topological_distance"] == pytest.approx(b["topological_distance"], rel=1e-9)


def test_bad_inputs(tmp_path, textures):
    real = textures[0][:6]
    with pytest.raises(InputError, match="empty"):
        score(real, [])
    with pytest.raises(InputError, match="1 image"):
        score(real, real[:1])
    with pytest.raises(InputError, match="shape"):
        score(real, np.zeros((4, 4)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        score(real, empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    import cv2

    for i in range(3):
        cv2.imwrite(str(bad / f"{i}.png"), (real[i] * 255).astype(np.uint8))
    data = (bad / "2.png").read_bytes()
    (bad / "3.png").write_bytes(data[: len(data) // 2])   # a truncated PNG: the header looks fine
    with pytest.raises(InputError, match="3.png"):
        score(real, bad)


def test_constant_images_documented_behaviour(textures):
    real = textures[0][:8]
    const = [np.full((48, 48), 0.5, np.float32) for _ in range(6)]
    with pytest.warns(UserWarning, match="constant"):
        r = score(real, const, n_boot=5, n_perm=5)
    assert np.isfinite(r["topological_distance"]) and r["topological_distance"] > 0.5
    assert any("constant" in w for w in r["warnings"])
    assert r["materials"]["phase_fraction"]["fake_mean"] == 0.0


def test_scales(textures):
    real = textures[0][:6]
    big = [ndimage.zoom(x, 2, order=1) for x in real]
    with pytest.warns(ScaleWarning, match="pixel scale"):
        score(real, big, n_boot=3, n_perm=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScaleWarning)
        r = score(real, big, n_boot=3, n_perm=3, real_um_per_px=0.2, fake_um_per_px=0.1)
    assert r["um_per_px"] == pytest.approx(0.2)
    with pytest.warns(ScaleWarning, match="unknown for some"):
        score(real, big, n_boot=3, n_perm=3, real_um_per_px=0.2)


def _write_set(folder: Path, ims: list[np.ndarray]) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(ims):
        cv2.imwrite(str(folder / f"im{i:02d}.png"), np.round(im * 255).astype(np.uint8))
    return folder


def test_cli_score_json_report_and_errors(tmp_path, run_cli, textures):
    a = _write_set(tmp_path / "a", textures[0][:8])
    b = _write_set(tmp_path / "b", textures[2][:8])
    code, out, err = run_cli("score", a, b, "--json", "--n-boot", "10", "--n-perm", "10",
                             "--report", tmp_path / "rep")
    assert code == 0, err
    res = json.loads(out)
    for key in ("topological_distance", "real_vs_real", "p_value", "summaries", "coverage", "two_point", "kid"):
        assert key in res
    assert set(res["real_vs_real"]) >= {"mean", "ci"} and res["kid"] is None
    assert (tmp_path / "rep" / "report.html").read_text().count("<img") == 7
    for png in ("betti.png", "summaries.png", "two_point.png", "imaging.png", "structure_betti.png",
                "thumbs_reference.png", "thumbs_compared.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000
    code, out, err = run_cli("score", a, tmp_path / "missing")
    assert code == 2 and "not found" in err and err.count("\n") == 1
    code, out, err = run_cli("score", a, b, "--n-boot", "0")
    assert code == 2
    code, out, _ = run_cli("score", "--help")
    assert code == 0 and "--report" in out and "--n-boot" in out
    code, out, err = run_cli("score", a, b, "--n-boot", "5", "--n-perm", "5")
    assert code == 0 and "topological_distance" in out and "baseline" in out
    assert out.startswith("Structure: ")


def test_cli_score_refuses_a_report_inside_an_input_folder(tmp_path, run_cli, textures):
    """`--report REAL_FOLDER` wrote report.html and seven PNGs among the reference images, which
    the next `score` or `classify` of that folder read as micrographs."""
    a = _write_set(tmp_path / "a", textures[0][:4])
    b = _write_set(tmp_path / "b", textures[2][:4])
    for folder in (a, b, tmp_path / "b" / "."):
        code, _, err = run_cli("score", a, b, "--report", folder, "--n-boot", "2", "--n-perm", "2")
        assert code == 2 and "image folder" in err and err.count("\n") == 1
        assert sorted(p.name for p in folder.iterdir()) == [f"im{i:02d}.png" for i in range(4)]


def test_prepared_set_gives_the_same_result(textures):
    from shapekit.realism.prepared import prepare_set

    real, same, _ = textures
    direct = score(real[:8], same[:8], n_boot=5, n_perm=5)
    prepared = score(prepare_set(real[:8]), same[:8], n_boot=5, n_perm=5)
    both = score(prepare_set(real[:8]), prepare_set(same[:8]), n_boot=5, n_perm=5)
    assert prepared["topological_distance"] == pytest.approx(direct["topological_distance"], rel=1e-9)
    assert both["p_value"] == direct["p_value"]
    # a prepared set at 0.2 um/px: the other side is resampled to it
    big = [ndimage.zoom(x, 2, order=1) for x in same[:8]]
    r = score(prepare_set(real[:8], um_per_px=0.2), big, fake_um_per_px=0.1, n_boot=3, n_perm=3)
    assert r["um_per_px"] == pytest.approx(0.2) and not r["warnings"]


def test_cli_score_real_label_scores_one_class_of_a_manifest(tmp_path, run_cli, textures):
    """--real-label takes one label's images of a manifest: the same numbers as a folder holding
    just those images, under the name "MANIFEST LABEL"; unknown labels and folders are refused."""
    fine = _write_set(tmp_path / "data" / "fine", textures[0][:8])
    _write_set(tmp_path / "data" / "coarse", textures[2][:8])
    rows = [f"fine/im{i:02d}.png,fine" for i in range(8)] + \
        [f"coarse/im{i:02d}.png,coarse" for i in range(8)]
    (tmp_path / "data" / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "toy.yaml").write_text("name: toy\nroot: data\ntable: labels.csv\nimage: file\n"
                                       "label: label\n")
    cand = _write_set(tmp_path / "cand", textures[1][:8])
    opts = ("--json", "--n-boot", "10", "--n-perm", "10")
    code, out, err = run_cli("score", tmp_path / "toy.yaml", cand, "--real-label", "fine", *opts)
    assert code == 0, err
    by_label = json.loads(out)
    code, out, err = run_cli("score", fine, cand, *opts)
    folder = json.loads(out)
    assert by_label["n_real"] == 8 and by_label["names"]["real"] == "toy fine"
    assert by_label["topological_distance"] == pytest.approx(folder["topological_distance"])
    assert by_label["relative_to_baseline"] == pytest.approx(folder["relative_to_baseline"])
    code, _, err = run_cli("score", tmp_path / "toy.yaml", cand, "--real-label", "medium")
    assert code == 2 and "no image labelled 'medium'; its labels: coarse, fine" in err
    code, _, err = run_cli("score", fine, cand, "--real-label", "fine")
    assert code == 2 and "needs REAL to be a manifest" in err


def test_sets_of_unlike_sizes_get_a_note_and_read_as_it_says(textures):
    """The baseline scores halves of the reference: a much smaller synthetic set reads higher by its
    size alone (so a ratio is only comparable between sets of like sizes), and the result says so."""
    real, same, _ = textures
    few = score(real, same[:3], **FAST)
    like = score(real, same[:8], **FAST)
    assert any("reads high" in w and "8 images each" in w for w in few["warnings"]), few["warnings"]
    assert not any("halves of the reference" in w for w in like["warnings"]), like["warnings"]
    assert few["relative_to_baseline"] > like["relative_to_baseline"]
    many = score(real[:6], same, **FAST)
    assert any("reads low" in w and "3 images each" in w for w in many["warnings"]), many["warnings"]


def test_info_bars_in_a_scored_set_are_named():
    """`shapekit score uhcs_originals clean/` (the same five scans, raw and ingested) read
    'Structure: different (5.2x)' without a word: score does not crop instrument info bars, so
    their text and scale bar were scored as microstructure. The result now says so."""
    from shapekit.realism import score
    from shapekit.synth import render_micrograph

    raw = [render_micrograph(210.0, 10.0, size=96, seed=s, info_bar=True)[0] for s in range(4)]
    plain = [render_micrograph(210.0, 10.0, size=96, seed=s + 10)[0] for s in range(4)]
    res = score(raw, plain, n_boot=3, n_perm=3, mode="structure", names=("raw", "clean"))
    bar = [w for w in res["warnings"] if "info bar" in w]
    assert bar == ["4 of 4 images of raw end in an instrument info bar (text, scale bar), scored as "
                   "if it were microstructure: crop it first (shapekit ingest)"]
    res = score(plain, plain[::-1], n_boot=3, n_perm=3, mode="structure")
    assert not [w for w in res["warnings"] if "info bar" in w]


def test_images_shared_by_both_sets_are_named(textures):
    """`shapekit score real/ real/` (the same folder twice, by mistake) read 'indistinguishable,
    p = 1.00' without a word that the two sets were the same images; the result now says how
    many of the compared images are also in the reference."""
    real, same, _ = textures
    res = score(real, real[::-1], n_boot=3, n_perm=3, mode="imaging", names=("a", "b"))
    assert [w for w in res["warnings"] if "same" in w] == [
        "b holds the same 16 images as a: a set compared with itself reads as indistinguishable "
        "whatever it holds"]
    res = score(real, same[:6] + real[:2], n_boot=3, n_perm=3, mode="imaging", names=("a", "b"))
    assert [w for w in res["warnings"] if "same" in w] == [
        "2 of 8 images of b are also in a (the same pixels): they make the two sets look more alike "
        "than independent images would"]
    res = score(real, same, n_boot=3, n_perm=3, mode="imaging")
    assert not [w for w in res["warnings"] if "same" in w]


def test_report_names_what_each_imaging_attribute_measures(tmp_path, textures):
    """The report's imaging table had a row 'sharpness 0.31 0.14 sharper': the numbers are blur in
    px (lower is sharper), which read as the blurred set being the sharper one. Each row now names
    the measure its numbers are."""
    import re

    real, _, _ = textures
    blurred = [ndimage.gaussian_filter(x, 1.5) for x in real[8:]]
    score(real[:8], blurred, n_boot=3, n_perm=3, mode="imaging", report_dir=tmp_path)
    rows = re.findall(r"<tr><td>([^<]+)</td>", (tmp_path / "report.html").read_text())
    assert rows == ["brightness (mean grey)", "contrast (grey sd)", "noise (noise / contrast)",
                    "sharpness (blur, px)", "grey-level shape (skewness)"]


def test_report_betti_bands_never_go_below_zero(tmp_path, textures, monkeypatch):
    """The report's Betti curves drew mean +/- one sd as a band, which reached -40 'Betti number /
    10^4 px' where a few images had many features; a Betti number is a count, so the band stops at 0."""
    from shapekit.realism import report
    from shapekit.realism.summaries import image_features

    real, _, other = textures
    spiky = [np.zeros((48, 48), np.float32) for _ in range(5)] + real[:1]   # one busy image among blanks
    figs = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.append(fig) or path)
    report.plot_betti(tmp_path / "b.png", image_features(spiky), image_features(other[:4]))
    lows = [c.get_paths()[0].vertices[:, 1].min() for a in figs[0].axes for c in a.collections]
    assert lows and min(lows) >= 0


def test_arrays_outside_unit_range_are_refused(textures):
    """score() takes images in [0, 1]; 8-bit arrays (0-255) or a tanh generator's outputs (-1..1)
    were scored as they were, and the imaging verdict then read e.g. 'brighter and higher in
    contrast' for the same micrographs. They are refused with the range they hold (as
    TopologicalRealism refuses them); a small overshoot (resampling ringing) still passes."""
    real, same, _ = textures
    with pytest.raises(InputError, match=r"synthetic set: image 0 holds values in \[0, 255\], outside \[0, 1\]"):
        score(real, [np.round(255 * x) for x in same], n_boot=3, n_perm=3, mode="imaging")
    with pytest.raises(InputError, match=r"real set: image 0 holds values in \[-1, 1\]"):
        score([2 * x - 1 for x in real], same, n_boot=3, n_perm=3, mode="imaging")
    res = score(real, [1.02 * x - 0.01 for x in same], n_boot=3, n_perm=3, mode="imaging")
    assert res["n_fake"] == len(same)


def test_uint8_and_uint16_arrays_are_scaled_as_files_are(textures):
    """score() and prepare_set() refused uint8 arrays ("holds values in [0, 255]") although
    shapekit.io.readers.unit_image (read_image, temper, resample) scales them by their type's
    range; they are now read the same way: the scores equal those of the images / 255."""
    from shapekit.realism import prepare_set

    real, same, _ = textures
    q8 = [np.round(255 * x).astype(np.uint8) for x in real[:6] + same[:6]]
    unit = [x.astype(np.float32) / 255 for x in q8]
    kw = dict(n_boot=3, n_perm=3, mode="imaging")
    got, want = score(q8[:6], q8[6:], **kw), score(unit[:6], unit[6:], **kw)
    assert got["imaging"]["distance"] == want["imaging"]["distance"] > 0
    q16 = np.stack([x.astype(np.uint16) * 257 for x in q8[:6]])  # 255 * 257 = 65535
    assert score(q16, q8[6:], **kw)["imaging"]["distance"] == want["imaging"]["distance"]
    np.testing.assert_array_equal(prepare_set(q8[:6]).features.summaries,
                                  prepare_set(unit[:6]).features.summaries)
    with pytest.raises(InputError, match=r"image 0 holds values in \[0, 255\].*uint8/uint16 arrays"):
        score(real, [np.round(255 * x) for x in same], **kw)   # floats: still refused


def test_a_report_rewritten_in_its_folder_leaves_no_figures_of_the_earlier_run(tmp_path, textures):
    """`score A B --report rep` then `score A C --mode imaging --report rep` left the first run's
    betti.png, summaries.png, structure_betti.png and two_point.png beside the second run's
    report, figures of another comparison that report.html does not show. The PNGs in the folder
    are now exactly the ones the report shows (files of other names are left alone)."""
    import re

    real, same, other = textures
    score(real[:8], same[:8], n_boot=3, n_perm=3, report_dir=tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    score(real[:8], other[:8], n_boot=3, n_perm=3, mode="imaging", report_dir=tmp_path)
    shown = set(re.findall(r'src="([^"]+\.png)"', (tmp_path / "report.html").read_text()))
    assert shown == {"thumbs_reference.png", "thumbs_compared.png", "imaging.png"}
    assert {p.name for p in tmp_path.glob("*.png")} == shown
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_report_panels_do_not_overlap_their_neighbours_tick_labels(tmp_path, textures, monkeypatch):
    """In summaries.png the y tick labels of one histogram ('0.005') were drawn over the frame of
    the histogram to their left: the panels were laid out at fixed spacing, whatever the width of
    their labels. Each panel's tick labels now stay clear of its neighbour."""
    from shapekit.realism import report
    from shapekit.realism.summaries import image_features

    real, _, other = textures
    fr, ff = image_features(real[:6]), image_features(other[:6])
    figs = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.append(fig) or path)
    cols = {n: {"w1_std": 1.0} for n in fr.names}
    big = np.argsort(-np.abs(fr.summaries).max(0))[:5]      # counts: densities with wide tick labels
    report.plot_summaries(tmp_path / "s.png", cols, [fr.names[j] for j in big], fr, ff)
    fig = figs[0]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes = fig.axes
    for left, right in zip(axes[:-1], axes[1:]):
        frame = left.get_window_extent(r)
        labels = [t.get_window_extent(r) for t in right.get_yticklabels() if t.get_text()]
        assert labels and min(b.x0 for b in labels) > frame.x1, "tick labels over the neighbour's frame"


def test_descriptors_and_features_read_integer_images_as_files_are() -> None:
    """imaging_descriptors and image_features took a uint8 array on the 0-255 scale without a
    word (mean 127 where the file reads 0.5; persistence thresholds made for [0, 1])."""
    from shapekit.errors import InputError
    from shapekit.realism.imaging import imaging_descriptors
    from shapekit.realism.summaries import image_features

    rng = np.random.default_rng(0)
    ims8 = [(rng.random((48, 48)) * 255).astype(np.uint8) for _ in range(2)]
    unit = [(a / 255.0).astype(np.float32) for a in ims8]       # as a file of them is read
    np.testing.assert_allclose(imaging_descriptors(ims8)[0], imaging_descriptors(unit)[0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(image_features(ims8, betti=False).summaries,
                               image_features(unit, betti=False).summaries, rtol=1e-6, atol=1e-9)
    with pytest.raises(InputError, match="image 0"):
        imaging_descriptors([np.zeros((8, 8), np.int32)])
