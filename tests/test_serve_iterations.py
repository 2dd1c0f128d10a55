"""The server names a fine-tuned generator's whole training, as its card and `shapekit models` do."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")


def test_models_and_image_metadata_give_the_whole_training_of_a_fine_tuned_generator(tmp_path) -> None:
    """/api/models and X-Shapekit-Metadata read the last fine-tuning stage's iterations alone
    (10500 for sim-parameters, whose card says 18500: 8000 of its base plus 10500)."""
    from fastapi.testclient import TestClient

    from shapekit.generate.formats import trained_iterations
    from shapekit.server import ServerConfig, create_app
    from shapekit.server.services import resolve_shipped

    cfg = json.loads((resolve_shipped("sim-parameters", "generator") / "generator.json").read_text())
    whole = trained_iterations(cfg)
    assert cfg.get("init_from") and whole > int(cfg["iterations"])   # a fine-tuned one
    app = create_app(ServerConfig(generators={"sim": resolve_shipped("sim-parameters", "generator")},
                                  workdir=tmp_path, workers=1))
    with TestClient(app) as client:
        gens = {g["name"]: g for g in client.get("/api/models").json()["generators"]}
        assert gens["sim"]["iterations"] == whole
        r = client.post("/api/generate", json={"generator": "sim", "size": 32})
        assert r.status_code == 200, r.text
        assert json.loads(r.headers["x-shapekit-metadata"])["generator_iterations"] == whole
