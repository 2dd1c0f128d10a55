"""Jobs: model work on a bounded thread pool, with progress a page can follow (SSE or polling).

Every classify/score request becomes a :class:`Job`. A client either waits for it (the default:
the response carries the result) or gets ``202`` with the job's URLs and follows its progress with
``GET /api/jobs/{id}`` (polling) or ``GET /api/jobs/{id}/events`` (server-sent events).

Threads, not processes: the models are loaded once and shared by all workers (numpy, GUDHI, torch
and XGBoost release the GIL in their heavy loops). Each job owns ``workdir/jobs/<id>/`` (its
uploads in ``in/``, removed when it ends; its figures in ``out/``, removed when it is evicted).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapekit.server.errors import ApiError, one_line

STATES = ("queued", "running", "done", "error")


@dataclass
class Job:
    """One unit of work and what a client may see of it."""

    id: str
    kind: str
    dir: Path
    state: str = "queued"
    done: int = 0
    total: int = 0
    stage: str = "queued"
    result: Any = None
    error: str | None = None
    status: int = 200
    created: float = field(default_factory=time.time)
    finished: float | None = None
    version: int = 0
    future: Future | None = None
    size: int = 0  #: approximate bytes its result holds in memory (set when it ends)

    @property
    def in_dir(self) -> Path:
        return self.dir / "in"

    @property
    def out_dir(self) -> Path:
        return self.dir / "out"

    def report(self, done: int | None = None, total: int | None = None, stage: str | None = None) -> None:
        """Progress from the worker: ``done`` of ``total`` steps, and what it is doing now."""
        if total is not None:
            self.total = int(total)
        if done is not None:
            self.done = int(done)
        if stage is not None:
            self.stage = one_line(stage, 200)
        self.version += 1

    def view(self, with_result: bool = True) -> dict[str, Any]:
        """The job as JSON (``GET /api/jobs/{id}``)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "state": self.state,
                               "progress": {"done": self.done, "total": self.total, "stage": self.stage},
                               "created": round(self.created, 3),
                               "finished": None if self.finished is None else round(self.finished, 3),
                               "urls": {"self": f"/api/jobs/{self.id}",
                                        "events": f"/api/jobs/{self.id}/events"}}
        if self.state == "error":
            out["error"], out["status"] = self.error, self.status
        elif self.state == "done" and with_result:
            out["result"] = self.result
        return out


