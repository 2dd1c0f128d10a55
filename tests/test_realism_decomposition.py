"""Structure vs imaging: known answers on the simulator, verdict sentences, report, collapse, scale."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import ndimage

from shapekit.errors import InputError
from shapekit.realism import score
from shapekit.realism.imaging import blur_sigma, imaging_descriptors, matching_blur, noise_sigma
from shapekit.realism.prepared import prepare_set
from shapekit.realism.greylevels import match_grey_levels
from shapekit.realism.structure import correlation_length, reference_quantiles, structure_image
from shapekit.realism.verdict import verdict

KW = dict(n_boot=30, n_perm=30, max_diagram_images=8)


def _sims(t_h: float, seed0: int, n: int = 14, size: int = 112) -> list[np.ndarray]:
    from shapekit.synth import render_micrograph

    return [render_micrograph(180.0, t_h, size=size, seed=seed0 + i)[0] for i in range(n)]


@pytest.fixture(scope="module")
def sim():
    ref = prepare_set(_sims(3.0, 0), name="sim 3 h")
    return ref, _sims(3.0, 500)


def test_imaging_estimators_known_answers():
    rng = np.random.default_rng(0)
    smooth = ndimage.gaussian_filter(rng.random((160, 160)), 6)
    smooth = (smooth - smooth.min()) / np.ptp(smooth)
    for s in (0.02, 0.05):
        assert noise_sigma(smooth + rng.normal(0, s, smooth.shape)) == pytest.approx(s, rel=0.1)
    step = np.zeros((96, 96))
    step[:, 40:] = 1.0
    yy, xx = np.mgrid[:96, :96]
    disc = (np.hypot(yy - 48, xx - 48) < 30).astype(float)
    for b in (1.0, 2.0, 3.0):
        # a pixelated edge carries ~0.3 px of its own; the estimate is within 15 %
        assert blur_sigma(ndimage.gaussian_filter(step, b)) == pytest.approx(b, rel=0.15)
        assert blur_sigma(ndimage.gaussian_filter(disc, b)) == pytest.approx(b, rel=0.15)
    # noise barely moves the blur estimate
    noisy = ndimage.gaussian_filter(disc, 1.5) + rng.normal(0, 0.03, disc.shape)
    assert blur_sigma(noisy) == pytest.approx(blur_sigma(ndimage.gaussian_filter(disc, 1.5)), abs=0.25)
    # matching: the extra blur that makes the sharp set read like the blurred one is about the blur added
    sharp = [ndimage.gaussian_filter(disc, 0.7)] * 3
    target = blur_sigma(ndimage.gaussian_filter(sharp[0], 2.0))
    assert matching_blur(sharp, target) == pytest.approx(2.0, abs=0.3)
    X, names = imaging_descriptors([smooth, 0.5 * smooth + 0.3])
    j = {n: i for i, n in enumerate(names)}
    assert X[1, j["std"]] == pytest.approx(0.5 * X[0, j["std"]], rel=1e-4)
    assert X[1, j["relative_noise"]] == pytest.approx(X[0, j["relative_noise"]], rel=0.05)


def test_grey_level_matching_known_answers():
    rng = np.random.default_rng(3)
    a = rng.random((64, 64)).astype(np.float32)

    def zs(x):
        return ((x - x.mean()) / x.std()).astype(np.float32)

    target = np.quantile(zs(a), (np.arange(100) + 0.5) / 100)
    # an image matched to its own quantiles stays itself
    assert np.abs(match_grey_levels(zs(a), target) - zs(a)).max() < 1e-3
    # a gamma is taken out (the z-score alone leaves it: 0.12 on average)
    for g in (0.6, 1.5):
        assert np.abs(zs(a ** g) - zs(a)).mean() > 0.1
        assert np.abs(match_grey_levels(zs(a ** g), target) - zs(a)).mean() < 0.03
    # the curve is increasing whatever the target, a step-like one included: pixel order is kept
    step_like = np.r_[np.full(70, -0.6), np.full(30, 1.4)] + np.linspace(0, 0.01, 100)
    for t in (target, step_like, np.linspace(-3, 3, 100) ** 3):
        out = match_grey_levels(zs(a), t)
        assert out.dtype == np.float32 and np.all(np.diff(out.ravel()[np.argsort(a.ravel())]) >= -1e-6)
    assert np.array_equal(match_grey_levels(np.zeros((8, 8), np.float32), target), np.zeros((8, 8)))
    q = reference_quantiles([a, a[::-1]], 1.5)
    assert len(q) == 100 and np.all(np.diff(q) >= 0) and hash(q) == hash(reference_quantiles([a, a[::-1]], 1.5))


def test_structure_images_are_invariant_to_grey_level_curves():
    rng = np.random.default_rng(1)
    a = ndimage.gaussian_filter(rng.random((64, 64)), 2).astype(np.float32)
    a = (a - a.min()) / np.ptp(a)
    for b in (0.3 * a + 0.5, 2.0 * a - 0.4):
        assert np.abs(structure_image(b, 1.5, 2) - structure_image(a, 1.5, 2)).max() < 1e-5
    # gamma: matched to the reference's grey levels, the structure image moves about 3x less than
    # with the z-score alone (features here ~6 px across: the curve and the smoothing commute
    # except near edges)
    t = reference_quantiles([a], 1.5, 2)
    u = structure_image(a, 1.5, 2, t)
    assert np.abs(u - structure_image(a, 1.5, 2)).max() < 1e-3       # the reference: nearly itself
    for g in (0.6, 1.5):
        matched = np.abs(structure_image(a ** g, 1.5, 2, t) - u).mean()
        plain = np.abs(structure_image(a ** g, 1.5, 2) - structure_image(a, 1.5, 2)).mean()
        assert matched < 0.003 and plain > 2.5 * matched, (g, matched, plain)
    r = np.arange(40.0)
    phi = np.array([0.3, 0.3])
    s2 = phi[:, None] ** 2 + (phi - phi ** 2)[:, None] * np.exp(-r[None] / np.array([[3.0], [9.0]]))
    assert correlation_length(s2, phi) == pytest.approx([3.0, 9.0], abs=0.05)


@pytest.mark.parametrize("change, words", [
    ("brightness", {"brighter"}),
    ("contrast", {"lower in contrast"}),
    ("noise", {"noisier"}),
    ("blur", {"blurrier"}),
])
def test_imaging_only_changes_score_near_baseline_on_structure(sim, change, words):
    ref, held = sim
    rng = np.random.default_rng(2)
    f = {"brightness": lambda x: np.clip(x + 0.12, 0, 1),
         "contrast": lambda x: (x.mean() + 0.6 * (x - x.mean())).astype(np.float32),
         "noise": lambda x: np.clip(x + rng.normal(0, 0.08, x.shape), 0, 1).astype(np.float32),
         "blur": lambda x: ndimage.gaussian_filter(x, 2.0)}[change]
    r = score(ref, [f(x) for x in held], **KW)
    st, im = r["structure"], r["imaging"]
    assert st["p_value"] > 0.05 and st["relative_to_baseline"] < 1.5, (change, st["p_value"], st["relative_to_baseline"])
    assert im["p_value"] <= 0.05 and im["relative_to_baseline"] > 2.0
    found = {a["word"] for a in im["attributes"].values() if a["differs"]}
    assert words <= found, found
    assert r["verdict"]["structure"].startswith("Structure: indistinguishable from sim 3 h")
    assert r["verdict"]["imaging"].startswith("Imaging: ") and all(w in r["verdict"]["imaging"] for w in words)
    # the combined headline on raw images sees the change
    assert r["relative_to_baseline"] > st["relative_to_baseline"]


@pytest.mark.parametrize("gamma, word", [(0.6, "brighter"), (1.5, "darker")])
def test_a_grey_level_curve_stays_near_baseline_on_structure(sim, gamma, word):
    ref, held = sim
    r = score(ref, [x ** gamma for x in held], **KW)
    st, im = r["structure"], r["imaging"]
    assert st["p_value"] > 0.05 and st["relative_to_baseline"] < 1.5, (gamma, st["p_value"], st["relative_to_baseline"])
    assert im["relative_to_baseline"] > 2.0 and im["attributes"]["brightness"]["word"] == word
    assert r["verdict"]["structure"].startswith("Structure: indistinguishable from sim 3 h")


def test_aging_only_changes_score_far_on_structure_in_order(sim):
    ref, held = sim
    same = score(ref, held, **KW)["structure"]
    d = [score(ref, _sims(t, 1000 * k), **KW)["structure"] for k, t in enumerate((8.0, 30.0, 100.0), start=1)]
    assert same["p_value"] > 0.05
    assert all(b["p_value"] <= 0.05 and b["relative_to_baseline"] > 2.0 for b in d)
    dist = [b["distance"] for b in d]
    assert same["distance"] < dist[0] < dist[1] < dist[2], dist
    assert d[-1]["descriptors"]["feature_size"]["ratio"] > 1.1          # coarsening: larger features


def test_modes_and_json(sim):
    ref, held = sim
    rs = score(ref, held[:8], mode="structure", n_boot=5, n_perm=5)
    ri = score(ref, held[:8], mode="imaging", n_boot=5, n_perm=5)
    assert "structure" in rs and "imaging" not in rs and "topological_distance" not in rs
    assert "imaging" in ri and "structure" not in ri and "coverage" not in ri
    assert ri["verdict"]["structure"] is None and ri["verdict"]["lines"][0].startswith("Imaging:")
    json.dumps(rs, allow_nan=True)
    json.dumps(ri, allow_nan=True)
    # the structure block does not depend on whether the headline was computed
    rb = score(ref, held[:8], n_boot=5, n_perm=5)
    assert rb["structure"]["distance"] == pytest.approx(rs["structure"]["distance"], rel=1e-12)
    assert rb["imaging"]["p_value"] == ri["imaging"]["p_value"]


def test_verdict_sentences_known_answers():
    def res(st, im, **kw):
        r = {"names": {"real": "uhcs3", "synthetic": "gan run 7"}, "scale_known": True, "structure": st, "imaging": im}
        r.update(kw)
        return r

    att = {"brightness": {"differs": True, "word": "brighter"}, "contrast": {"differs": False, "word": "lower in contrast"},
           "noise": {"differs": True, "word": "noisier"}}
    v = verdict(res({"p_value": 0.41, "relative_to_baseline": 0.9, "distance": 0.1},
                    {"p_value": 0.005, "relative_to_baseline": 6.04, "distance": 2.0, "attributes": att}))
    assert v["structure"] == "Structure: indistinguishable from uhcs3 (distance 0.9x uhcs3 against itself, p = 0.41)."
    assert v["imaging"] == "Imaging: brighter and noisier than uhcs3 (distance 6.0x uhcs3 against itself, p = 0.005)."
    v = verdict(res({"p_value": 0.02, "relative_to_baseline": 1.4, "distance": 0.2},
                    {"p_value": 0.6, "relative_to_baseline": 0.8, "distance": 0.1, "attributes": {}}))
    assert v["structure"].startswith("Structure: close to uhcs3, but measurably different (distance 1.4x")
    assert v["imaging"].startswith("Imaging: indistinguishable from uhcs3")
    fs = {"differs": True, "effect_size": 2.0, "real_mean": 3.0, "fake_mean": 7.5, "ratio": 2.5}
    st = {"p_value": 0.005, "relative_to_baseline": 5.0, "distance": 1.0, "descriptors": {"feature_size": fs},
          "coverage": {"collapsed": True, "duplicate_fraction": 0.9, "duplicate_expected": 0.05}}
    v = verdict(res(st, None, scale_known=False, um_per_px=None))
    assert v["structure"] == ("Structure: different from uhcs3 (distance 5.0x uhcs3 against itself, p = 0.005): "
                              "coarser features (feature spacing 7.5 px in gan run 7, 3.0 px in uhcs3).")
    assert v["diversity"].startswith("Diversity: collapsed: 90 % of gan run 7's images")
    assert v["scale"].startswith("Scale: the pixel size of both sets is unknown, and the typical feature sizes differ 2.5x")
    assert v["imaging"] is None and v["lines"] == [v["structure"], v["diversity"], v["scale"]]
    # p >= 0.05 but far: too few images to tell; no baseline: the distance itself
    v = verdict(res({"p_value": 0.2, "relative_to_baseline": 3.0, "distance": 1.0},
                    {"p_value": 0.2, "relative_to_baseline": float("nan"), "distance": 0.5, "attributes": {}}))
    assert "too few images to tell" in v["structure"]
    assert v["imaging"] == "Imaging: indistinguishable from uhcs3 (distance 0.500, no baseline, p = 0.20)."


def _write_set(folder, ims):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(ims):
        cv2.imwrite(str(folder / f"im{i:02d}.png"), np.round(np.clip(im, 0, 1) * 255).astype(np.uint8))
    return folder


def test_report_names_thumbnails_and_verdict_first(tmp_path, sim, run_cli):
    import cv2

    _, held = sim
    dark = _write_set(tmp_path / "dark_session", [0.6 * x for x in held[:8]])
    bright = _write_set(tmp_path / "gan_epoch_12", [np.clip(0.3 + 0.6 * x, 0, 1) for x in held[8:]])
    code, out, err = run_cli("score", dark, bright, "--json", "--n-boot", "8", "--n-perm", "8",
                             "--report", tmp_path / "rep")
    # 8 permutations cannot give p < 0.05: the verdict says so, and still names the attribute
    assert code == 0, err
    res = json.loads(out)
    assert res["names"] == {"real": "dark_session", "synthetic": "gan_epoch_12"}
    assert {"structure", "imaging", "topological_distance", "verdict"} <= set(res)
    page = (tmp_path / "rep" / "report.html").read_text()
    body = page[page.index("<body>"):]
    # the page opens with the verdict, names the sets by folder, shows both thumbnails, then the plots
    assert body.index("Structure:") < body.index("thumbs_reference.png") < body.index("imaging.png")
    assert "Imaging: brighter" in body and "the smallest 8 permutations can give" in body
    assert "<h1>gan_epoch_12 against dark_session</h1>" in body
    assert "synthetic" not in re.sub(r"<[^>]+>", "", body).lower()
    for png in ("thumbs_reference.png", "thumbs_compared.png", "imaging.png", "structure_betti.png",
                "two_point.png", "betti.png", "summaries.png"):
        assert png in body and (tmp_path / "rep" / png).stat().st_size > 1000, png
    tr = cv2.imread(str(tmp_path / "rep" / "thumbs_reference.png"), cv2.IMREAD_GRAYSCALE)
    tc = cv2.imread(str(tmp_path / "rep" / "thumbs_compared.png"), cv2.IMREAD_GRAYSCALE)
    assert tr.shape == tc.shape == (2 * 130, 4 * 130)
    assert tc.mean() > tr.mean() + 30          # the brighter set's thumbnails are the brighter ones
    code, out, err = run_cli("score", dark, bright, "--mode", "imaging", "--n-boot", "5", "--n-perm", "5")
    assert code == 0, err
    assert out.startswith("Imaging: brighter") and "Structure" not in out
    code, _, err = run_cli("score", dark, bright, "--mode", "shape")
    assert code == 2


def test_collapse_and_coverage_calibrated_on_known_cases(sim):
    ref, held = sim
    rng = np.random.default_rng(3)
    cases = {"same": held,
             "one repeated": [np.clip(held[0] + rng.normal(0, 0.01, held[0].shape), 0, 1).astype(np.float32)
                              for _ in held],
             "three repeated": [np.clip(held[i % 3] + rng.normal(0, 0.01, held[0].shape), 0, 1).astype(np.float32)
                                for i in range(len(held))],
             "blurred": [ndimage.gaussian_filter(x, 2.0) for x in held],
             "brighter and noisier": [np.clip(x + 0.1 + rng.normal(0, 0.03, x.shape), 0, 1).astype(np.float32)
                                      for x in held]}
    cov = {k: score(ref, v, **KW)["coverage"] for k, v in cases.items()}
    for k in ("same", "blurred", "brighter and noisier"):
        assert not cov[k]["collapsed"], (k, cov[k])
        # imaging differences no longer empty the coverage (the first version read ~0 here)
        assert cov[k]["coverage"] >= 0.6 * cov[k]["expected_if_same"], (k, cov[k])
    for k in ("one repeated", "three repeated"):
        assert cov[k]["collapsed"] and cov[k]["duplicate_fraction"] > 0.8, (k, cov[k])
    assert cov["one repeated"]["coverage"] < 0.3


def test_unknown_scale_with_different_feature_sizes_is_said_plainly(sim):
    ref, held = sim
    # 3x magnification of the same material, same image size: no size-based warning can catch it
    zoomed = [ndimage.zoom(x, 3, order=1)[:112, :112] for x in held]
    r = score(ref, zoomed, **KW)
    assert not r["warnings"]
    assert r["verdict"]["scale"] is not None and "differ" in r["verdict"]["scale"]
    assert "different magnifications" in r["verdict"]["scale"]
    assert r["verdict"]["scale"] in r["verdict"]["lines"]
    r = score(ref, held, **KW)
    assert r["verdict"]["scale"] is None
    # with the pixel sizes known, the zoomed set is resampled to the reference's scale: no scale sentence
    r = score(ref.images, zoomed, real_um_per_px=0.002, fake_um_per_px=0.002 / 3, **KW)
    assert r["verdict"]["scale"] is None and r["um_per_px"] == pytest.approx(0.002)
    with pytest.raises(InputError, match="prepare_set"):
        score(ref, zoomed, real_um_per_px=0.002, **KW)


def test_diversity_with_too_few_images_for_the_duplicate_check_says_so() -> None:
    # two generated images: no near-duplicate check can run, and the sentence read
    # "no sign of collapse (near-duplicates nan %, 5 % expected; ...)"
    from scipy.spatial.distance import cdist

    from shapekit.realism.coverage import near_duplicates

    z = np.random.default_rng(0).normal(size=(6, 3))
    nd = near_duplicates(cdist(z, z), np.arange(4), np.arange(4, 6))
    cov = {"duplicate_fraction": nd["duplicate_fraction"], "duplicate_expected": 0.05,
           "diversity_ratio": 0.7}
    st = {"p_value": 0.1, "relative_to_baseline": 7.1, "distance": 1.8, "coverage": cov}
    v = verdict({"names": {"real": "alloy", "synthetic": "gen"}, "scale_known": True,
                 "structure": st, "imaging": None})
    assert v["diversity"] == ("Diversity: too few images to check for collapse (near-duplicates "
                              "need 3 in each set); spread 0.70x alloy's.")


def test_diversity_names_many_near_duplicates_below_the_collapse_flag() -> None:
    """shapekit serve scored 16 sim-parameters images against a simulated set and read "Diversity:
    no sign of collapse (near-duplicates 44 %, 5 % expected; ...)", a sentence contradicting its
    own numbers. Below the 50 % flag it now says how many near-duplicates there are."""
    def sentence(frac: float) -> str:
        cov = {"duplicate_fraction": frac, "duplicate_expected": 0.05, "diversity_ratio": 0.88}
        st = {"p_value": 0.01, "relative_to_baseline": 4.9, "distance": 0.45, "coverage": cov}
        return verdict({"names": {"real": "synth", "synthetic": "candidate"}, "scale_known": True,
                        "structure": st, "imaging": None})["diversity"]

    assert sentence(0.44) == ("Diversity: not flagged as collapsed (from 50 %), but 44 % of candidate's "
                              "images have a near-duplicate in the set (5 % expected); spread 0.88x synth's.")
    assert sentence(0.06).startswith("Diversity: no sign of collapse (near-duplicates 6 %")
    # the reduced-diversity sentence said "without near-duplicates (40 %)" (score sim/ sweep/)
    cov = {"duplicate_fraction": 0.4, "duplicate_expected": 0.05, "diversity_ratio": 0.63,
           "reduced_diversity": True, "diversity_ratio_real_vs_real": [0.85, 1.16]}
    st = {"p_value": 0.18, "relative_to_baseline": 2.7, "distance": 0.4, "coverage": cov}
    v = verdict({"names": {"real": "synth", "synthetic": "sweep"}, "scale_known": True,
                 "structure": st, "imaging": None})["diversity"]
    assert v == ("Diversity: reduced: sweep spreads 0.63x as much as synth (halves of synth: 0.85-1.16), "
                 "and 40 % of its images have a near-duplicate in the set (5 % expected).")


def test_imaging_without_a_baseline_is_not_called_close():
    """Three spheroidite scans against nine superalloy scans read 'Imaging: close to three, but
    measurably different: blurrier (distance 6.532, no baseline, p = 0.05)': with fewer than 4
    reference images there is no baseline to call a distance close against, and the structure
    sentence of the same rule (level) says 'different' there. An attribute that differs now reads
    as it does with a large distance."""
    from shapekit.realism.verdict import verdict

    att = {"sharpness": {"differs": True, "word": "blurrier"}}
    im = {"p_value": 0.0476, "relative_to_baseline": float("nan"), "distance": 6.532, "attributes": att}
    v = verdict({"names": {"real": "three", "synthetic": "sa0"}, "scale_known": True, "imaging": im})
    assert v["imaging"] == "Imaging: blurrier than three (distance 6.532, no baseline, p = 0.048)."
    im["relative_to_baseline"] = 1.5
    v = verdict({"names": {"real": "three", "synthetic": "sa0"}, "scale_known": True, "imaging": im})
    assert v["imaging"].startswith("Imaging: close to three, but measurably different: blurrier (distance 1.5x")


def test_p_values_near_the_threshold_are_not_rounded_onto_it():
    """'different from X (..., p = 0.05)' came from p = 0.0476 (20 permutations) and
    'indistinguishable from X (..., p = 0.05)' from p = 0.052: two decimals put both on the 0.05
    the verdict is drawn at. p-values under 0.1 now carry three decimals."""
    from shapekit.realism.verdict import verdict

    def line(p):
        st = {"p_value": p, "relative_to_baseline": 3.0, "distance": 1.0}
        return verdict({"names": {"real": "a", "synthetic": "b"}, "scale_known": True, "structure": st})["structure"]

    assert line(0.0476) == "Structure: different from a (distance 3.0x a against itself, p = 0.048)."
    assert line(0.052).endswith("p = 0.052).") and line(0.41).endswith("p = 0.41).")
    assert line(0.004).endswith("p = 0.004).")


def test_shift_test_holds_its_level_for_a_few_images_of_a_skewed_quantity() -> None:
    """8 images against 142 of one skewed (log-normal) quantity: the shift is called at
    p < 0.01 in about 1 % of draws. Welch's t-distribution called it in 10.7 % of these same
    draws (a user scoring 8 real scans against the rest read "noisier" where nothing differs)."""
    from shapekit.realism.resampling import shift_test

    rng = np.random.default_rng(0)
    calls = [shift_test(rng.lognormal(0, 1.2, 142), rng.lognormal(0, 1.2, 8))["p_value"] < 0.01
             for _ in range(300)]
    assert np.mean(calls) <= 0.03
    a, b = rng.lognormal(0, 1.2, 142), rng.lognormal(0, 1.2, 8) + 8      # a real shift is seen
    assert shift_test(a, b)["p_value"] < 0.01
    assert shift_test(a, b) == shift_test(a, b)                          # seeded
    one = shift_test(rng.normal(0, 1, 100), [0.3])   # one typical image: was effect inf, p 0
    assert abs(one["effect_size"]) < 1 and one["p_value"] > 0.5
