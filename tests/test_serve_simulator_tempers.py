"""``/api/generate`` ignored the simulator's temper that ``shapekit generate`` (91d9653) uses: for a
generator trained on ``shapekit synth`` data, a request without a label drew the temper from the
seed whatever the conditions (an over-aged image at 200 C and 1 h), and a label where the
simulator makes another temper came back without the CLI's warning. Now both share
:mod:`shapekit.generate.simlabels`: no label -> the simulator's temper per image, a conflicting
label -> the CLI's warning text in the metadata header's ``warnings``."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from serve_helpers import real_folder, sim_generator, tiny_generator  # noqa: E402,F401


@pytest.fixture(scope="module")
def client(sim_generator, tiny_generator, real_folder, tmp_path_factory):
    from fastapi.testclient import TestClient

    from shapekit.server import ServerConfig, create_app

    cfg = ServerConfig(generators={"sim": sim_generator, "tiny": tiny_generator},
                       real_sets={"folder": real_folder},
                       workdir=tmp_path_factory.mktemp("serve-sim-work"), workers=1)
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


def _post(client, body: dict) -> tuple[bytes, dict]:
    r = client.post("/api/generate", json={"generator": "sim", "size": 32, **body})
    assert r.status_code == 200, r.text
    return r.content, json.loads(r.headers["x-shapekit-metadata"])


def test_no_label_gives_the_simulators_temper_at_each_setting(client) -> None:
    from shapekit.synth import process_model

    at = {"aging_temperature_C": 200.0}
    for h in (1.0, 16.0, 40.0):
        want = str(process_model(200.0, h)["temper"])
        for seed in range(4):  # whatever temper the seed would draw
            data, meta = _post(client, {"conditions": {**at, "aging_time_h": h}, "seed": seed})
            assert meta["label"] == want and "warnings" not in meta
            # the image is the model's at that temper: the same as asking for it
            asked, _ = _post(client, {"conditions": {**at, "aging_time_h": h}, "seed": seed,
                                      "label": want})
            assert data == asked
    _, meta = _post(client, {"conditions": at, "format": "tiff",
                             "sweep": {"name": "aging_time_h", "lo": 1, "hi": 60, "k": 5}})
    labels = [m["label"] for m in meta["images"]]
    assert labels == [str(process_model(200.0, m["conditions"]["aging_time_h"])["temper"])
                      for m in meta["images"]]
    assert set(labels) == {"under_aged", "peak_aged", "over_aged"} and "warnings" not in meta
    data, meta = _post(client, {"conditions": at,
                                "sweep": {"name": "aging_time_h", "lo": 1, "hi": 60, "k": 3}})
    assert data[:4] == b"\x89PNG" and len({m["label"] for m in meta["images"]}) > 1


def test_a_label_where_the_simulator_makes_another_temper_warns_as_the_cli_does(client) -> None:
    from shapekit.generate.simlabels import simulator_conflicts

    at = {"aging_temperature_C": 200.0}
    _, meta = _post(client, {"label": "over_aged", "conditions": {**at, "aging_time_h": 1.0}})
    assert meta["label"] == "over_aged"
    assert meta["warnings"] == [
        "over_aged asked where the simulator that labelled this model's training images makes "
        "another temper (aging_temperature_C=200, aging_time_h=1: under_aged): the model never saw "
        "over_aged there, so these images are an extrapolation; at 200 C over_aged needs "
        "aging_time_h 22.6-100"]
    _, meta = _post(client, {"label": "over_aged", "conditions": at, "format": "tiff",
                             "sweep": {"name": "aging_time_h", "lo": 1, "hi": 60, "k": 5}})
    codec = {"names": ["aging_temperature_C", "aging_time_h"],
             "label_names": ["over_aged", "peak_aged", "under_aged"]}
    assert meta["warnings"] == simulator_conflicts(codec, ["over_aged"],
                                                   [m["conditions"] for m in meta["images"]])
    assert len(meta["warnings"]) == 1 and "aging_time_h=1: under_aged" in meta["warnings"][0]
    _, meta = _post(client, {"label": "over_aged", "conditions": {**at, "aging_time_h": 40.0}})
    assert "warnings" not in meta


def test_other_generators_still_draw_the_temper_from_the_seed(client) -> None:
    r = client.post("/api/generate", json={"generator": "tiny", "seed": 7})
    meta = json.loads(r.headers["x-shapekit-metadata"])
    assert r.status_code == 200 and meta["label"] in ("peak_aged", "under_aged")
    assert "warnings" not in meta


# ------------------------------------------------------------------ /api/score
def _score(client, monkeypatch, real_folder, body: dict, named: bool = False) -> tuple[dict, list]:
    """Score ``sim``'s images (three) against the real set, uploaded or named; the labels its
    sampler was asked for come back too."""
    gen = client.app.state.shapekit.store.get("generator", "sim")
    asked, sample = [], gen.sample

    def spy(n, label, *a, **kw):
        asked.append(label)
        return sample(n, label, *a, **kw)

    monkeypatch.setattr(gen, "sample", spy)
    real = {} if named else {"files": [("real", (p.name, p.read_bytes()))
                                       for p in sorted(real_folder.iterdir())[:3]]}
    data = {"real_set": "folder"} if named else {}
    r = client.post("/api/score", data={"generator": "sim", "n": "3", "n_boot": "3", "n_perm": "3",
                                        **data, **body}, **real)
    assert r.status_code == 200, r.text
    return r.json(), asked


def test_score_without_a_label_makes_the_simulators_temper(client, monkeypatch, real_folder) -> None:
    """/api/score drew random tempers at one setting (an over-aged image at 200 C, 1 h) when the
    request had conditions or the real set was uploaded or had no conditions to copy."""
    from shapekit.synth import process_model

    for h in (1.0, 40.0):  # under- and over-aged
        cond = {"aging_temperature_C": 200.0, "aging_time_h": h}
        want = str(process_model(200.0, h)["temper"])
        out, asked = _score(client, monkeypatch, real_folder, {"conditions": json.dumps(cond)})
        assert asked == [want] and out["generated"]["label"] == want
        assert not any("simulator" in w for w in out["report"].get("warnings", []))
    # a named set that records no conditions (a folder): the generator's defaults, their temper
    out, asked = _score(client, monkeypatch, real_folder, {}, named=True)
    c = out["generated"]["conditions"]
    assert asked == [str(process_model(c["aging_temperature_C"], c["aging_time_h"])["temper"])]


def test_score_with_a_conflicting_label_warns_as_generate_does(client, monkeypatch, real_folder) -> None:
    from shapekit.generate.simlabels import simulator_conflicts

    cond = {"aging_temperature_C": 200.0, "aging_time_h": 1.0}
    out, asked = _score(client, monkeypatch, real_folder,
                        {"label": "over_aged", "conditions": json.dumps(cond)})
    assert asked == ["over_aged"] and out["generated"]["label"] == "over_aged"
    codec = client.app.state.shapekit.store.get("generator", "sim").codec.to_dict()
    want = simulator_conflicts(codec, ["over_aged"], [cond])
    assert len(want) == 1 and "aging_time_h=1: under_aged" in want[0]
    assert want[0] in out["report"]["warnings"]
    out, _ = _score(client, monkeypatch, real_folder,
                    {"label": "over_aged", "conditions": json.dumps({**cond, "aging_time_h": 40.0})})
    assert not any("simulator" in w for w in out["report"].get("warnings", []))


# ------------------------------------------------------------------ /api/models (the page's Temper menu)
def test_models_say_which_generators_get_the_simulators_temper(client) -> None:
    """The page had no way to ask for the simulator's temper: its Temper menu always sent a label.
    /api/models now says which generators take no label that way (the page then offers it)."""
    gens = {g["name"]: g for g in client.get("/api/models").json()["generators"]}
    assert gens["sim"]["simulator_labelled"] is True
    assert gens["tiny"]["simulator_labelled"] is False


def test_score_like_a_set_that_records_nothing_says_what_it_made(client, monkeypatch, real_folder) -> None:
    """Asked for no temper and no conditions (the page's "(as the real set's images)") against a
    named set that records none (a folder), every image was made at the generator's defaults and
    nothing in the report said that they were not like the set's; now a warning says so."""
    from shapekit.server.verdict import unmatched_set

    out, asked = _score(client, monkeypatch, real_folder, {}, named=True)
    c = out["generated"]["conditions"]
    want = unmatched_set("folder", "sim", ["over_aged", "peak_aged", "under_aged"], c, asked[0])
    assert want in out["report"]["warnings"]
    assert want.startswith("real set folder records no tempers and conditions of sim's (over_aged, "
                           "peak_aged, under_aged; aging_temperature_C, aging_time_h) for its images")
    assert f"all at sim's defaults aging_temperature_C={c['aging_temperature_C']:.3g}" in want
    for asked_for in ({"label": "peak_aged"}, {"conditions": json.dumps({"aging_time_h": 5.0})}):
        out, _ = _score(client, monkeypatch, real_folder, asked_for, named=True)
        assert not any("records no" in w for w in out["report"].get("warnings", []))


