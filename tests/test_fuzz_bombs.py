"""Bombs and slow refusals, in a child process under a memory limit.

* Tiny inputs that ask for huge allocations (resampling, tiling, padding, tile origins, image
  headers, YAML aliases, deeply nested JSON/YAML, generate --n, train-gan --image-size, synth
  --size and pixel size, oversized network configs) are refused with exit code 2 while the child
  runs under ``RLIMIT_AS`` (4 GiB of address space: an attempted allocation fails instead of taking the machine
  down), and the child's peak RSS stays under 500 MB.
* Argument errors are refused before torch or Lightning is imported (the child reports which
  heavy modules were loaded after each refusal): they answer at once, not after 15 s of imports.

All cases of a group run in one child (``main()`` called in a loop), so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hostile as H

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").is_file(),
                                reason="needs Linux (RLIMIT_AS, /proc/self/status)")

REPO = Path(__file__).resolve().parents[1]
AS_LIMIT = 4 * 2**30  # address space: torch's libraries alone map ~1.5 GiB
RSS_LIMIT_KB = 500 * 1024

RUNNER = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from shapekit.cli import main
import io, contextlib
for args in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        except BaseException as e:  # a crash must be reported, not end the loop
            code = f"crash {type(e).__name__}"
    heavy = [m for m in ("torch", "pytorch_lightning", "lightning") if m in sys.modules]
    # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's, from the fork)
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    print(json.dumps({"args": args, "code": code, "stderr": err.getvalue(), "heavy": heavy,
                      "rss_kb": hwm}), flush=True)
"""


def run_child(cases: list[list[str]], cwd: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "SHAPEKIT_PROGRESS": "0"}
    env.pop("SHAPEKIT_MAX_PIXELS", None)
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(AS_LIMIT)],
                          input=json.dumps([[os.fspath(a) for a in c] for c in cases]),
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(cases), proc.stderr[-2000:]
    return rows


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import torch

    from shapekit.generate import ConditionCodec, Generator
    from shapekit.generate.export import export_generator

    d = tmp_path_factory.mktemp("bombs")
    w = {"dir": d, "out": d / "out"}
    w["small"] = H.write_png(d / "small.png", (H.texture(64, 64) * 255).astype(np.uint8))
    w["mid"] = H.write_png(d / "mid.png", (H.texture(400, 400) * 255).astype(np.uint8))
    w["header_bomb"] = H.png_with_header(d / "header.png", 200000, 200000)
    w["manifest"] = H.manifest_folder(d / "data", n_per_class=2, size=64)
    w["alias_bomb"] = d / "data" / "alias.yaml"
    w["alias_bomb"].write_text(H.BILLION_LAUGHS)
    w["deep_yaml"] = d / "data" / "deep.yaml"
    w["deep_yaml"].write_text("name: " + "[" * 20000 + "\n")
    m = d / "model"
    m.mkdir()
    (m / "config.json").write_bytes(b"[" * 10**6 + b"]" * 10**6)
    w["deep_json"] = m
    big = d / "bignet"
    big.mkdir()
    (big / "config.json").write_text(json.dumps({
        "format": "shapekit-temper-model", "format_version": 1, "shapekit_version": "0.1.0",
        "kind": "cnn", "label_names": ["a", "b"], "tile_size": 64,
        "cnn": {"arch": {"width": 2**20, "depths": [8, 8, 8]}, "input_scale": 1}}))
    w["big_net"] = big
    torch.manual_seed(0)
    export_generator(Generator(2, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))), d / "gan", crop_size=16)
    w["gan"] = d / "gan"
    import shutil

    for name, change in (("gan_channels", {"net": {"channels": [10**6, 10**6]}}),
                         ("gan_size", {"default_size": 2**20})):
        shutil.copytree(d / "gan", d / name)
        cfg = json.loads((d / name / "generator.json").read_text())
        for k, v in change.items():
            cfg[k] = {**cfg[k], **v} if isinstance(v, dict) else v
        (d / name / "generator.json").write_text(json.dumps(cfg))
        w[name] = d / name
    return w


