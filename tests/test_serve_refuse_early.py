"""``shapekit serve`` refuses a port in use and an address that is not this machine's before it
loads any model or makes its workdir: uvicorn said them after start-up, over several log lines,
with exit code 3, and left the new workdir behind."""

from __future__ import annotations

from cli_helpers import assert_refused as _refused, forbid
import socket
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")


@pytest.fixture()
def no_start(monkeypatch):
    import shapekit.server
    import uvicorn

    forbid(monkeypatch, "the server was built", (shapekit.server, "create_app"), (uvicorn, "run"))



def test_a_port_in_use_is_refused_before_start(run_cli, no_start, tmp_path: Path) -> None:
    with socket.socket() as other:   # another server on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        _refused(run_cli("serve", "--port", port, "--workdir", tmp_path / "work"),
                 f"port {port} on 127.0.0.1 is in use (another server?); choose another --port")
    assert not (tmp_path / "work").exists()


def test_an_address_of_another_machine_is_refused_before_start(run_cli, no_start,
                                                              tmp_path: Path) -> None:
    # 192.0.2.1: TEST-NET-1 (RFC 5737), never an address of this machine
    _refused(run_cli("serve", "--host", "192.0.2.1", "--port", "0", "--workdir", tmp_path / "w"),
             "cannot listen on 192.0.2.1:0:")
    assert not (tmp_path / "w").exists()


def test_a_real_set_that_is_no_image_set_is_refused_at_start(run_cli, no_start,
                                                            tmp_path: Path) -> None:
    # it started, and the set failed only when the Score tab first used it
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    for path, why in ((tmp_path / "notes.txt", "expected a .yaml manifest or a folder of images"),
                      (tmp_path / "empty", "no readable images (TIFF, PNG, JPEG, BMP) in this folder")):
        _refused(run_cli("serve", "--real-set", f"ref={path}", "--port", "0", "--no-preload",
                         "--workdir", tmp_path / "w"), f"real set ref: {path}: {why}")
    assert not (tmp_path / "w").exists()


def test_port_0_is_a_free_port_that_the_start_line_names(run_cli, monkeypatch,
                                                         tmp_path: Path) -> None:
    # the line read "shapekit serve: http://localhost:0/"
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    code, _, err = run_cli("serve", "--no-preload", "--port", "0", "--workdir", tmp_path / "w")
    assert code == 0, err
    port = calls[0]["port"]
    assert port > 0 and f"shapekit serve: http://localhost:{port}/ " in err
