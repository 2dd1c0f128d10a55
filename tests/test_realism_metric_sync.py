"""TopologicalRealism gathers across processes when a process saw no image of one side.

torchmetrics stands in an empty float32 vector for an empty list state; gathered with the other
processes' float64 ``(n, ...)`` states, gloo aborted the process ("Received data size doesn't
match expected size", SIGABRT), e.g. with ``update(real=...)`` and ``update(fake=...)`` called
separately and one rank's shard holding no generated images. The empty side now sends a
float64 state of no rows and the right shape.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch

from shapekit.realism import TopologicalRealism


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(8, 1, 20, 20, generator=g), torch.rand(8, 1, 20, 20, generator=g) ** 2


def _gather_like_gloo(peer: TopologicalRealism):
    """A two-process all_gather: this process's tensor and the peer's state of the same name,
    refused as gloo refuses them when dtype or number of dimensions differ."""
    names = iter(["real_summaries", "real_diagrams", "fake_summaries", "fake_diagrams"])

    def gather(t: torch.Tensor, group=None) -> list[torch.Tensor]:
        state = getattr(peer, next(names))
        other = torch.cat(state) if isinstance(state, list) and state else state
        if isinstance(other, list):                 # the peer's own stand-in (torchmetrics')
            other = torch.tensor([], dtype=peer.dtype)
        if other.dtype != t.dtype or other.ndim != t.ndim:
            raise RuntimeError(f"collective mismatch: {t.dtype} {tuple(t.shape)} vs "
                               f"{other.dtype} {tuple(other.shape)}")
        return [t, other]
    return gather


def test_a_side_this_process_never_saw_is_gathered():
    R, F = _data()
    ref = TopologicalRealism()
    ref.update(real=R[:5], fake=F)
    ref.update(real=R[5:])
    here, peer = TopologicalRealism(), TopologicalRealism(sync_on_compute=False)  # synced by hand
    here.update(real=R[:5], fake=F)
    peer.update(real=R[5:])                        # no fake images on the peer
    peer.sync(dist_sync_fn=_gather_like_gloo(here), distributed_available=lambda: True)
    out, want = peer.compute(), ref.compute()
    assert {k: float(v) for k, v in out.items()} == pytest.approx(
        {k: float(v) for k, v in want.items()})
    assert len(peer.fake_summaries) == 0           # compute() put its own state back


def _run(rank: int, port: int, queue) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        R, F = _data()
        m = TopologicalRealism()
        m.update(real=R[:5], fake=F) if rank == 0 else m.update(real=R[5:])
        queue.put((rank, float(m.compute()["topological_distance"])))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes():
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_run, args=(port, queue), nprocs=2)
    got = dict(queue.get() for _ in range(2))
    R, F = _data()
    ref = TopologicalRealism()
    ref.update(real=R[:5], fake=F)
    ref.update(real=R[5:])
    assert got[0] == got[1] == pytest.approx(float(ref.compute()["topological_distance"]))
