"""Which pixel budget refused a request, and how to raise it.

The server's ``--max-pixels`` bounds each image it reads or makes; a generator's feature maps are
bounded by the process's budget (``$SHAPEKIT_MAX_PIXELS``, ``shapekit --max-pixels N``). Every
refusal said to raise ``shapekit serve --max-pixels``, which does nothing for the second: a
``"size": "4096x4096"`` (the API's largest side) was refused for the shipped generators with a
hint that could not help.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from serve_helpers import tiny_generator  # noqa: E402,F401


def test_a_limit_names_the_budget_that_refused(tiny_generator, tmp_path, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from shapekit.server import ServerConfig, create_app

    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", "100000")        # the process's budget
    cfg = ServerConfig(generators={"tiny": tiny_generator}, workdir=tmp_path / "work",
                       max_pixels=2 ** 17, workers=1)
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        r = client.post("/api/generate", json={"generator": "tiny", "size": 256})   # 64k px: fits both
        assert r.status_code == 422
        err = r.json()["error"]
        assert err.startswith("feature maps of the generator for images of 256x256 px: ")
        assert "over the limit of 100000 pixels (the process's limit, not serve --max-pixels: start " \
               "the server as shapekit --max-pixels N serve ..., or set $SHAPEKIT_MAX_PIXELS)" in err
        r = client.post("/api/generate", json={"generator": "tiny", "size": 256,  # 3 x 64k px: the server's
                                               "sweep": {"name": "aging_time_h", "k": 3}})
        assert r.status_code == 422
        assert r.json()["error"] == ("3 generated images of 256x256 px: 3x256x256 = 196608 pixels, over the "
                                     f"limit of {2 ** 17} pixels (the server's limit: shapekit serve --max-pixels N)")
