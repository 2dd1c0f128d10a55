"""``shapekit generate`` refuses a bad condition value, checkpoint name or device before the
generator loads (Lightning's import and the weights: about 8 s; the refusals came after it)."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import assert_refused as _refused, forbid
import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402

PRETRAINED = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"


@pytest.fixture()
def no_loading(monkeypatch):
    from shapekit.generate import export

    forbid(monkeypatch, "the generator was loaded", (export, "load_generator"))



def test_bad_condition_values_are_refused_before_loading(run_cli, no_loading, tmp_path: Path):
    out = tmp_path / "gen"
    sim = PRETRAINED / "sim-parameters"    # aging_time_h is log-scaled
    for args, message in [
            (["--set", "aging_time_h=nan"], "condition aging_time_h=nan is not finite"),
            (["--set", "aging_temperature_C=inf"], "condition aging_temperature_C=inf is not finite"),
            (["--set", "aging_time_h=-1"], "condition aging_time_h=-1: it is log-scaled and must be > 0"),
            (["--sweep", "aging_time_h=0:10:3"],
             "condition aging_time_h=0: it is log-scaled and must be > 0")]:
        _refused(run_cli("generate", sim, "--n", "1", "--out", out, *args), message, out)


def test_a_missing_checkpoint_is_refused_before_loading(run_cli, no_loading, tmp_path: Path):
    run = tiny_export(tmp_path / "run")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "iter-0000002.ckpt").write_bytes(b"not read")
    out = tmp_path / "gen"
    _refused(run_cli("generate", run, "--n", "1", "--out", out, "--checkpoint", "iter-0000009"),
             f"checkpoint iter-0000009 not found in {run / 'checkpoints'}; available: iter-0000002",
             out)


def test_an_unknown_device_is_refused_before_loading(run_cli, no_loading, tmp_path: Path):
    import torch

    out = tmp_path / "gen"
    _refused(run_cli("generate", "uhcs3-class", "--n", "1", "--out", out, "--device", "foo"),
             "unknown torch device 'foo'", out)
    if not torch.cuda.is_available():
        _refused(run_cli("generate", "uhcs3-class", "--n", "1", "--out", out, "--device", "cuda"),
                 "device 'cuda' is not available (0 CUDA devices)", out)
