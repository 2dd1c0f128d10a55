"""Load test of ``shapekit serve`` on loopback: classify requests from concurrent clients.

Starts ``shapekit serve`` as a subprocess (uvicorn, 127.0.0.1, a free port) with one temper model,
then sends ``--requests`` ``POST /api/classify`` requests from ``--clients`` concurrent clients,
one scan per request, mixing good scans (uhcs3 JPEGs and raw UHCS TIFFs with their info bars, or
toy micrographs without the real data) with bad files: text (415), empty (422), truncated JPEG
(422), a PNG decompression bomb (422: over the pixel budget, refused from its header), a 4x40
image (422) and an upload over ``--max-upload-mb`` (413). The server's resident memory is sampled
every 50 ms.

Checks: no 5xx, every bad file a 4xx, every good file a 200 with a temper. Prints (and with
``--json`` writes) p50/p95 latency for good and bad requests, requests/s and the server's RSS
after start, at its peak and at the end.

Then ``--generate`` sequential ``POST /api/generate`` requests (a slider being moved) against a
generator of the default architecture (``train-gan`` defaults, ``--gen-size`` px, random weights:
its speed does not depend on them), one client: p50/p95 round-trip latency.

Usage::

    python benchmarks/bench_serve.py [--model MODEL_DIR] [--requests 200] [--clients 8] [--json out.json]

Without ``--model`` a small toy model is trained first (seconds); RESULTS.md uses the uhcs3 model
of ``shapekit train-classifier data_manifests/uhcs3.yaml --model logreg --preset accurate``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))     # toy micrographs
DATA = Path(os.environ.get("SHAPEKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def png_bytes(img: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", (np.clip(img, 0, 1) * 255).astype(np.uint8))[1].tobytes()


def png_bomb(side: int) -> bytes:
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(b"\x00" * (side + 1)) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def good_files() -> tuple[list[tuple[str, bytes]], str]:
    """Real scans when the shared data is there, else toy micrographs."""
    jpgs = sorted((DATA / "uhcs3" / "images").glob("*.jpg"))[::15][:20]
    tifs = sorted((DATA / "uhcs_originals").glob("*.tif"))
    if jpgs:
        return [(p.name, p.read_bytes()) for p in jpgs + tifs], "uhcs3 JPEGs + UHCS original TIFFs"
    from toy import toy_dataset

    ims, labels = toy_dataset(4, 192, seed=1)
    return [(f"toy{i}_{lab}.png", png_bytes(im)) for i, (im, lab) in enumerate(zip(ims, labels))], "toy micrographs"


def bad_files(max_upload_mb: float) -> list[tuple[str, bytes, int]]:
    """(name, content, expected status) of files the server must refuse."""
    good = png_bytes(np.random.default_rng(0).random((128, 128)))
    jpg = (sorted((DATA / "uhcs3" / "images").glob("*.jpg"))[:1] or [None])[0]
    cut = jpg.read_bytes()[:20000] if jpg is not None else good[: len(good) // 2]
    return [("notes.txt", b"not an image at all\n" * 50, 415), ("empty.png", b"", 422),
            ("truncated.jpg" if jpg is not None else "truncated.png", cut, 422),
            ("bomb.png", png_bomb(12000), 422),                 # 144 MP from ~140 KB
            ("tiny.png", png_bytes(np.random.default_rng(1).random((4, 40))), 422),
            ("huge.tif", b"II*\x00" + bytes(int((max_upload_mb + 1) * 2 ** 20)), 413)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toy_model(out: Path) -> Path:
    from toy import toy_dataset

    from shapekit.temper.train import train_on_images

    ims, labels = toy_dataset(4, 192, seed=0)
    train_on_images(ims, labels, model="logreg", tile_size=96, cv_folds=2, augment=0).save(out)
    return out


def default_generator(out: Path, size: int) -> Path:
    """An exported generator of train-gan's default architecture (random weights) at ``size`` px."""
    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator, generator_channels
    from shapekit.generate.train import MODEL_DEFAULTS as M

    gen = Generator(3, 2, M["z_local"], M["z_global"], M["w_dim"],
                    generator_channels(M["g_channels"], M["n_up"]))
    codec = ConditionCodec.fit(["over_aged", "peak_aged", "under_aged"], ["aging_time_h", "hardness_hv"],
                               np.array([[0.5, 60.0], [50.0, 140.0]]), mode="parameters")
    export_generator(gen, codec, out, crop_size=size // 4)  # default images: `size` px
    return out


def rss_sampler(pid: int, stop: threading.Event, out: list[float]) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            out.append(proc.memory_info().rss / 2 ** 20)
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="temper model directory (default: a toy model)")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--bad-every", type=int, default=3, help="every k-th request sends a bad file")
    ap.add_argument("--max-upload-mb", type=float, default=8.0)
    ap.add_argument("--max-pixels", type=int, default=2 ** 26)
    ap.add_argument("--workers", type=int, default=None, help="server worker threads (default: the cores)")
    ap.add_argument("--generate", type=int, default=30, help="sequential generate requests (0: none)")
    ap.add_argument("--gen-size", type=int, default=256)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    model = args.model or toy_model(tmp / "toy")
    goods, what = good_files()
    bads = bad_files(args.max_upload_mb)
    port = free_port()
    cmd = [sys.executable, "-c", "from shapekit.cli import main; main()", "serve", "--port", str(port), "--model", f"m={model}",
           "--workdir", str(tmp / "work"), "--max-upload-mb", str(args.max_upload_mb),
           "--max-pixels", str(args.max_pixels), "--log-level", "warning"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.generate:
        cmd += ["--generator", f"g={default_generator(tmp / 'gen', args.gen_size)}"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("server did not start: " + (server.stderr.read() if server.stderr else ""))
        time.sleep(0.2)
    health = httpx.get(base + "/api/health").json()
    rss: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=rss_sampler, args=(server.pid, stop, rss), daemon=True)
    sampler.start()
    time.sleep(0.3)
    rss_start = rss[-1]

    plan = []
    for i in range(args.requests):
        if i % args.bad_every == args.bad_every - 1:
            name, data, want = bads[(i // args.bad_every) % len(bads)]
            plan.append((name, data, want))
        else:
            name, data = goods[i % len(goods)]
            plan.append((name, data, 200))

    def one(item: tuple[str, bytes, int]) -> dict:
        name, data, want = item
        with httpx.Client(timeout=300) as c:
            t0 = time.perf_counter()
            r = c.post(base + "/api/classify", files={"files": (name, data)})
            dt = time.perf_counter() - t0
        body = r.json()
        return {"name": name, "want": want, "status": r.status_code, "s": dt,
                "temper": (body.get("results") or [{}])[0].get("temper") if r.status_code == 200 else None,
                "error": body.get("error")}

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(one, plan))
    wall = time.perf_counter() - t0
    time.sleep(0.3)
    gen_s = []
    with httpx.Client(timeout=120) as c:
        for i in range(args.generate):
            t1 = time.perf_counter()
            r = c.post(base + "/api/generate", json={"label": "peak_aged", "seed": 1,
                                                    "conditions": {"aging_time_h": 0.5 + 49.5 * i / max(1, args.generate - 1)}})
            gen_s.append(time.perf_counter() - t1)
            assert r.status_code == 200 and r.content[:4] == b"\x89PNG", r.text
    stop.set()
    sampler.join()
    rss_end = rss[-1]
    server.terminate()
    server.wait(timeout=60)

    five = [r for r in results if r["status"] >= 500]
    bad = [r for r in results if r["want"] != 200]
    good = [r for r in results if r["want"] == 200]
    wrong = [r for r in results if r["status"] != r["want"]]
    q = lambda xs, p: float(np.percentile(xs, p)) if xs else float("nan")  # noqa: E731
    out = {"requests": len(results), "clients": args.clients, "server_workers": health["workers"],
           "files": what, "good": len(good), "bad": len(bad), "wall_s": round(wall, 2),
           "requests_per_s": round(len(results) / wall, 2),
           "good_p50_s": round(q([r["s"] for r in good], 50), 3), "good_p95_s": round(q([r["s"] for r in good], 95), 3),
           "bad_p50_s": round(q([r["s"] for r in bad], 50), 3), "bad_p95_s": round(q([r["s"] for r in bad], 95), 3),
           "n_5xx": len(five), "bad_not_4xx": sum(not 400 <= r["status"] < 500 for r in bad),
           "status_mismatches": len(wrong), "good_without_temper": sum(r["temper"] is None for r in good),
           "generate": {"n": len(gen_s), "size_px": args.gen_size, "p50_s": round(q(gen_s[1:], 50), 3),
                        "p95_s": round(q(gen_s[1:], 95), 3), "first_s": round(gen_s[0], 3) if gen_s else None},
           "rss_mb": {"after_start": round(rss_start, 1), "peak": round(max(rss), 1), "end": round(rss_end, 1)},
           "statuses": {str(s): sum(r["status"] == s for r in results) for s in sorted({r["status"] for r in results})},
           "tempers": {t: sum(r["temper"] == t for r in good) for t in sorted({str(r["temper"]) for r in good})},
           "cpu_count": os.cpu_count()}
    print(json.dumps(out, indent=2))
    for r in wrong[:10]:
        print(f"  mismatch: {r['name']} wanted {r['want']} got {r['status']}: {r['error']}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if five or wrong:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
