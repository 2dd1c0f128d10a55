"""A 200-scan folder to a table with the shipped uhcs3 model: throughput, peak RSS, kill and resume.

Builds a folder of 200 scans under ``--work`` (links, not copies: 195 uhcs3 JPEGs and the 5 raw
UHCS originals with their info bars), then

1. ``shapekit classify uhcs3 DIR --out results.csv --tiles tiles.parquet`` in one process (the
   local path: one scan after another), timed with its peak RSS (``/usr/bin/time -v``);
2. the same on a ``dask.distributed`` LocalCluster of ``--workers`` worker processes
   (``--scheduler``), which must give the same table;
3. a run killed with SIGKILL once at least half of the rows are in the table, then re-run: it must
   skip the rows already there (none recomputed: the second run's ``classified`` count is the
   rest), end with 200 rows, no duplicates, and the rows of the first run unchanged.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_batch.py --work /tmp/bench_batch [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _folder(work: Path, n: int = 200) -> Path:
    d = work / "scans"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    originals = sorted((DATA / "uhcs_originals").glob("*.tif"))
    jpegs = sorted((DATA / "uhcs3" / "images").glob("*.jpg"))[: n - len(originals)]
    for p in [*jpegs, *originals]:
        (d / p.name).symlink_to(p)
    return d


def _cmd(*args: str) -> list[str]:
    return [shutil.which("shapekit") or "shapekit", *args]


def _timed(args: list[str], env: dict) -> tuple[dict, float, float]:
    """Run a shapekit command under /usr/bin/time -v: (its JSON stdout, wall s, peak RSS MiB)."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *_cmd(*args)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {p.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return json.loads(p.stdout), wall, rss


def _rows(path: Path):
    import pandas as pd

    return pd.read_csv(path) if path.exists() else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_batch"))
    ap.add_argument("--model", default="uhcs3")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)

    import pandas as pd

    a.work.mkdir(parents=True, exist_ok=True)
    folder = _folder(a.work)
    env = {**os.environ, "SHAPEKIT_PROGRESS": "0"}
    report: dict = {"scans": len(list(folder.iterdir())), "model": a.model}

    # 1. local
    out = a.work / "local.csv"
    for f in (out, a.work / "local_tiles.parquet"):
        f.unlink(missing_ok=True)
    res, wall, rss = _timed(["classify", a.model, str(folder), "--out", str(out), "--tiles",
                             str(a.work / "local_tiles.parquet"), "--json"], env)
    df = pd.read_csv(out)
    report["local"] = {**res, "wall_s": round(wall, 1), "scans_per_s": round(len(df) / wall, 2),
                       "peak_rss_mib": round(rss), "unknown": int((df["temper"] == "unknown").sum()),
                       "temper_counts": df["temper"].value_counts().to_dict()}
    print(json.dumps(report["local"]), flush=True)

    # 2. a LocalCluster of worker processes
    from distributed import LocalCluster

    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dout = a.work / "dask.csv"
        dout.unlink(missing_ok=True)
        res, wall, rss = _timed(["classify", a.model, str(folder), "--out", str(dout), "--scheduler",
                                 cluster.scheduler_address, "--json"], env)
    d2 = pd.read_csv(dout)
    same = df.drop(columns="seconds").equals(d2.drop(columns="seconds"))
    report["dask"] = {**res, "workers": a.workers, "wall_s": round(wall, 1),
                      "scans_per_s": round(len(d2) / wall, 2), "client_peak_rss_mib": round(rss),
                      "same_table_as_local": bool(same)}
    print(json.dumps(report["dask"]), flush=True)

    # 3. killed half-way, then resumed
    kout = a.work / "killed.csv"
    kout.unlink(missing_ok=True)
    p = subprocess.Popen(_cmd("classify", a.model, str(folder), "--out", str(kout)), env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n_done = 0
    while p.poll() is None:
        time.sleep(0.5)
        try:
            n_done = len(pd.read_csv(kout)) if kout.exists() else 0
        except Exception:  # noqa: BLE001 - a torn read would be the bug this benchmark looks for
            raise SystemExit("the table could not be read while being written")
        if n_done >= report["scans"] // 2:
            p.send_signal(signal.SIGKILL)
            p.wait()
            break
    before = pd.read_csv(kout)
    res, wall, _ = _timed(["classify", a.model, str(folder), "--out", str(kout), "--json"], env)
    after = pd.read_csv(kout)
    kept = after.set_index("path").loc[before["path"]].drop(columns="seconds")
    report["kill_resume"] = {
        "rows_when_killed": len(before), "second_run": res, "final_rows": len(after),
        "duplicates": int(after["path"].duplicated().sum()),
        "recomputed": int(res["classified"] + res["failed"] - (report["scans"] - len(before))),
        "first_rows_unchanged": _same_values(kept, before.set_index("path").drop(columns="seconds")),
        "same_verdicts_as_local": bool(after.drop(columns="seconds").equals(df.drop(columns="seconds"))),
    }
    print(json.dumps(report["kill_resume"]), flush=True)
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))


def _same_values(a, b) -> bool:
    """Equal cell by cell (NaN equals NaN), whatever dtype pandas inferred for each table: the
    100 rows read back after the kill can infer another dtype than the same rows among 200."""
    if list(a.columns) != list(b.columns) or list(a.index) != list(b.index):
        return False
    x, y = a.astype(object), b.astype(object)
    return bool(((x == y) | (x.isna() & y.isna())).all().all())


if __name__ == "__main__":
    main()
