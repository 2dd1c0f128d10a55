"""Copy a trained generator into the package (``shapekit/pretrained/<name>/``) with its model cards.

Writes ``generator.safetensors`` + ``generator.json`` (from the run's final export, or from one of
its training checkpoints with ``--checkpoint``; a run fine-tuned with ``train-gan --init-from``
keeps the record of the generator it started from, and the card's iterations count both),
``card.json`` (validated by
:func:`shapekit.registry.check_card`; the figures are read from the evaluation JSON of
``benchmarks/gan_whole_images.py`` run on these very files, see ``--figures``) and ``README.md``.

Example::

    python benchmarks/ship_generator.py /tmp/runs/uhcs3-class --name uhcs3-class \
        --checkpoint iter-0004000 --summary "..." --data "..." --licence "..." --citation "..." \
        --training-command "shapekit train-gan ..." --hardware "..." [--figures eval.json]

``--update NAME`` changes a shipped model in place instead (no run): ``--imaging MANIFEST`` fits
its imaging stage on its training split (``shapekit calibrate-imaging``, which refuses package
directories for users), ``--conditions MANIFEST [--max-zoom Z]`` its condition map
(``shapekit calibrate-conditions``), ``--append-command CMD`` adds the step to the card's command,
``--figures`` replaces the card's figures, ``--note`` its note; the README is rewritten.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"


def _figures(path: Path | None) -> dict:
    """The headline numbers of an evaluation JSON (gan_whole_images.py)."""
    if path is None:
        return {}
    e = json.loads(path.read_text())
    if e["evaluation"] == "sim":
        f = {f"r2_{q}": round(m["r2_generated"], 3) for q, m in e["metrics"].items()}
        f.update({f"r2_ceiling_{q}": round(m["r2_simulator_ceiling"], 3)
                  for q, m in e["metrics"].items()})
        f["sweep_spearman"] = {s["sweep"]: round(s["spearman"], 3) for s in e["sweeps"]}
        f["sweep_wrong_steps"] = {s["sweep"]: s["wrong_steps"] for s in e["sweeps"]}
        if all("wrong_steps_resolved" in s for s in e["sweeps"]):  # where the simulator's rises
            f["sweep_wrong_steps_resolved"] = {s["sweep"]: s["wrong_steps_resolved"]
                                               for s in e["sweeps"]}
        if "realism" in e:  # topological realism per temper against simulator fields
            f["realism_relative_to_baseline"] = {k: round(v["relative_to_baseline"], 2)
                                                 for k, v in e["realism"].items()}
            f["coverage"] = {k: round(v["coverage"], 2) for k, v in e["realism"].items()}
        w = e["whole_image_checks"]
        f["latent_period_peak_ratio"] = {"generated": round(w["lattice_peak_ratio_generated"], 3),
                                         "simulator": round(w["lattice_peak_ratio_real"], 3)}
        if "lattice_contrast_generated" in w:
            f["latent_period_cell_contrast"] = {"generated": round(w["lattice_contrast_generated"], 2),
                                                "simulator": round(w["lattice_contrast_real"], 2)}
        f["evaluated_on"] = (f"{e['settings']['n_test']} held-out process conditions x "
                             f"{e['settings']['per_combo']} generated images of {e['size']}^2")
    else:
        f = {"toptemp_agreement": round(e["agreement_generated"], 3),
             "toptemp_agreement_per_class": {k: round(v["agreement"], 3)
                                             for k, v in e["per_class"].items()},
             "toptemp_accuracy_real_heldout": round(e["toptemp_accuracy_real_heldout"], 3),
             "realism_relative_to_baseline": {k: round(v["relative_to_baseline"], 2)
                                              for k, v in e["per_class"].items()},
             "coverage": {k: round(v["coverage"], 2) for k, v in e["per_class"].items()},
             "collapsed": {k: v["collapsed"] for k, v in e["per_class"].items()},
             "two_point_distance": {k: round(v["two_point_distance"], 3)
                                    for k, v in e["per_class"].items()},
             "two_point_distance_real_train_vs_heldout": {
                 k: round(v["two_point_distance_real_train_vs_heldout"], 3)
                 for k, v in e["per_class"].items()},
             "evaluated_on": (f"{e['per_class'][next(iter(e['per_class']))]['n_generated']} "
                              f"generated images of {e['size']}^2 per class vs the held-out real "
                              "images of that class")}
    if e["evaluation"] != "sim" and all("lattice_contrast_generated" in v["whole_image_checks"]
                                        for v in e["per_class"].values()):
        f["latent_period_cell_contrast"] = {k: {"generated": round(v["whole_image_checks"]["lattice_contrast_generated"], 2),
                                                "real": round(v["whole_image_checks"]["lattice_contrast_real"], 2)}
                                            for k, v in e["per_class"].items()}
    if e["evaluation"] != "sim" and any(v.get("kid") for v in e["per_class"].values()):
        f["kid_local_cnn"] = {k: round(v["kid"]["kid_mean"], 3) for k, v in e["per_class"].items()}
        f["kid_real_train_vs_heldout"] = {k: round(v["kid_real_train_vs_heldout"]["kid_mean"], 3)
                                          for k, v in e["per_class"].items()}
    f["checks"] = "benchmarks/gan_whole_images.py"
    return f


def _readme(card: dict, cfg: dict) -> str:
    figs = "\n".join(f"- `{k}`: {json.dumps(v)}" for k, v in card["figures"].items()) or "- none"
    scale = (f"{card['um_per_px']:g} um per pixel" if card["um_per_px"]
             else f"the training scale (1/{cfg.get('downscale', 1):g} of the source pixels; the "
                  "source gives no physical pixel size)")
    conds = cfg["conditions"]
    cond_txt = ", ".join(conds["names"]) or "none (class only)"
    return f"""# {card['name']}

