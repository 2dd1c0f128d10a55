"""Screenshots of the three tabs of ``shapekit serve`` for the README (docs/serve-*.png).

Starts the app on loopback with the given models, drives the system's headless Chromium
(:mod:`shapekit.server.browser`), classifies a scan, moves a generate slider and renders a sweep,
runs a score, and saves one PNG per tab.

Usage::

    python docs/screenshots.py --model uhcs3=MODEL_DIR --generator sim=RUN_DIR \\
        --real-set sim=MANIFEST --scan SCAN.tif [--label peak_aged] [--out docs]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from shapekit.server import ServerConfig, create_app
from shapekit.server.browser import browser_page, live_server
from shapekit.server.config import named_paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--real-set", required=True)
    ap.add_argument("--scan", type=Path, required=True)
    ap.add_argument("--label", default=None)
    ap.add_argument("--score-n", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    cfg = ServerConfig(classifiers=named_paths([args.model], "model"),
                       generators=named_paths([args.generator], "generator"),
                       real_sets=named_paths([args.real_set], "real set"), workdir=Path(tempfile.mkdtemp()))
    app = create_app(cfg)
    app.state.shapekit.store.preload()
    with live_server(app) as url, browser_page((1360, 860)) as (pg, blocked):
        pg.goto(url + "/")
        pg.wait_for_selector("#classify-model option[value]", state="attached")
        pg.set_input_files("#classify-files", str(args.scan))
        pg.wait_for_selector(".card", timeout=300_000)
        pg.screenshot(path=str(args.out / "serve-classify.png"))

        pg.click("#tab-btn-generate")
        if args.label:
            pg.select_option("#gen-label", args.label)
        pg.wait_for_function("document.querySelector('#gen-image').dataset.seq")
        slider = pg.locator("#gen-sliders input[type=range]").first
        seq = pg.get_attribute("#gen-image", "data-seq")
        slider.fill("800")
        pg.wait_for_function(f"document.querySelector('#gen-image').dataset.seq !== '{seq}'")
        pg.click("#sweep-run")
        pg.wait_for_function("!document.querySelector('#sweep-image').hidden && "
                             "document.querySelector('#sweep-image').naturalWidth > 0")
        pg.screenshot(path=str(args.out / "serve-generate.png"))

        pg.click("#tab-btn-score")
        pg.fill("#score-n", str(args.score_n))
        pg.fill("#score-rounds", str(args.rounds))
        pg.click("#score-run")
        pg.wait_for_selector("#score-result:not([hidden])", timeout=600_000)
        pg.wait_for_function("[...document.querySelectorAll('#score-figures img')].every(i => i.complete && i.naturalWidth > 0)")
        pg.screenshot(path=str(args.out / "serve-score.png"))
    if blocked:
        raise SystemExit(f"requests tried to leave the machine: {blocked}")
    print("wrote", *(args.out / f"serve-{t}.png" for t in ("classify", "generate", "score")))


if __name__ == "__main__":
    main()