def test_bombs_refused_in_bounded_memory(inputs):
    w, out = inputs, inputs["out"]
    cases = {
        "resampling (nm typed as um)": ["ingest", w["small"], "--out", out,
                                        "--source-um-per-px", "5", "--um-per-px", "0.005"],
        "resampling just over a lowered limit": ["--max-pixels", "10000", "ingest", w["small"],
                                                 "--out", out, "--source-um-per-px", "1",
                                                 "--um-per-px", "0.6"],
        "padding (tile far larger than the image)": ["ingest", w["small"], "--out", out,
                                                     "--tile-size", "200000", "--pad", "reflect"],
        "tiling (stride 1)": ["ingest", w["mid"], "--out", out, "--tile-size", "256",
                              "--stride", "1", "--pad", "none"],
        "tile origins": ["--max-pixels", "200000", "ingest", w["mid"], "--out", out,
                         "--tile-size", "1", "--stride", "1"],
        "image header": ["ingest", w["header_bomb"], "--out", out],
        "image header (score)": ["score", w["dir"], w["dir"], "--n-boot", "2", "--n-perm", "2"],
        "image header (in a set)": ["manifest", "check", w["dir"], "--read-images"],
        "YAML aliases": ["manifest", "check", w["alias_bomb"]],
        "YAML aliases (featurize)": ["featurize", w["alias_bomb"], "--out", out / "f.npz"],
        "YAML nesting": ["manifest", "check", w["deep_yaml"]],
        "JSON nesting": ["classify", w["deep_json"], w["small"]],
        "network size in a config": ["classify", w["big_net"], w["small"]],
        "network size in a config (KID)": ["score", w["dir"], w["dir"], "--kid-model", w["big_net"],
                                           "--n-boot", "2", "--n-perm", "2"],
        "generator channels": ["generate", w["gan_channels"], "--n", "1", "--out", out],
        "generator image size": ["generate", w["gan_size"], "--n", "1", "--out", out],
        "generator channels (analyze)": ["analyze", "id", w["gan_channels"], "--n", "8"],
        "generate --n": ["generate", w["gan"], "--n", "2000000000", "--out", out],
        "generate --sweep": ["generate", w["gan"], "--n", "10000000", "--sweep", "T=0:1:1000",
                             "--out", out],
        "train-gan --image-size": ["train-gan", w["manifest"], "--out", out, "--image-size", "131072"],
        "synth --size": ["synth", "--n", "1", "--size", "1000000", "--out", out],
        "synth pixel size (3.8 GB before)": ["synth", "--n", "1", "--size", "64", "--um-per-px", "10",
                                            "--out", out],
        "synth --n": ["synth", "--n", "10000000000", "--out", out],
    }
    rows = run_child(list(cases.values()), w["dir"])
    bad = [(name, r["code"], r["stderr"][-300:]) for name, r in zip(cases, rows)
           if r["code"] != 2 or "Traceback" in r["stderr"] or len(r["stderr"].splitlines()) > 3]
    assert not bad, bad
    assert not out.exists()
    peak = max(r["rss_kb"] for r in rows)
    assert peak < RSS_LIMIT_KB, [(n, r["rss_kb"], r["heavy"]) for n, r in zip(cases, rows)]


def test_argument_errors_answer_before_heavy_imports(inputs):
    """The refusal comes before torch/Lightning load (a fast answer), for every command family."""
    w, out = inputs, inputs["out"]
    cases = [
        ["generate", w["gan"], "--n", "0", "--out", out],
        ["generate", w["gan"], "--label", "nope", "--out", out],
        ["generate", w["gan"], "--set", "T=1", "--out", out],
        ["generate", w["gan"], "--sweep", "T=1:2:1", "--out", out],
        ["generate", w["gan"], "--out", w["small"]],
        ["generate", w["dir"] / "nope", "--out", out],
        ["generate", w["gan"], "--device", "no such device!", "--out", out],
        ["train-gan", w["manifest"], "--out", out, "--image-size", "100"],
        ["train-gan", w["manifest"], "--out", out, "--batch-size", "0"],
        ["train-gan", w["dir"] / "nope.yaml", "--out", out],
        ["train-gan", w["manifest"], "--out", out, "--accelerator", "abacus"],
        ["train-classifier", w["manifest"], "--out", out, "--model", "forest"],
        ["train-classifier", w["manifest"], "--out", out, "--scales", "0"],
        ["train-classifier", w["dir"] / "nope.yaml", "--out", out],
        ["classify", w["deep_json"], w["small"]],
        ["classify", w["big_net"], w["small"]],
        ["classify", w["dir"] / "nope", w["small"]],
        ["explain", w["big_net"], w["small"], "--out", out / "x.png"],
        ["evaluate", w["big_net"], w["manifest"]],
        ["robustness", w["big_net"], w["manifest"]],
        ["featurize", w["manifest"], "--out", out / "x.csv"],
        ["score", w["dir"], w["dir"] / "nope"],
        ["score", w["dir"], w["dir"], "--n-jobs", "0"],
        ["score", w["dir"], w["dir"], "--kid-model", w["dir"] / "nope"],
        ["synth", "--n", "0", "--out", out],
        ["demo", "--size", "8"],
        ["serve", "--port", "70000"],
        ["analyze", "invariance", w["big_net"], w["small"]],
        ["analyze", "invariance", w["dir"] / "nope", w["small"]],
        ["analyze", "frequency", w["big_net"], w["small"], "--size", "4"],
        ["analyze", "fibres", "--target", "inf"],
        ["analyze", "dna", w["manifest"], "--epochs", "0"],
        ["analyze", "id", w["dir"] / "nope", w["manifest"]],
        ["analyze", "id", w["gan"], "--methods", "magic"],
        ["analyze", "frames", w["gan"], "--kinds", "spin"],
        ["analyze", "cka", w["gan"], w["dir"] / "nope", w["manifest"]],
        ["analyze", "stitch", w["gan"], w["gan"], w["manifest"], "--epochs", "0"],
        ["analyze", "symmetry", w["dir"] / "nope", w["gan"], w["manifest"]],
    ]
    rows = run_child(cases, w["dir"])
    wrong = [(r["args"][:3], r["code"], r["stderr"][-200:]) for r in rows if r["code"] != 2]
    assert not wrong, wrong
    slow = [(r["args"][:3], r["heavy"]) for r in rows if r["heavy"]]
    assert not slow, f"imported torch/Lightning before refusing: {slow}"
