"""shapekit.generate in separate processes: SIGKILL + resume, and 2-process DDP (gloo on CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from test_generate import make_tiny_dataset  # noqa: E402

TINY_ARGS = ["--crop-size", "32", "--batch-size", "4", "--channels", "4",
             "--sample-every", "0"]


def _shapekit() -> list[str]:
    exe = shutil.which("shapekit") or str(Path(sys.executable).parent / "shapekit")
    if not Path(exe).exists():
        pytest.skip("shapekit console script not installed")
    return [exe]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "SHAPEKIT_PROGRESS": "0"}


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_sigkill_then_resume_continues_step_and_optimizer(tmp_path: Path) -> None:
    manifest = make_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    cmd = _shapekit() + ["train-gan", str(manifest), "--out", str(run), "--condition", "parameters",
                         "--max-steps", "100000", "--checkpoint-every", "2", *TINY_ARGS]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list((run / "checkpoints").glob("iter-*.ckpt"))) < 2:
            if proc.poll() is not None:
                pytest.fail(f"training exited early: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        assert (run / "checkpoints" / "last.ckpt").is_file(), "no checkpoint within 120 s"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (run / "generator.safetensors").exists()  # killed before the end
    before = _ckpt(run / "checkpoints" / "last.ckpt")
    it0 = before["global_step"] // 2
    assert it0 >= 2
    assert [int(s["state"][0]["step"]) for s in before["optimizer_states"]] == [it0, it0]

    target = it0 + 3
    res = subprocess.run(_shapekit() + ["train-gan", str(manifest), "--out", str(run), "--resume",
                                        "--max-steps", str(target), "--fraction-weight", "10",
                                        "--fraction-window", "7", "--fraction-map", "exact",
                                        "--two-point-weight", "5", "--count-weight", "2",
                                        "--two-point-lag", "8", "--json"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["iterations"] == target
    after = _ckpt(run / "checkpoints" / "last.ckpt")
    assert after["global_step"] == 2 * target
    # Adam continued from the restored state: its step counter counts the resumed iterations too
    assert [int(s["state"][0]["step"]) for s in after["optimizer_states"]] == [target, target]
    assert json.loads((run / "generator.json").read_text())["iterations"] == target
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["condition"] == "parameters"
    # the loss settings a resume may change are taken from the command line and recorded
    assert (cfg["model"]["fraction_weight"], cfg["model"]["fraction_window"]) == (10, 7)
    assert cfg["model"]["fraction_map"] == "exact" and cfg["model"]["count_weight"] == 2
    assert (cfg["model"]["two_point_weight"], cfg["model"]["two_point_lag"]) == (5, 8)


def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    manifest = make_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    res = subprocess.run(_shapekit() + ["train-gan", str(manifest), "--out", str(run),
                                        "--devices", "2", "--accelerator", "cpu", "--strategy",
                                        "ddp", "--max-steps", "3", "--checkpoint-every", "3",
                                        "--fraction-dual", "5", "--json", *TINY_ARGS],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)  # only rank 0 prints
    assert summary["world_size"] == 2 and summary["iterations"] == 3
    ck = _ckpt(run / "checkpoints" / "last.ckpt")
    assert ck["global_step"] == 6
    # the fraction multipliers took the ranks' mean steps (one all-reduce per iteration)
    assert ck["state_dict"]["dual.a"].abs().sum() > 0
    assert (run / "generator.safetensors").is_file()


def _train_until_checkpoint(cmd: list[str], run: Path, n_ckpt: int) -> subprocess.Popen:
    """Start ``cmd`` (SIGINT at its default, as in a terminal) and return once ``run`` holds
    ``n_ckpt`` iteration checkpoints."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while len(list((run / "checkpoints").glob("iter-*.ckpt"))) < n_ckpt:
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"no checkpoint in time: {proc.communicate()[1][-2000:]}")
        time.sleep(0.2)
    return proc


