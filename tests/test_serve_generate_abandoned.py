"""Images the page gave up on are not made.

The Generate tab aborts its request for an image whenever a slider moves on; the server still
made every aborted image, one after another (samples are serialised), before the one the page
was waiting for, so a slider dragged for a while answered seconds late. A call whose client has
gone is now dropped while it waits, and a sweep stops at its next image.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from serve_helpers import tiny_generator  # noqa: E402,F401


def test_images_whose_request_was_aborted_are_not_made(tiny_generator, tmp_path) -> None:
    import httpx

    from shapekit.server import ServerConfig, create_app
    from shapekit.server.browser import live_server

    app = create_app(ServerConfig(generators={"tiny": tiny_generator}, workdir=tmp_path / "work", workers=1))
    gen = app.state.shapekit.store.get("generator", "tiny")
    made, sample, sent = [], gen.sample, threading.Event()

    def slow(n, label, cond, seed=0, **kw):
        made.append(seed)
        if seed == 0:                     # the first image is still being made while the others wait
            sent.wait(30)
        return sample(n, label, cond, seed=seed, **kw)

    gen.sample = slow
    with live_server(app) as url:
        first = threading.Thread(target=lambda: httpx.post(url + "/api/generate", timeout=60,
                                                           json={"generator": "tiny", "seed": 0}))
        first.start()                     # an image being made, awaited by its client
        deadline = time.monotonic() + 60
        while not made and time.monotonic() < deadline:
            time.sleep(0.01)
        assert made == [0]
        for seed in range(1, 6):          # five slider moves meanwhile, each abandoned for the next
            with pytest.raises(httpx.TimeoutException):
                httpx.post(url + "/api/generate", json={"generator": "tiny", "seed": seed}, timeout=0.1)
        time.sleep(1.0)                   # ten of the server's looks at its waiting calls
        sent.set()
        r = httpx.post(url + "/api/generate", json={"generator": "tiny", "seed": 99}, timeout=60)
        first.join(60)
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert made == [0, 99], made         # not all seven, one after another


def test_a_waiting_call_whose_client_went_away_never_runs(tmp_path) -> None:
    from shapekit.server.errors import ApiError
    from shapekit.server.jobs import JobManager

    jm = JobManager(tmp_path, workers=1)
    release, ran, abandoned = threading.Event(), [], threading.Event()

    async def gone() -> bool:
        return True

    async def main() -> None:
        busy = asyncio.ensure_future(jm.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError, match="went away"):
            await jm.call(lambda: ran.append(1), gone=gone, abandoned=abandoned)
        release.set()
        assert await busy is True

    asyncio.run(main())
    jm.shutdown()
    assert ran == [] and abandoned.is_set() and jm.direct == 0