def approx_bytes(obj: Any) -> int:
    """Rough memory held by a job's result: strings and bytes by length, arrays by ``nbytes``,
    containers by their items (a classify job's previews are data URLs of up to ~1.4 MB each).

    Examples
    --------
    >>> approx_bytes({"preview": "x" * 1000, "rows": [1.0, 2.0]})
    1027
    """
    if isinstance(obj, (str, bytes, bytearray)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(approx_bytes(k) + approx_bytes(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return sum(approx_bytes(v) for v in obj)
    return int(getattr(obj, "nbytes", 8))


class JobManager:
    """A thread pool of ``workers`` with at most ``max_queue`` waiting jobs; keeps the results
    of at most ``max_jobs`` finished jobs and, beyond the newest one, of ``max_result_mb`` MB
    (the oldest go first).

    Examples
    --------
    >>> import tempfile
    >>> jm = JobManager(tempfile.mkdtemp(), workers=1)
    >>> job = jm.create("demo")
    >>> jm.start(job, lambda j: 6 * 7).result()
    42
    >>> jm.get(job.id).view()["state"], jm.get(job.id).result
    ('done', 42)
    >>> jm.shutdown()
    """

    def __init__(self, workdir: str | Path, workers: int = 1, max_queue: int = 64,
                 max_jobs: int = 200, error_status: Callable[[BaseException], tuple[int, str]] | None = None,
                 max_result_mb: float = 256.0) -> None:
        self.root = Path(workdir) / "jobs"
        shutil.rmtree(self.root, ignore_errors=True)      # stale jobs of an earlier run
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers, self.max_queue, self.max_jobs = int(workers), int(max_queue), int(max_jobs)
        self.max_result_bytes = int(float(max_result_mb) * 2 ** 20)
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="shapekit-worker")
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.direct = 0
        self.lock = threading.Lock()
        self.error_status = error_status or (lambda e: (500, f"internal error: {type(e).__name__}: {e}"))

    # ------------------------------------------------------------------ bookkeeping
    def counts(self) -> dict[str, int]:
        with self.lock:
            return {s: sum(j.state == s for j in self.jobs.values()) for s in STATES}

    def create(self, kind: str) -> Job:
        """A new job with its folder; 429 when too many are already waiting."""
        with self.lock:
            waiting = sum(j.state in ("queued", "running") for j in self.jobs.values()) + self.direct
            if waiting >= self.max_queue + self.workers:
                raise ApiError(429, f"{waiting} jobs are waiting or running; retry in a few seconds")
            jid = uuid.uuid4().hex[:16]
            job = Job(jid, kind, self.root / jid)
            job.in_dir.mkdir(parents=True)
            self.jobs[job.id] = job
            self._evict()
        return job

    def _evict(self) -> None:
        """Forget the oldest finished jobs beyond ``max_jobs`` jobs, then beyond
        ``max_result_mb`` of results, oldest first (the job that ended last is always kept, so
        that its client can fetch it). Under the lock."""
        finished = [j for j in self.jobs.values() if j.state in ("done", "error")]
        gone = finished[:max(0, len(self.jobs) - self.max_jobs)]
        kept = sorted(finished[len(gone):], key=lambda j: j.finished or 0.0)  # the last to end: kept
        held = sum(j.size for j in kept)
        for j in kept[:-1]:
            if held <= self.max_result_bytes:
                break
            gone.append(j)
            held -= j.size
        for j in gone:
            self.jobs.pop(j.id, None)
            shutil.rmtree(j.dir, ignore_errors=True)

    def discard(self, job: Job) -> None:
        """Forget a job that never started (its upload was refused) and remove its folder."""
        with self.lock:
            self.jobs.pop(job.id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    def get(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r} (finished jobs are kept until {self.max_jobs} newer "
                               f"ones, or {self.max_result_bytes // 2 ** 20} MB of newer results)")
        return job

    # ------------------------------------------------------------------ running
    def start(self, job: Job, fn: Callable[[Job], Any]) -> Future:
        """Run ``fn(job)`` on the pool; its return value becomes ``job.result``."""

        def run() -> Any:
            job.state = "running"
            job.report(stage="running")
            try:
                job.out_dir.mkdir(parents=True, exist_ok=True)
                job.result = fn(job)
                job.state = "done"
                job.report(done=job.total, stage="done")
            except BaseException as e:  # noqa: BLE001 - every failure becomes the job's error
                job.status, job.error = self.error_status(e)
                job.state = "error"
                job.report(stage="error")
                raise
            finally:
                job.finished = time.time()
                shutil.rmtree(job.in_dir, ignore_errors=True)
                job.size = approx_bytes(job.result)
                job.version += 1
                with self.lock:
                    self._evict()
            return job.result

        job.future = self.pool.submit(run)
        return job.future

    async def call(self, fn: Callable[[], Any], gone: Callable[[], Awaitable[bool]] | None = None,
                   abandoned: threading.Event | None = None, poll_s: float = 0.1) -> Any:
        """Run ``fn()`` on the pool (short work without a job, e.g. one generated image); 429
        when the pool already has ``max_queue`` calls waiting.

        ``gone`` (the request's ``is_disconnected``) is asked every ``poll_s`` while the call
        waits: once the client has gone (the page aborts the image a slider move replaced), a
        call still queued never runs, and ``abandoned`` is set for a running one to stop at its
        next check; without this every abandoned image was still made, one after another,
        before the one the page waits for.
        """
        with self.lock:
            busy = sum(j.state in ("queued", "running") for j in self.jobs.values()) + self.direct
            if busy >= self.max_queue + self.workers:
                raise ApiError(429, f"{busy} requests are waiting or running; retry in a few seconds")
            self.direct += 1
        try:
            fut = self.pool.submit(fn)
            waiting = asyncio.wrap_future(fut)
            while gone is not None and not fut.done():
                await asyncio.wait({waiting}, timeout=poll_s)
                if not fut.done() and await gone():
                    fut.cancel()
                    if abandoned is not None:
                        abandoned.set()
                    waiting.cancel()
                    raise ApiError(400, "the client went away before the result was ready")
            return await waiting
        finally:
            with self.lock:
                self.direct -= 1

    async def wait(self, job: Job) -> Job:
        """Await a started job without blocking the event loop (its error is in the job)."""
        try:
            await asyncio.wrap_future(job.future)
        except BaseException:  # noqa: BLE001 - recorded in job.error
            pass
        return job

    async def events(self, job: Job, poll_s: float = 0.1, heartbeat_s: float = 15.0) -> AsyncIterator[str]:
        """Server-sent events: ``progress`` on every change, then one ``done`` or ``error``."""
        seen, last = -1, time.monotonic()
        while True:
            if job.version != seen:
                seen = job.version
                view = job.view(with_result=False)
                final = job.state in ("done", "error")
                name = job.state if final else "progress"
                yield f"event: {name}\ndata: {json.dumps(view)}\n\n"
                last = time.monotonic()
                if final:
                    return
            elif time.monotonic() - last > heartbeat_s:
                yield ": keep-alive\n\n"
                last = time.monotonic()
            await asyncio.sleep(poll_s)

    def shutdown(self) -> None:
        """Stop the workers (running jobs finish) and remove every job folder."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)
