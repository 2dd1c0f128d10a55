"""shapekit.registry: shipped models by name, lookup errors, the model-card schema, `shapekit models`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shapekit import registry
from shapekit.errors import InputError, ModelFormatError

SHIPPED_GENERATORS = ["sim-parameters", "sim-properties", "uhcs3-class"]
SHIPPED_CLASSIFIERS = ["uhcs3"]


def card(name: str = "demo-gen", **over) -> dict:
    base = {"name": name, "kind": "generator", "summary": "a test generator",
            "data": "synthetic", "licence": "BSD-3-Clause", "citation": "none",
            "training_command": "shapekit train-gan m.yaml --out run", "seed": 0,
            "iterations": 10, "hardware": "1 CPU thread", "figures": {"r2": 0.5},
            "um_per_px": 0.002, "created": "2026-12-04"}
    return {**base, **over}


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "pretrained"
    for c in (card("gen-a"), card("clf-b", kind="classifier", um_per_px=None)):
        (root / c["name"]).mkdir(parents=True)
        (root / c["name"] / "card.json").write_text(json.dumps(c))
    (root / "not-a-model").mkdir()  # a folder without a card is ignored
    monkeypatch.setattr(registry, "pretrained_root", lambda: root)
    return root


def test_available_and_resolve_by_kind(fake_root: Path) -> None:
    assert [c["name"] for c in registry.available()] == ["clf-b", "gen-a"]
    assert [c["name"] for c in registry.available("generator")] == ["gen-a"]
    assert registry.resolve("gen-a", "generator") == fake_root / "gen-a"
    with pytest.raises(InputError, match="clf-b is a shipped classifier, not a generator; "
                                         "shipped generators: gen-a"):
        registry.resolve("clf-b", "generator")
    with pytest.raises(InputError, match="unknown model kind 'gan'"):
        registry.available("gan")


def test_existing_directory_is_used_as_is_and_path_like_names_are_refused(
        fake_root: Path, tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "myrun"
    run.mkdir()
    assert registry.resolve(run, "generator") == run
    monkeypatch.chdir(tmp_path)
    assert registry.resolve("myrun", "generator") == Path("myrun")  # a local folder wins
    for bad in ("../gen-a", "gen-a/../../x", "/nonexistent/gen-a", "~gen", "Gen-A", ".hidden"):
        with pytest.raises(InputError, match="shipped generators: gen-a"):
            registry.resolve(bad, "generator")


@pytest.mark.parametrize("change, msg", [
    ({"kind": "gan"}, "kind 'gan' is not one of generator, classifier"),
    ({"seed": "0"}, "field 'seed' must be int"),
    ({"seed": True}, "field 'seed' must be int"),
    ({"iterations": -1}, "seed and iterations must be >= 0"),
    ({"figures": [1]}, "field 'figures' must be dict"),
    ({"um_per_px": -0.1}, "um_per_px must be a positive number or null"),
    ({"um_per_px": "0.1"}, "field 'um_per_px' must be float or int or null"),
    ({"name": "../x"}, "not a valid model name"),
    ({"licence": "  "}, "field 'licence' is empty"),
])
def test_card_schema_refuses_bad_fields(change: dict, msg: str) -> None:
    registry.check_card(card())  # the base card is valid
    registry.check_card(card(um_per_px=None))
    with pytest.raises(ModelFormatError, match=msg.replace("(", r"\(")):
        registry.check_card(card(**change))


def test_card_missing_field_and_malformed_shipped_card(fake_root: Path) -> None:
    c = card()
    del c["licence"], c["created"]
    with pytest.raises(ModelFormatError, match="missing fields created, licence"):
        registry.check_card(c)
    (fake_root / "gen-a" / "card.json").write_text(json.dumps(card("other-name")))
    with pytest.raises(ModelFormatError, match="card name 'other-name' is not the folder's name"):
        registry.available()
    (fake_root / "gen-a" / "card.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="unreadable model card"):
        registry.available()


def test_shipped_classifier_has_valid_card_and_files() -> None:
    """uhcs3: a temper model directory with its card; loadable by name; its card says where its
    figures come from and matches its config."""
    from shapekit.temper.modeldir import load_model, read_config

    cards = {c["name"]: c for c in registry.available("classifier")}
    assert set(SHIPPED_CLASSIFIERS) <= set(cards)
    d = registry.resolve("uhcs3", "classifier")
    for f in ("config.json", "classifier.safetensors", "outside.safetensors", "card.json", "README.md"):
        assert (d / f).is_file(), f
    c = cards["uhcs3"]
    assert "CC BY 3.0" in c["licence"] and "Hecht" in c["citation"]
    assert "shapekit train-classifier data_manifests/uhcs3.yaml" in c["training_command"]
    cfg = read_config("uhcs3")
    assert c["um_per_px"] == cfg["target_um_per_px"] and c["seed"] == cfg["seed"]
    assert c["figures"]["cv"]["accuracy"] == max(r["accuracy"] for r in cfg["cv"]["table"])
    m = load_model("uhcs3")
    assert m.label_names == ["carbide_network", "pearlite", "spheroidite"] and m.outside is not None
    assert sum(f.stat().st_size for f in d.iterdir()) < 5e6     # a few MB at most


def test_shipped_generators_have_valid_cards_and_files() -> None:
    from shapekit.generate import load_generator

    cards = {c["name"]: c for c in registry.available("generator")}
    assert set(SHIPPED_GENERATORS) <= set(cards)
    for name in SHIPPED_GENERATORS:
        d = registry.resolve(name, "generator")
        for f in ("generator.safetensors", "generator.json", "card.json", "README.md"):
            assert (d / f).is_file(), (name, f)
        c = cards[name]
        assert "shapekit train-gan" in c["training_command"] and c["iterations"] > 0
        cfg = json.loads((d / "generator.json").read_text())
        assert cfg["um_per_px"] == c["um_per_px"]
        # a fine-tuned model's card counts the iterations of the generator it started from too
        start = cfg.get("init_from", {})
        assert cfg["iterations"] + start.get("iterations", 0) == c["iterations"]
        assert not start or len(start["sha256"]) == 64
        # an imaging stage is reproducible from the card: its command fits it, and it loads
        if "imaging" in cfg:
            assert "shapekit calibrate-imaging" in c["training_command"]
            assert load_generator(d, device="cpu").imaging is not None
    assert "CC BY 3.0" in cards["uhcs3-class"]["licence"]
    assert "Hecht" in cards["uhcs3-class"]["citation"]


def test_cli_models_lists_shipped(run_cli) -> None:
    code, out, err = run_cli("models", "--json")
    assert code == 0, err
    names = [c["name"] for c in json.loads(out)]
    assert set(SHIPPED_GENERATORS + SHIPPED_CLASSIFIERS) <= set(names)
    code, out, _ = run_cli("models", "--kind", "classifier")
    assert code == 0 and "uhcs3" in out and "classifier" in out and "scale unknown" in out
    code, _, err = run_cli("classify", "no-such-model", "x.tif")
    assert code == 2 and "nor a shipped classifier: uhcs3" in err
    code, out, _ = run_cli("models", "--kind", "generator")
    assert code == 0 and all(n in out for n in SHIPPED_GENERATORS) and "uhcs3 " not in out
    code, _, err = run_cli("generate", "no-such-model", "--n", "1", "--out", "x")
    assert code == 2 and "shipped generators: sim-parameters, sim-properties, uhcs3-class" in err


def test_cli_models_shows_size_data_licence_and_one_card(run_cli) -> None:
    """The listing gives each model's size, training data and licence; `models NAME` its card;
    an unknown NAME is a one-line error listing the shipped ones."""
    code, out, err = run_cli("models")
    assert code == 0, err
    assert "3.8 MB" in out and "data: uhcs3: 450 SEM micrographs" in out
    assert out.count("licence: ") == len(SHIPPED_GENERATORS + SHIPPED_CLASSIFIERS)
    assert "licence: CC BY 3.0 US" in out and "shapekit models NAME" in out
    code, out, err = run_cli("models", "uhcs3")
    assert code == 0, err
    assert out.startswith("# uhcs3\n") and "**Licence:** CC BY 3.0 US" in out and "(3.8 MB)" in out
    code, out, _ = run_cli("models", "uhcs3-class", "--json")
    c = json.loads(out)
    assert c["name"] == "uhcs3-class" and 0.9e6 < c["size_bytes"] < 1.2e6
    code, out, err = run_cli("models", "no-such")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "shapekit: error: no shipped model named 'no-such'; shipped models: "
        "sim-parameters, sim-properties, uhcs3, uhcs3-class"]
    code, _, err = run_cli("models", "uhcs3", "--kind", "generator")
    assert code == 2 and "shipped generators: sim-parameters, sim-properties, uhcs3-class" in err


def test_shipped_classifier_card_gives_the_command_that_makes_its_files() -> None:
    """uhcs3: the card's command makes the shipped files (training, then the copy stage that adds
    the magnification check's pixel-size range, without which ood scores differ), the file sizes
    it states are the files', and README.md is what benchmarks/ship_classifier.py renders from
    card.json and config.json."""
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    ship = importlib.import_module("ship_classifier")
    d = registry.resolve("uhcs3", "classifier")
    c = json.loads((d / "card.json").read_text())
    cfg = json.loads((d / "config.json").read_text())
    assert "training_um_per_px" in cfg
    assert c["training_command"].endswith("&& python benchmarks/ship_classifier.py copy MODEL_DIR "
                                          "--name uhcs3")
    assert c["figures"]["files"] == {f: (d / f).stat().st_size for f in ship.MODEL_FILES}
    assert (d / "README.md").read_text() == ship._readme(c, cfg)


def test_shipped_training_commands_use_options_the_cli_has() -> None:
    """Every `shapekit SUB ...` stage of every card's training command names only options SUB has."""
    import shlex

    from shapekit.cli import app

    for c in registry.available():
        for stage in c["training_command"].split("&&"):
            words = [w for w in shlex.split(stage) if not re.match(r"^[A-Z_]+=", w)]
            if words[0] != "shapekit":
                continue
            sub = app.commands[words[1]]
            known = {o for p in sub.params for o in (*p.opts, *p.secondary_opts)}
            assert {w for w in words[2:] if w.startswith("--")} <= known, (c["name"], words[1])
