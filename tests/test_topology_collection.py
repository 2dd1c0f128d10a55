"""featurize_collection (Dask / joblib schedulers, physical scale) and featurize_scan (streaming)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from sklearn.pipeline import make_pipeline, make_union

from shapekit.errors import InputError
from shapekit.topology import (
    BettiCurves,
    CubicalDiagrams,
    PersistenceImages,
    PersistenceStatistics,
    Pyramid,
    Standardize,
    featurize_collection,
    featurize_scan,
)


def _ft():
    return make_pipeline(Standardize(), Pyramid((1, 2)), CubicalDiagrams(),
                         make_union(PersistenceStatistics(), BettiCurves(4), PersistenceImages(3)))


def _fitted():
    return _ft().fit(np.random.default_rng(1).random((3, 32, 32)))


@pytest.fixture
def image_set(tmp_path):
    from shapekit.io import write_manifest

    rng = np.random.default_rng(0)
    rows = ["file,cls,um"]
    for i, (um, side) in enumerate([(0.1, 64), (0.2, 32), (0.1, 64)]):
        img = (rng.random((side, side)) * 255).astype(np.uint8)
        tifffile.imwrite(tmp_path / f"im{i}.tif", img)
        rows.append(f"im{i}.tif,{'ab'[i % 2]},{um}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    write_manifest(tmp_path / "m.yaml", {"name": "t", "root": ".", "table": "t.csv",
                                         "image": "file", "label": "cls", "um_per_px": "um"})
    return tmp_path


def test_manifest_tiles_at_common_physical_scale(image_set):
    X, meta = featurize_collection(image_set / "m.yaml", _fitted(), tile_size=16,
                                   target_um_per_px=0.2, n_jobs=1)
    # 64 px at 0.1 um/px -> 32 px at 0.2 um/px: every image gives 2x2 tiles of 16 px
    assert X.shape[0] == 12 and meta["index"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert set(meta["um_per_px"]) == {0.2} and meta["label"].tolist()[4] == "b"
    assert meta[["row", "col"]].values[:4].tolist() == [[0, 0], [0, 16], [16, 0], [16, 16]]
    assert np.isfinite(X).all()


def test_schedulers_agree(image_set):
    paths = sorted(image_set.glob("*.tif"))
    ft = _fitted()
    ref, meta = featurize_collection(paths, ft, n_jobs=1)
    for sched, n in (("threads", 2), ("synchronous", None), ("processes", 2)):
        X, m = featurize_collection(paths, ft, scheduler=sched, n_jobs=n)
        assert np.array_equal(X, ref), sched
        assert m["image"].tolist() == meta["image"].tolist()


def test_fitted_pipeline_is_reused(image_set):
    paths = sorted(image_set.glob("*.tif"))
    ft = _fitted()
    ranges = dict(ft[-1].transformer_list[2][1].ranges_)
    X, _ = featurize_collection(paths[:1], ft, n_jobs=1)
    assert ft[-1].transformer_list[2][1].ranges_ == ranges
    from shapekit.io import load_scan

    assert np.array_equal(X, ft.transform([load_scan(paths[0]).image]))
    with pytest.raises(InputError, match="fit the feature pipeline first"):
        featurize_collection(paths, _ft())
    with pytest.raises(InputError, match="scheduler"):
        featurize_collection(paths, ft, scheduler="gpu", n_jobs=2)


def test_featurize_scan_equals_tiles():
    from shapekit.io import tile_image

    rng = np.random.default_rng(2)
    scan = rng.random((70, 100)).astype(np.float32)
    ft = _fitted()
    X, coords = featurize_scan(scan, ft, 32, stride=24, batch=3)
    t = tile_image(scan, 32, 24, pad="none")
    assert np.array_equal(coords, t.coords)
    assert np.array_equal(X, ft.transform(t.tiles))
    with pytest.raises(InputError, match="smaller than one"):
        featurize_scan(scan[:20], ft, 32)
    with pytest.raises(InputError, match="fit"):
        featurize_scan(scan, _ft(), 32)


@pytest.mark.slow
def test_8192_scan_peak_rss_below_4gib():
    code = textwrap.dedent("""
        import resource, numpy as np
        from sklearn.pipeline import make_pipeline, make_union
        from shapekit.topology import (BettiCurves, CubicalDiagrams, PersistenceImages,
                                       PersistenceStatistics, Pyramid, Standardize, featurize_scan)
        rng = np.random.default_rng(0)
        ft = make_pipeline(Standardize(), Pyramid(), CubicalDiagrams(),
                           make_union(PersistenceStatistics(), BettiCurves(), PersistenceImages()))
        ft.fit(rng.random((4, 256, 256)))
        img = rng.random((8192, 8192), dtype=np.float32)
        X, c = featurize_scan(img, ft, 256)
        print(X.shape[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, rss_kib = map(int, out.stdout.split())
    assert n == 32 * 32
    assert rss_kib < 4 * 2**20


def test_unknown_scale_is_used_as_is(image_set):
    # plain paths carry no pixel size (and these TIFFs have none): no resampling, no error
    X, meta = featurize_collection(sorted(image_set.glob("*.tif"))[:2], _fitted(), tile_size=32,
                                   target_um_per_px=0.2, n_jobs=1)
    assert meta["um_per_px"].isna().all() and X.shape[0] == 4 + 1
