"""Finished jobs' results are kept within a memory bound, not only a count: 200 classify jobs of
64 previews (data URLs up to ~1.4 MB each) could hold about 18 GB."""
from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from shapekit.server.errors import ApiError  # noqa: E402
from shapekit.server.jobs import JobManager, approx_bytes  # noqa: E402


def test_old_results_go_once_the_kept_results_pass_the_limit(tmp_path) -> None:
    jm = JobManager(tmp_path, workers=1, max_jobs=200, max_result_mb=1.0)
    try:
        ids = []
        for k in range(5):                               # 5 results of 400 KB against 1 MB
            job = jm.create("classify")
            jm.start(job, lambda j, k=k: {"preview": str(k) * 400_000}).result()
            ids.append(job.id)
        kept = [i for i in ids if i in jm.jobs]
        assert kept == ids[-2:]                          # the two newest: 800 KB
        assert sum(jm.jobs[i].size for i in kept) <= 2 ** 20
        assert jm.get(ids[-1]).result["preview"][:1] == "4"
        with pytest.raises(ApiError, match="1 MB of newer results"):
            jm.get(ids[0])
        big = jm.create("classify")                      # one result over the limit alone
        jm.start(big, lambda j: {"preview": "x" * 3_000_000}).result()
        assert list(jm.jobs) == [big.id]                 # kept: its client has yet to fetch it
        assert approx_bytes(jm.get(big.id).result) == 3_000_007
    finally:
        jm.shutdown()