def test_sigterm_and_ctrl_c_say_where_training_stopped_and_how_to_resume(tmp_path: Path) -> None:
    # Lightning ended a run stopped by SIGTERM with status 0 and by Ctrl-C with status 1, both
    # silently: a scheduler's SIGTERM read as success, and nothing told the user what was kept
    manifest = make_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    cmd = _shapekit() + ["train-gan", str(manifest), "--out", str(run), "--max-steps", "100000",
                         "--checkpoint-every", "2", *TINY_ARGS]
    for sig, name, code, extra in ((signal.SIGTERM, "SIGTERM", 143, []),
                                   (signal.SIGINT, "Ctrl-C", 130, ["--resume"])):
        have = len(list((run / "checkpoints").glob("iter-*.ckpt")))
        proc = _train_until_checkpoint(cmd + extra, run, have + 2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert proc.returncode == code, err[-2000:]
        kept = _ckpt(run / "checkpoints" / "last.ckpt")["global_step"] // 2
        assert lines[-1].startswith(f"shapekit: error: training stopped by {name} at iteration ")
        stopped = int(lines[-1].split(" at iteration ")[1].split()[0])
        if name == "SIGTERM":  # saved where it stopped (between iterations), not 2 iterations back
            assert kept == stopped, lines[-1]
        assert f"the run keeps its checkpoint of iteration {kept}: continue it with " \
               f"`shapekit train-gan {manifest} --out {run} --resume --max-steps 100000`" in lines[-1]
        assert not (run / "generator.safetensors").exists()


def test_sigterm_saves_the_last_checkpoint_where_training_stopped() -> None:
    """SaveOnSigterm writes `last` on Lightning's SIGTERMException (raised between iterations), not
    on Ctrl-C (which can land inside an iteration) nor before the first iteration."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from shapekit.generate.progress import SaveOnSigterm

    class Trainer:
        def __init__(self, step: int) -> None:
            self.global_step, self.saved = step, []

        def save_checkpoint(self, path: str, weights_only: bool = False) -> None:
            self.saved.append((path, weights_only))

    cb = SaveOnSigterm("run/checkpoints/last.ckpt")
    for exc, step, saved in ((SIGTERMException(), 14, [("run/checkpoints/last.ckpt", False)]),
                             (KeyboardInterrupt(), 14, []), (SIGTERMException(), 0, [])):
        t = Trainer(step)
        cb.on_exception(t, None, exc)
        assert t.saved == saved, (exc, step)


class _FakeTrainer:
    """What SaveOnSigterm reads of a Lightning Trainer; Lightning's SIGTERM handler sets the flag."""

    world_size, received_sigterm = 1, False

    def __init__(self, step: int) -> None:
        self.global_step, self.saved = step, []

    def lightning_handler(self, signum, frame) -> None:
        self.received_sigterm = True

    def save_checkpoint(self, path: str, weights_only: bool = False) -> None:
        self.saved.append(path)


def test_sigterm_inside_a_long_iteration_stops_after_the_grace() -> None:
    """`train-gan --crop-size 512` on a CPU (2.5 min per iteration) went on for 140 s after a
    SIGTERM: Lightning acts on it only between iterations. An iteration still running `grace_s`
    after the signal is now abandoned (nothing saved from it); one that ends in time stops as
    before, saved where it stopped; a signal during the data fetch stops before the next one."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from shapekit.generate.progress import SaveOnSigterm, StoppedMidIteration, interrupted

    old = signal.getsignal(signal.SIGTERM)
    try:
        # a 10-s iteration, SIGTERM in its middle: stopped 0.3 s later
        t = _FakeTrainer(6)
        signal.signal(signal.SIGTERM, t.lightning_handler)
        cb = SaveOnSigterm("last.ckpt", grace_s=0.3)
        cb.on_train_start(t, None)
        cb.on_train_batch_start(t, None, None, 3)
        t0 = time.monotonic()
        with pytest.raises(StoppedMidIteration) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            while time.monotonic() - t0 < 10:
                time.sleep(0.01)
        took = time.monotonic() - t0
        assert t.received_sigterm and 0.25 < took < 3, took
        cb.on_exception(t, None, info.value)
        assert t.saved == [] and signal.getsignal(signal.SIGTERM) == t.lightning_handler
        msg = str(interrupted(info.value, 3, 10, 2, 2, Path("run"), "m.yaml"))
        assert msg.startswith("training stopped by SIGTERM at iteration 3 of 10 (inside an "
                              "iteration that had not ended 5 s after the signal"), msg
        assert "keeps its checkpoint of iteration 2" in msg

        # an iteration that ends within the grace: Lightning stops after it and `last` is saved
        t = _FakeTrainer(8)
        signal.signal(signal.SIGTERM, t.lightning_handler)
        cb = SaveOnSigterm("last.ckpt", grace_s=0.3)
        cb.on_train_start(t, None)
        cb.on_train_batch_start(t, None, None, 4)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        cb.on_train_batch_end(t, None, None, None, 4)
        time.sleep(0.5)                       # past the grace: nothing is raised any more
        assert t.received_sigterm
        cb.on_exception(t, None, SIGTERMException())
        assert t.saved == ["last.ckpt"]

        # during the data fetch (between iterations): stopped at the next iteration's start
        t = _FakeTrainer(8)
        signal.signal(signal.SIGTERM, t.lightning_handler)
        cb = SaveOnSigterm("last.ckpt", grace_s=0.3)
        cb.on_train_start(t, None)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        with pytest.raises(SIGTERMException) as info:
            cb.on_train_batch_start(t, None, None, 4)
        assert not isinstance(info.value, StoppedMidIteration)
        time.sleep(0.5)
        cb.on_exception(t, None, info.value)
        assert t.saved == ["last.ckpt"]
    finally:
        signal.signal(signal.SIGTERM, old)