def test_a_tiff_is_named_after_its_temper_as_the_png_is(client) -> None:
    """The PNG download of an image without an asked label was named after the temper it got
    (shapekit-sim-peak_aged-seed0.png), the TIFF of the same image 'random'
    (shapekit-sim-random-seed0.tif), though nothing was drawn at random."""
    def name(body: dict) -> str:
        r = client.post("/api/generate", json={"size": 32, **body})
        assert r.status_code == 200, r.text
        return r.headers["content-disposition"].split('filename="')[1].rstrip('"')

    at = {"aging_temperature_C": 200.0, "aging_time_h": 1.0}              # under-aged there
    for fmt, ext in (("png", "png"), ("tiff", "tif")):
        assert name({"generator": "sim", "conditions": at, "format": fmt}) == f"shapekit-sim-under_aged-seed0.{ext}"
    drawn = json.loads(client.post("/api/generate", json={"generator": "tiny", "seed": 7, "size": 32})
                       .headers["x-shapekit-metadata"])["label"]
    assert name({"generator": "tiny", "seed": 7, "format": "tiff"}) == f"shapekit-tiny-{drawn}-seed7.tif"
    sweep = {"name": "aging_time_h", "lo": 1, "hi": 60, "k": 3}            # three tempers along it
    assert name({"generator": "sim", "conditions": at, "sweep": sweep}) == "shapekit-sim-mixed-seed0.png"
