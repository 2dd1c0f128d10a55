"""``shapekit serve``: the page and the HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import click

from shapekit.cli._common import OutputPath, info, warn
from shapekit.errors import InputError


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind (localhost by default; 0.0.0.0 exposes the server to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port (0: any free port).")
@click.option("--model", "models", multiple=True, metavar="NAME=DIR|DIR",
              help="Temper model directory (or a shipped model's name) to offer under NAME "
                   "(repeatable; a bare DIR is named after its folder).")
@click.option("--generator", "generators", multiple=True, metavar="NAME=RUN|RUN",
              help="Generator run directory (or a shipped generator's name, e.g. "
                   "sim=sim-parameters) to offer under NAME (repeatable).")
@click.option("--real-set", "real_sets", multiple=True, metavar="NAME=MANIFEST|FOLDER",
              help="Real image set offered for scoring (repeatable; prepared once, on first use).")
@click.option("--workdir", type=OutputPath("dir"), default=Path(".shapekit-serve"),
              show_default=True, help="The only folder the server writes to (uploads, job figures).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=200.0, show_default=True,
              help="Largest upload request (413 above it).")
@click.option("--max-pixels", type=click.IntRange(min=256), default=2 ** 26, show_default=True,
              help="Pixel budget per image (an uploaded set's images together: 4x): larger headers "
                   "(image bombs) are refused before decoding.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker threads for model work [default: the cores].")
@click.option("--no-preload", is_flag=True, help="Load models on first use instead of at start.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="info", show_default=True, help="uvicorn's log level.")
def serve_cmd(host: str, port: int, models: tuple[str, ...], generators: tuple[str, ...],
              real_sets: tuple[str, ...], workdir: Path, max_upload_mb: float, max_pixels: int,
              workers: int | None, no_preload: bool, log_level: str) -> None:
    """Serve the Classify / Generate / Score page and the JSON API (OpenAPI docs at /docs).

    Needs the serve extra: pip install 'shapekit[serve]'.

    Models are loaded once and shared by a pool of worker threads; requests name them, never
    paths. Everything is served from this machine: no CDN, nothing downloaded.
    """
    try:
        import uvicorn

        from shapekit.server import ServerConfig, create_app
        from shapekit.server.config import default_workers, named_paths
    except ImportError as e:
        raise InputError(f"shapekit serve needs the server extra ({e.name} is missing): "
                         "pip install 'shapekit[serve]'") from None
    from shapekit.cli._common import model_path

    def shipped_or_dir(items: tuple[str, ...], what: str) -> dict[str, Path]:
        return {k: model_path(None, None, v) for k, v in named_paths(items, what).items()}

    cfg = ServerConfig(classifiers=shipped_or_dir(models, "model"),
                       generators=shipped_or_dir(generators, "generator"),
                       real_sets=named_paths(real_sets, "real set"), workdir=workdir,
                       max_upload_mb=max_upload_mb, max_pixels=max_pixels,
                       workers=workers or default_workers(), preload=not no_preload)
    from shapekit.io import open_image_set

    for name, path in cfg.real_sets.items():  # prepared on first use: its form checked now
        if not path.exists():
            raise InputError(f"real set {name}: {path} not found")
        try:
            open_image_set(path)
        except InputError as e:
            raise InputError(f"real set {name}: {e}") from None
    from shapekit.generate.formats import read_generator_config
    from shapekit.temper.modeldir import read_config

    for path in cfg.classifiers.values():  # a bad directory is refused before anything is written
        read_config(path)
    for path in cfg.generators.values():
        read_generator_config(path)
    port = _check_listen(host, port)   # before the models load and the workdir is made
    created = not cfg.workdir.exists()
    try:
        app = create_app(cfg)
        if cfg.preload:
            info("loading models ...")
            app.state.shapekit.store.preload()
    except BaseException:
        if created:  # leave no trace of a server that never started
            import shutil

            shutil.rmtree(cfg.workdir, ignore_errors=True)
        raise
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    store = app.state.shapekit.store  # shipped models are offered too, after the named ones
    offered = "; ".join(f"{what}: {', '.join(names) or 'none'}" for what, names in (
        ("classifiers", store.names("classifier")), ("generators", store.names("generator")),
        ("real sets", list(cfg.real_sets))))
    info(f"shapekit serve: http://{shown}:{port}/  (API docs /docs; {cfg.workers} workers; "
         f"{offered}; writing only to {cfg.workdir})")
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"bound to {host}: anyone who can reach this machine can use the server")
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")


def _check_listen(host: str, port: int) -> int:
    """Bind ``host:port`` as uvicorn will (SO_REUSEADDR) and let it go: a port in use, a host
    that is not this machine's, a privileged port are one line (uvicorn said them after loading
    every model, over several log lines, with exit code 3). Returns the port (for port 0 the
    free one it got, which the start line then names; it read ``localhost:0``)."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as e:
            raise InputError(f"--host {host}: not a name or address of this machine "
                             f"({e.strerror})") from None
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise InputError(f"port {port} on {host} is in use (another server?); choose "
                                 "another --port (0: any free one)") from None
            if e.errno == errno.EACCES:
                raise InputError(f"port {port} on {host}: permission denied (ports below 1024 "
                                 "need privileges); choose another --port") from None
            raise InputError(f"cannot listen on {host}:{port}: {e.strerror}") from None
        return int(sock.getsockname()[1])


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    app.add_command(serve_cmd)
