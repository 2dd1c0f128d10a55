"""``shapekit analyze fibres --target T`` refuses a target outside the process window's reachable
hardness before torch and the bundle network load (6.6 s before, now the simulator's import)."""

from __future__ import annotations

import subprocess
import sys


def test_an_unreachable_target_is_refused_before_torch_loads():
    code = ("import sys\n"
            "from shapekit.analysis.fibres_design import inverse_design\n"
            "from shapekit.errors import InputError\n"
            "try:\n"
            "    inverse_design(-5.0)\n"
            "except InputError as e:\n"
            "    print(e)\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    message, torch_loaded = out.stdout.strip().splitlines()
    assert message.startswith("target hardness -5.0 HV is outside the reachable range")
    assert torch_loaded == "False"
