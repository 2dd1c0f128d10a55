"""The page in a real browser (headless Chromium driven by Playwright; nothing downloaded).

Loads the page, classifies a real UHCS original (skipped when the data is absent), moves a
generate slider and sees the image change, and runs a score; no request leaves the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")

from serve_helpers import real_folder, sim_generator, tiny_generator, toy_classifier  # noqa: E402,F401

from shapekit.server.browser import browser_page, chromium_path, live_server  # noqa: E402

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no Chromium (apt-get install chromium)")
UHCS_ORIGINAL = "micrograph1257.tif"      # spheroidite (labels.csv)


@pytest.fixture(scope="module")
def uhcs_original():
    """A raw UHCS original for the shipped uhcs3 model (which the server offers by itself), or None."""
    from conftest import shared_data_dir

    path = shared_data_dir() / "uhcs_originals" / UHCS_ORIGINAL
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def page(toy_classifier, tiny_generator, sim_generator, real_folder, tmp_path_factory):
    from shapekit.server import ServerConfig, create_app

    cfg = ServerConfig(classifiers={"toy": toy_classifier[0]}, generators={"tiny": tiny_generator, "sim": sim_generator},
                       real_sets={"toyreal": real_folder},
                       workdir=tmp_path_factory.mktemp("browser-work"), workers=2)
    app = create_app(cfg)
    app.state.shapekit.store.preload()
    shots = Path(os.environ.get("SHAPEKIT_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    with live_server(app) as url, browser_page() as (pg, blocked):
        pg.goto(url + "/")
        pg.wait_for_selector("#classify-model option[value]", state="attached")
        yield pg, blocked, shots
    assert blocked == [], f"requests tried to leave the machine: {blocked}"


def test_page_loads_with_the_servers_models(page) -> None:
    pg, blocked, _ = page
    assert pg.title() == "shapekit"
    assert pg.locator("#server-status").inner_text().startswith("shapekit ")
    assert "toy" in pg.locator("#classify-model").inner_text()
    assert blocked == []


def test_classify_a_real_uhcs_original(page, uhcs_original) -> None:
    """The shipped uhcs3 model (offered without --model) on a raw microscope TIFF."""
    pg, _, shots = page
    if uhcs_original is None:
        pytest.skip("uhcs_originals not found")
    pg.click("#tab-btn-classify")
    pg.select_option("#classify-model", "uhcs3")
    pg.set_input_files("#classify-files", str(uhcs_original))
    card = pg.wait_for_selector(f'.card[data-image="{UHCS_ORIGINAL}"]', timeout=120_000)
    assert card.query_selector(".temper").inner_text().split()[0] == "spheroidite"
    assert len(card.query_selector_all("svg rect.tile")) == 6           # 645 x 484 after the info bar
    assert len(card.query_selector_all("svg circle.pair")) > 50         # the explanation overlay
    facts = card.query_selector(".facts").inner_text()
    assert "38 rows detected and cropped" in facts and "OLYMPUS_SIS" in facts
    assert "OOD score" in facts and "spheroidite" in facts       # inside the training data, its set
    assert pg.evaluate("document.querySelector('.card .scan img').naturalWidth") == 645
    pg.screenshot(path=str(shots / "serve-classify.png"), full_page=False)


def _image_checksum(pg) -> list[int]:
    return pg.evaluate("""() => { const img = document.querySelector('#gen-image');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data; let s = 0, q = 0;
        for (let i = 0; i < d.length; i += 4) { s += d[i]; q += d[i] * d[i] % 9973; }
        return [c.width, s, q]; }""")


def test_generate_slider_changes_the_image(page) -> None:
    pg, _, shots = page
    pg.click("#tab-btn-generate")
    pg.wait_for_function("document.querySelector('#gen-image').dataset.seq && document.querySelector('#gen-image').complete")
    seq = pg.get_attribute("#gen-image", "data-seq")
    before = _image_checksum(pg)
    assert before[0] == 32 and before[1] > 0
    slider = pg.locator('#gen-sliders input[data-name="aging_time_h"]')
    slider.fill("950")                                   # near the top of the log range
    pg.wait_for_function(f"document.querySelector('#gen-image').dataset.seq !== '{seq}' "
                         "&& document.querySelector('#gen-image').complete")
    after = _image_checksum(pg)
    assert after[0] == 32 and after != before
    assert "aging_time_h=" in pg.inner_text("#gen-caption")
    pg.click("#sweep-run")
    pg.wait_for_function("!document.querySelector('#sweep-image').hidden && document.querySelector('#sweep-image').naturalWidth > 0")
    pg.screenshot(path=str(shots / "serve-generate.png"), full_page=False)


def test_score_runs_and_shows_the_report(page) -> None:
    pg, _, shots = page
    pg.click("#tab-btn-score")
    pg.select_option("#score-real-set", "toyreal")
    pg.select_option("#score-generator", "tiny")
    pg.fill("#score-n", "8")
    pg.fill("#score-rounds", "20")
    pg.click("#score-run")
    pg.wait_for_selector("#score-result:not([hidden])", timeout=120_000)
    assert "Structure: " in pg.inner_text("#score-verdict") and "Imaging: " in pg.inner_text("#score-verdict")
    assert "real-vs-real baseline" in pg.inner_text("#score-table")
    pg.wait_for_function("[...document.querySelectorAll('#score-figures img')].length === 7 && "
                         "[...document.querySelectorAll('#score-figures img')].every(i => i.complete && i.naturalWidth > 0)")
    pg.screenshot(path=str(shots / "serve-score.png"), full_page=False)


def test_generate_offers_the_simulators_temper(page) -> None:
    """The Temper menu always sent a label, so the page could not ask for the temper the simulator
    makes at the sliders; for a generator trained on its data it now offers that, first."""
    from shapekit.synth import process_model

    pg, _, _ = page
    pg.click("#tab-btn-generate")
    pg.select_option("#gen-model", "sim")
    opts = pg.eval_on_selector_all("#gen-label option", "os => os.map(o => [o.value, o.textContent])")
    assert opts[0] == ["", "(the simulator's temper)"] and pg.input_value("#gen-label") == ""
    assert [v for v, _ in opts[1:]] == ["over_aged", "peak_aged", "under_aged"]
    pg.wait_for_function("document.querySelector('#gen-caption').textContent.includes('aging_temperature_C=')")
    cap = pg.inner_text("#gen-caption")
    T = float(cap.split("aging_temperature_C=")[1].split(",")[0])
    h = float(cap.split("aging_time_h=")[1].split(" ")[0])
    assert cap.startswith(str(process_model(T, h)["temper"]) + " (the simulator's temper) · "), cap
    pg.select_option("#gen-model", "tiny")     # any other generator: its labels only
    assert pg.eval_on_selector_all("#gen-label option", "os => os.map(o => o.value)") == ["peak_aged", "under_aged"]


def test_api_docs_render_offline(page) -> None:
    pg, blocked, _ = page
    url = pg.url.split("#")[0].rstrip("/")
    pg.goto(url + "/docs")
    pg.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "shapekit" in pg.inner_text(".swagger-ui .info .title")
    pg.wait_for_selector('.opblock-summary-path[data-path="/api/classify"]')
    assert blocked == []


def _on_the_page(pg) -> None:
    """Back on the page (a test before may have opened /docs)."""
    if "/docs" in pg.url:
        pg.goto(pg.url.split("/docs")[0] + "/")
        pg.wait_for_selector("#classify-model option[value]", state="attached")


def test_a_refused_upload_leaves_no_progress_bar_and_each_file_its_error(page) -> None:
    """A request the server refused at once (415, 422, 400) left the progress bar at
    "uploading..." for good, each refused file's message hid the one before, and the file's
    name came twice ("notes.txt: notes.txt: not a ...")."""
    pg, _, _ = page
    _on_the_page(pg)
    pg.click("#tab-btn-classify")
    pg.set_input_files("#classify-files", files=[
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"},
        {"name": "empty.tif", "mimeType": "image/tiff", "buffer": b""}])
    pg.wait_for_function("document.querySelector('#classify-error').textContent.includes('empty.tif')")
    assert pg.inner_text("#classify-error").splitlines() == [
        "notes.txt: not a TIFF, PNG, JPEG or BMP image (by its content)", "empty.tif: empty file (0 bytes)"]
    assert pg.is_hidden("#classify-progress")
    pg.click("#tab-btn-score")
    pg.fill("#score-n", "1")
    pg.click("#score-run")
    pg.wait_for_function("!document.querySelector('#score-error').hidden")
    assert "n=1 is outside [2, 256]" in pg.inner_text("#score-error")
    assert pg.is_hidden("#score-progress") and pg.is_enabled("#score-run")
    pg.fill("#score-n", "16")


def test_score_says_and_uses_the_conditions_it_generates_at(page, real_folder) -> None:
    """The Score tab's first Temper choice, "(as the real set's images)", sent no conditions, so
    against uploaded real images (which record none) the Generate tab's sliders were ignored for
    the generator's defaults, and nothing on the page said what the images were made at. The tab
    now says it under the menus, sends the sliders where there is nothing to copy, names the
    choice after what it makes there, and the result gives what was generated."""
    pg, _, _ = page
    _on_the_page(pg)
    pg.click("#tab-btn-generate")
    pg.select_option("#gen-model", "tiny")
    pg.locator('#gen-sliders input[data-name="aging_time_h"]').fill("0")      # its minimum, 0.5 h
    pg.click("#tab-btn-score")
    pg.check("input[name=real-src][value=set]")
    pg.check("input[name=fake-src][value=generator]")
    pg.select_option("#score-real-set", "toyreal")
    pg.select_option("#score-generator", "tiny")
    pg.select_option("#score-label", "")
    assert pg.inner_text("#score-at") == ("Images: each image at the temper and conditions of one of "
                                         "the real set's images (where the set records them)")
    pg.check("input[name=real-src][value=files]")
    first = pg.eval_on_selector("#score-label", "s => s.options[0].textContent")
    assert first == "(mixed tempers)"
    assert pg.inner_text("#score-at").startswith("Images: mixed tempers at the Generate tab's sliders: "
                                                 "aging_time_h=0.5, area_fraction=")
    pg.set_input_files("#score-real-files", [str(p) for p in sorted(real_folder.iterdir())[:4]])
    pg.fill("#score-n", "4")
    pg.fill("#score-rounds", "5")
    pg.click("#score-run")
    pg.wait_for_selector("#score-result:not([hidden])", timeout=120_000)
    row = pg.inner_text("#score-table").split("generated images")[1].splitlines()[0]
    assert row.strip().startswith("4 by tiny: mixed tempers at aging_time_h=0.5, area_fraction="), row
    pg.select_option("#score-generator", "sim")                   # not the Generate tab's generator
    pg.select_option("#score-label", "peak_aged")
    assert pg.inner_text("#score-at").startswith("Images: peak_aged at sim's defaults: aging_temperature_C=")
    assert pg.inner_text("#score-at").endswith("(the Generate tab's sliders are tiny's)")
    pg.check("input[name=real-src][value=set]")
    pg.fill("#score-n", "16")


def test_generate_says_while_an_image_or_a_sweep_is_on_its_way(page) -> None:
    """Nothing on the Generate tab changed while an image or a sweep was being made (a 512-px
    image takes a second or more on a CPU, a 12-image sweep many): the old image and caption
    stayed as if they were the answer, and "Render sweep" could be clicked again and again."""
    pg, _, _ = page
    _on_the_page(pg)
    pg.click("#tab-btn-generate")
    pg.select_option("#gen-model", "tiny")
    pg.wait_for_function("document.querySelector('#gen-busy').hidden")
    held = []
    pg.route("**/api/generate", lambda route: held.append(route))      # answered below
    try:
        pg.locator('#gen-sliders input[data-name="aging_time_h"]').fill("500")
        pg.wait_for_function("!document.querySelector('#gen-busy').hidden")
        assert pg.inner_text("#gen-busy") == "generating tiny..."
        assert "stale" in pg.get_attribute("#gen-image", "class")
        pg.click("#sweep-run")
        pg.wait_for_function("document.querySelector('#sweep-run').disabled")
        assert pg.inner_text("#sweep-run").startswith("Rendering ")
        for _ in range(100):               # the image's request and the sweep's, both held
            if len(held) >= 2:
                break
            pg.wait_for_timeout(50)
        assert len(held) == 2
    finally:
        pg.unroute("**/api/generate")
        for route in held:
            route.continue_()
    pg.wait_for_function("document.querySelector('#gen-busy').hidden && "
                         "!document.querySelector('#sweep-run').disabled", timeout=60_000)
    assert pg.inner_text("#sweep-run") == "Render sweep"
    assert "stale" not in (pg.get_attribute("#gen-image", "class") or "")


def test_an_empty_prediction_set_is_said_not_left_blank(page, tmp_path) -> None:
    """A scan outside the training data has an empty prediction set; its row read
    "prediction set" with nothing after it."""
    from serve_helpers import png_of
    from toy import toy_dataset

    pg, _, _ = page
    _on_the_page(pg)
    pg.click("#tab-btn-classify")
    pg.select_option("#classify-model", "uhcs3")
    scan = tmp_path / "toy-network.png"           # a toy texture: nothing like a UHCS micrograph
    scan.write_bytes(png_of(toy_dataset(1, 256, seed=0)[0][0]))
    pg.set_input_files("#classify-files", str(scan))
    card = pg.wait_for_selector('.card[data-image="toy-network.png"]', timeout=120_000)
    assert card.get_attribute("data-temper") == "unknown"
    rows = dict(line.split("\t", 1) for line in card.query_selector(".facts table").inner_text().splitlines())
    assert rows["prediction set"] == "none (outside the training data)"


def test_score_says_what_is_missing_in_the_pages_words(page) -> None:
    """'upload' chosen with no file chosen sent the request anyway, and the page showed the
    API's answer, which names form fields the page never shows ("give exactly one real set:
    'real_set' (a name) or 'real' files")."""
    pg, _, _ = page
    _on_the_page(pg)
    pg.click("#tab-btn-score")
    pg.check("input[name=real-src][value=files]")
    pg.set_input_files("#score-real-files", [])
    pg.click("#score-run")
    pg.wait_for_function("!document.querySelector('#score-error').hidden")
    assert pg.inner_text("#score-error") == "Choose the real images to upload (at least 2; 4 for the real-vs-real baseline)."
    pg.check("input[name=real-src][value=set]")
    pg.check("input[name=fake-src][value=files]")
    pg.set_input_files("#score-fake-files", [])
    pg.click("#score-run")
    pg.wait_for_function("document.querySelector('#score-error').textContent.startsWith('Choose the generated')")
    assert pg.is_hidden("#score-progress") and pg.is_enabled("#score-run")
    pg.check("input[name=fake-src][value=generator]")
