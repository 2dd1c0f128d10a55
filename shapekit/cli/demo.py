"""``shapekit demo``: the three jobs end to end on the embedded simulator, in a few minutes on a CPU.

1. synthesise a labelled set of aged-alloy micrographs (under-, peak-, over-aged) and a held-out set;
2. train a TopTemp temper classifier (cross-validated model selection), evaluate it on the held-out
   set, explain one verdict;
3. train a small conditional GAN in ``parameters`` mode for a few steps (the training workflow),
   then sweep aging time with the generator that ships with shapekit (``sim-parameters``: whole
   micrographs at the simulator's 2 nm/px);
4. score the shipped generator's micrographs topologically against real (simulated) ones, with
   the real-vs-real baseline beside it;
then print a summary table and write ``summary.json`` and PNG figures to ``--out``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import (OutputPath, emit_json, given, info, json_finite, json_option,
                                  seed_option)


def _step(name: str, t0: float) -> float:
    now = time.perf_counter()
    info(f"[demo] {name} done in {now - t0:.1f} s")
    return now


def _samples_figure(images: list, tempers: list[str], path: Path, per_class: int = 4) -> None:
    import numpy as np

    from shapekit.generate.grid import save_labelled_grid
    from shapekit.synth import TEMPERS

    rows = []
    for t in TEMPERS:
        idx = [i for i, v in enumerate(tempers) if v == t][:per_class]
        rows.extend(images[i] for i in idx)
        rows.extend(np.zeros_like(images[0]) for _ in range(per_class - len(idx)))
    save_labelled_grid(np.stack(rows), path, len(TEMPERS), per_class, row_labels=list(TEMPERS),
                       title="simulated micrographs per temper")


# A deliberately small GAN so the demo stays within a few minutes on 2 CPU cores. R1 is off here:
# a 40-step run is about the workflow, not about image quality; the sweep and the realism score
# use the shipped generator.
DEMO_GAN = {"g_channels": 8, "d_channels": 8, "r1_gamma": 0.0}
#: the shipped generator the demo samples (shapekit.registry)
DEMO_GENERATOR = "sim-parameters"


def realism_conditions(table: Any, ranges: dict[str, tuple[float, float]],
                       k: int = 24) -> list[tuple[str, dict[str, float]]]:
    """Temper and aging conditions of the first ``k`` held-out images, inside the generator's range.

    The held-out set is drawn from the same simulator domain as the shipped generator's training
    set, but with another seed, so a draw can fall a fraction of a degree or an hour outside the
    range the generator was trained on, and sampling it would warn of an extrapolation that the
    demo did not ask for. Each condition is clipped to ``ranges``.

    Parameters
    ----------
    table : pandas.DataFrame
        The held-out set's table (``temper``, ``aging_temperature_C``, ``aging_time_h``).
    ranges : dict
        The generator's training range of each condition (``Generator.ranges``).
    k : int
        How many rows.

    Returns
    -------
    list of (str, dict)
        ``(temper, {"aging_temperature_C": T, "aging_time_h": h})`` per row.
    """
    from shapekit.generate.reference import clipped_conditions

    head, names = table.head(int(k)), ["aging_temperature_C", "aging_time_h"]
    return clipped_conditions(list(head["temper"]), head[names].to_numpy(), names, ranges)


def run_demo(out: Path, *, n: int = 90, size: int = 128, seed: int = 0, gan_steps: int = 40,
             gan_size: int = 32, with_gan: bool = True) -> dict[str, Any]:
    """Run the demo and return its summary (also written to ``out/summary.json``).

    Parameters
    ----------
    out : Path
        Output folder (created): ``data/``, ``heldout/``, ``model/``, ``gan/``, figures, summary.
    n : int
        Training images (the held-out set has ``n // 2``).
    size : int
        Simulated image side in pixels.
    seed : int
        Seeds everything.
    gan_steps, gan_size : int
        GAN training iterations and crop side (the short training run).
    with_gan : bool
        Skip the GAN and realism steps when False.
    """
    import numpy as np

    from shapekit._atomic import write_json
    from shapekit.io import load_manifest
    from shapekit.synth import synthesize
    from shapekit._atomic import save_figure
    from shapekit.temper.explain import explain_scan
    from shapekit.temper.explainplot import plot_confusion, plot_explanation
    from shapekit.temper.selection import scores
    from shapekit.temper.train import train_model

    if n < 12:
        raise click.BadParameter("--n must be at least 12 (4 per temper)", param_hint="--n")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"seed": seed, "n_train": n, "n_heldout": n // 2, "size": size}
    t0 = t_start = time.perf_counter()

    # 1. data
    train = synthesize(n, out_dir=out / "data", seed=seed, size=size)
    held = synthesize(n // 2, out_dir=out / "heldout", seed=seed + 1, size=size)
    _samples_figure(train.images, list(train.table["temper"]), out / "samples.png")
    t0 = _step(f"simulate {n}+{n // 2} micrographs ({size} px)", t0)

    # 2. temper classifier
    model = train_model(out / "data" / "manifest.yaml", seed=seed, tile_size=None)
    model.save(out / "model")
    man = load_manifest(out / "heldout" / "manifest.yaml")
    y = [str(v) for v in man.labels]
    res = scores(y, model.predict_proba(list(held.images)), model.label_names)
    save_figure(out / "confusion.png", plot_confusion(res["confusion"], model.label_names), dpi=100)
    ex = explain_scan(model, held.images[0], top=60)
    save_figure(out / "explain.png", plot_explanation(ex))
    expl = ex.summary()
    cv = model.config.get("cv", {})
    clf = model.config.get("classifier", {})
    summary["classifier"] = {"model": clf.get("params", {}).get("model", model.config.get("kind")),
                             "preset": model.config.get("preset"),
                             "aggregation": model.config.get("aggregation"),
                             "cv": cv.get("table"), "heldout": res,
                             "explained_image_temper": {"true": str(man.labels[0]),
                                                        "predicted": expl["temper"]}}
    t0 = _step("train + evaluate the TopTemp classifier", t0)

    # 3. conditional GAN: a short training run, then the shipped generator's aging-time sweep
    if with_gan:
        from shapekit.generate import load_generator, train_gan
        from shapekit.generate.grid import save_labelled_grid
        from shapekit.realism.scoring import score
        from shapekit.registry import resolve
        from shapekit.synth import process_model

        gan = train_gan(out / "data" / "manifest.yaml", out / "gan", condition="parameters",
                        crop_size=gan_size, max_steps=gan_steps, batch_size=16, seed=seed,
                        sample_every=0, **DEMO_GAN)
        summary["gan"] = {k: gan[k] for k in gan if isinstance(gan[k], (int, float, str))}
        t0 = _step(f"train a conditional GAN ({gan_steps} steps, {gan_size}-px crops)", t0)
        sampler = load_generator(resolve(DEMO_GENERATOR, "generator"))
        times = np.geomspace(0.3, 60.0, 5)
        temps = (150.0, 200.0)
        sweep = np.concatenate([
            sampler.sample(1, label=str(process_model(T, t)["temper"]), seed=seed + j,
                           conditions={"aging_temperature_C": T, "aging_time_h": float(t)},
                           size=size)
            for j, T in enumerate(temps) for t in times])
        save_labelled_grid(sweep, out / "gan_sweep.png", len(temps), len(times),
                           col_labels=[f"{t:.3g} h" for t in times],
                           row_labels=[f"{T:.0f} C" for T in temps],
                           title=f"shipped generator {DEMO_GENERATOR}: aging-time sweep")
        from shapekit.generate.formats import trained_iterations

        summary["generator"] = {"name": DEMO_GENERATOR,   # its whole training, as on its card
                                "iterations": trained_iterations(sampler.config),
                                "um_per_px": sampler.um_per_px}

        # 4. realism: the shipped generator at the held-out conditions vs the simulated images
        from shapekit.generate.reference import sample_like

        fake = sample_like(sampler, realism_conditions(held.table, sampler.ranges, 24), seed + 7, size)
        real = list(held.images[:24])
        rep = score(real, list(fake), n_boot=50, n_perm=50, seed=seed, report_dir=out / "realism",
                    names=("simulated", f"{DEMO_GENERATOR} samples"))
        summary["realism"] = {k: rep[k] for k in ("topological_distance", "real_vs_real", "p_value",
                                                  "coverage") if k in rep}
        summary["realism"]["verdict"] = rep["verdict"]["lines"]
        _step("sweep and score the shipped generator's micrographs", t0)
    summary["seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(out / "summary.json", json_finite(summary))   # NaN (e.g. a CI of a small set) as null
    return summary


def _print_table(s: dict[str, Any], out: Path) -> None:
    c = s["classifier"]
    h = c["heldout"]
    rows = [("classifier", f"TopTemp ({c['preset']} preset) + {c['model']}, "
                           f"aggregation by CV: {c['aggregation']}"),
            ("held-out accuracy", f"{h['accuracy']:.3f} (n={h['n']})"),
            ("held-out macro-F1", f"{h['macro_f1']:.3f}")]
    if "gan" in s:
        rows.append(("GAN training", f"{s['gan'].get('iterations', '?')} steps, "
                                     f"{s['gan'].get('seconds', float('nan')):.0f} s"))
    if "generator" in s:
        rows.append(("sweep + realism", f"shipped generator {s['generator']['name']}"))
    if "realism" in s:
        r = s["realism"]
        rvr = r.get("real_vs_real", {})
        cov = r.get("coverage")
        cov_txt = f"{cov.get('coverage', float('nan')):.2f}" if isinstance(cov, dict) else str(cov)
        rows += [("topological distance", f"{r['topological_distance']:.3f} "
                                          f"(real-vs-real {rvr.get('mean', float('nan')):.3f})"),
                 ("same-distribution p", f"{r.get('p_value', float('nan')):.3f}"),
                 ("coverage", cov_txt)]
    rows.append(("total time", f"{s['seconds']:.0f} s"))
    width = max(len(k) for k, _ in rows)
    click.echo("shapekit demo (simulated aged alloy)")
    for k, v in rows:
        click.echo(f"  {k:<{width}}  {v}")
    click.echo(f"figures and summary.json in {out}")


@click.command(name="demo")
@click.option("--out", type=OutputPath("dir"), default=Path("shapekit-demo"),
              show_default=True, help="Output folder (data, model, GAN run, figures, summary.json).")
@click.option("--n", type=click.IntRange(12, 100000), default=99, show_default=True,
              help="Simulated training images (at least 4 per temper; the outside check's 99 % "
                   "limit needs 99).")
@click.option("--size", type=click.IntRange(64, 4096), default=128, show_default=True,
              help="Image side in pixels.")
@click.option("--gan-steps", type=click.IntRange(min=1), default=40, show_default=True,
              help="GAN training iterations (a short run: the point is the workflow).")
@click.option("--no-gan", is_flag=True, help="Skip the GAN and realism steps.")
@seed_option
@json_option
def demo_cmd(out: Path, n: int, size: int, gan_steps: int, no_gan: bool, seed: int,
             as_json: bool) -> None:
    """Run the three jobs end to end on the embedded simulator (a few minutes on a CPU).

    Simulates labelled micrographs, trains and evaluates a TopTemp temper classifier, trains a
    small conditional GAN and sweeps aging time, scores the generated images topologically, then
    prints a summary table and writes figures (PNG) and summary.json to --out.
    """
    if no_gan and given("gan_steps"):
        raise click.UsageError("--gan-steps sets the GAN's training, which --no-gan skips: leave "
                               "one out")
    s = run_demo(out, n=n, size=size, seed=seed, gan_steps=gan_steps, with_gan=not no_gan)
    if as_json:
        emit_json(s)
    else:
        _print_table(s, out)


def register(app: click.Group) -> None:
    """Add ``shapekit demo`` to the application."""
    app.add_command(demo_cmd)