{card['summary']}

- **Kind:** {card['kind']} (`shapekit generate {card['name']} ...`, or
  `shapekit.generate.load_generator(shapekit.registry.resolve("{card['name']}", "generator"))`)
- **Conditions:** temper class ({", ".join(conds["label_names"])}); continuous: {cond_txt}
- **Scale:** {scale}; any image size (`--size 512`, `--size 1024x768`)
- **Data:** {card['data']}
- **Licence:** {card['licence']}
- **Cite:** {card['citation']}
- **Trained:** {card['iterations']} iterations, seed {card['seed']}, on {card['hardware']}
- **Reproduce:** `{card['training_command']}`
- **Created:** {card['created']}

{("**Note:** " + card["note"] + chr(10)) if card.get("note") else ""}
## Measured figures (on these files)

{figs}

See RESULTS.md section 6 of the shapekit repository for the commands and the full tables.
"""


def _averaged(gen, other_dir: Path, alpha: float, name_as: str | None):
    """The other export's network with the weights ``(1 - alpha) * other + alpha * run``, and the
    record of the average for ``generator.json`` (the other's sha256 and iterations)."""
    import hashlib

    import torch

    from shapekit.generate import load_generator
    from shapekit.generate.formats import trained_iterations

    other = load_generator(other_dir, device="cpu")
    if other.codec.to_dict() != gen.codec.to_dict():
        raise SystemExit(f"{other_dir} was trained on other conditions than the run")
    mine, theirs = gen.generator.state_dict(), other.generator.state_dict()
    if {k: v.shape for k, v in mine.items()} != {k: v.shape for k, v in theirs.items()}:
        raise SystemExit(f"{other_dir} has another network than the run")
    other.generator.load_state_dict({k: torch.lerp(v.float(), mine[k].float(), alpha).to(v.dtype)
                                     if v.is_floating_point() else v for k, v in theirs.items()})
    sha = hashlib.sha256((Path(other_dir) / "generator.safetensors").read_bytes()).hexdigest()
    return other.generator, {"averaged_with": {
        "model": name_as or str(other_dir), "sha256": sha, "alpha_run": float(alpha),
        "iterations": trained_iterations(other.config),
        "net": "the averaged model's network settings (margin included), the run's share alpha_run"}}


def update(a: argparse.Namespace) -> None:
    """``--update NAME``: the stage, command, figures and note of a shipped model, in place."""
    from shapekit import _atomic
    from shapekit.cli.calibrate import calibrate_generator
    from shapekit.registry import check_card

    dest = ROOT / a.update
    card = json.loads((dest / "card.json").read_text())
    if a.imaging is not None:
        block = calibrate_generator(dest, a.imaging, size=256, seed=0)
        print(json.dumps({k: {"blur_px": v["blur_px"], **v["fit"]}
                          for k, v in block["labels"].items()}))
    if a.conditions is not None:
        from shapekit.generate.conditioncal import calibrate_conditions

        block = calibrate_conditions(dest, a.conditions, size=256, seed=0, max_zoom=a.max_zoom,
                                     pull=a.pull, min_slope=a.min_slope,
                                     classes=a.label or None)
        print(json.dumps(block["fitted"]["labels"]))
    if a.append_command:
        card["training_command"] += " && " + a.append_command
    if a.figures is not None:
        card["figures"] = _figures(a.figures)
    if a.note:
        card["note"] = a.note
    check_card(card, "updated card")
    cfg = json.loads((dest / "generator.json").read_text())
    _atomic.write_json(dest / "card.json", card)
    _atomic.write_text(dest / "README.md", _readme(card, cfg))
    print(f"updated {dest}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if argv is None:
        import sys

        argv = sys.argv[1:]
    if "--update" in argv:
        p.add_argument("--update", required=True, metavar="NAME")
        p.add_argument("--imaging", type=Path, default=None, metavar="MANIFEST")
        p.add_argument("--conditions", type=Path, default=None, metavar="MANIFEST",
                       help="Fit its condition map on MANIFEST (shapekit calibrate-conditions).")
        p.add_argument("--max-zoom", type=float, default=None,
                       help="With --conditions: magnify up to this factor.")
        p.add_argument("--pull", type=float, default=0.1, help="With --conditions: its pull.")
        p.add_argument("--min-slope", type=float, default=0.0,
                       help="With --conditions: its minimum slope.")
        p.add_argument("--label", action="append", default=None,
                       help="With --conditions: fit only this class (repeatable).")
        p.add_argument("--append-command", default=None)
        p.add_argument("--figures", type=Path, default=None)
        p.add_argument("--note", default=None)
        return update(p.parse_args(argv))
    p.add_argument("run", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--checkpoint", default=None)
    for f in ("summary", "data", "licence", "citation", "training-command", "hardware"):
        p.add_argument(f"--{f}", required=True)
    p.add_argument("--figures", type=Path, default=None, help="Evaluation JSON of these files.")
    p.add_argument("--note", default=None, help="Extra card field 'note'.")
    p.add_argument("--init-from-as", default=None, metavar="PATH",
                   help="A fine-tuned run: name its starting model as the card's command does "
                        "(e.g. runs/NAME-base) instead of this machine's path; the sha256 of its "
                        "weights stays.")
    p.add_argument("--average-with", type=Path, default=None, metavar="DIR",
                   help="Ship a weight average (a model soup): this exported generator (same "
                        "weights' shapes and conditions) with its network settings, its weights "
                        "replaced by (1 - alpha) x its own + alpha x the run's.")
    p.add_argument("--alpha", type=float, default=0.5, help="The run's share of the average.")
    p.add_argument("--average-with-as", default=None, metavar="PATH",
                   help="Name the averaged model as the card's command does.")
    a = p.parse_args(argv)
    if a.average_with is not None and not 0.0 < a.alpha < 1.0:
        p.error("--alpha must lie strictly between 0 and 1")

    import torch

    from shapekit import _atomic
    from shapekit.generate import load_generator
    from shapekit.generate.export import export_generator
    from shapekit.generate.formats import trained_iterations
    from shapekit.registry import check_card

    dest = ROOT / a.name
    run_cfg = json.loads((a.run / "config.json").read_text())
    if a.figures is None:  # first pass: the weights only (evaluate them, then add --figures)
        gen = load_generator(a.run, device="cpu", checkpoint=a.checkpoint)
        net, extra = gen.generator, {}
        if a.average_with is not None:
            net, extra = _averaged(gen, a.average_with, a.alpha, a.average_with_as)
        export_generator(net.to(torch.float32), gen.codec, dest,
                         crop_size=run_cfg["crop_size"], um_per_px=gen.um_per_px,
                         extra={"iterations": int(gen.config["iterations"]),
                                "seed": run_cfg["seed"], "downscale": run_cfg["downscale"],
                                "holdout": run_cfg.get("holdout", 0.0),
                                **({"init_from": {**gen.config["init_from"],
                                                  **({"model": a.init_from_as}
                                                     if a.init_from_as else {})}}
                                   if "init_from" in gen.config else {}), **extra})
    cfg = json.loads((dest / "generator.json").read_text())
    # a fine-tuned model: its iterations count on from those of the generator it started from
    total = trained_iterations(cfg)
    card = {"name": a.name, "kind": "generator", "summary": a.summary, "data": a.data,
            "licence": a.licence, "citation": a.citation, "training_command": a.training_command,
            "seed": int(run_cfg["seed"]), "iterations": total,
            "hardware": a.hardware, "figures": _figures(a.figures), "um_per_px": cfg["um_per_px"],
            "created": _dt.date.today().isoformat()}
    if a.note:
        card["note"] = a.note
    check_card(card, "new card")
    _atomic.write_json(dest / "card.json", card)
    _atomic.write_text(dest / "README.md", _readme(card, cfg))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
