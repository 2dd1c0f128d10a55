"""The ``shapekit`` command line.

Conventions every command follows (tested in ``tests/test_cli_contract.py``):

* ``--help`` on every command;
* errors are one short line on stderr: exit code 2 for bad input (:class:`shapekit.errors.InputError`,
  usage errors, user-caused ``OSError`` such as a missing file, a read-only or full output
  location), 1 for an internal failure (``SHAPEKIT_DEBUG=1`` adds the traceback);
* arguments are checked (types, ranges, output paths) before any heavy import or work, so a bad
  argument is refused at once;
* machine-readable output on stdout only with ``--json``; progress bars and logs on stderr;
  stderr carries shapekit's own messages only (``shapekit -v`` adds libraries' warnings and logs);
* every allocation that follows from user input is checked against one pixel budget
  (``shapekit --max-pixels N`` raises it on purpose);
* heavy libraries (torch, gudhi, xgboost) are imported inside commands, so ``--help`` is fast.

Built on click. Each command family lives in its own module and adds itself to ``app`` (or to a
group) in a ``register`` function; this file only wires them together: ``data`` (ingest, manifest
check), ``synth``, ``temper_train`` (featurize, train-classifier), ``temper`` (classify, evaluate,
robustness, explain), ``gan`` (train-gan), ``generate``, ``calibrate`` (calibrate-imaging,
calibrate-conditions; ``calibrate_checks`` their refusals before a model loads), ``realism``
(score), ``analysis_geometry`` and ``analysis_invariance`` (analyze ...; ``analysis_inputs`` holds
the geometry commands' shared options, inputs and figure output), ``serve`` (the web app), ``demo``.
Every command imports its heavy libraries inside its function, after its arguments are checked;
``_common`` holds the shared options and types, ``signals`` the SIGTERM handling of the commands
that write sets.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import click

from shapekit import __version__
from shapekit.cli._common import pixel_limit, user_facing_output
from shapekit.errors import InputError, Interrupted, describe_os_error, is_user_os_error

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MAX_MESSAGE = 400
"""Characters of an error message printed (the line is cut beyond)."""


@click.group(name="shapekit", context_settings=CONTEXT)
@click.version_option(__version__, prog_name="shapekit")
@click.option("-v", "--verbose", count=True,
              help="Also show other libraries' warnings and logs (-vv: debug logs).")
@click.option("--max-pixels", type=click.FloatRange(min=1), default=None, metavar="N",
              help="Pixel budget of any one image or derived array (default 268435456, or "
                   "$SHAPEKIT_MAX_PIXELS); raise it on purpose for very large scans.")
@click.pass_context
def app(ctx: click.Context, verbose: int, max_pixels: float | None) -> None:
    """Topology-first toolkit for SEM micrographs of heat-treated metals.

    Classify the temper of a scan, generate micrographs for proposed process parameters or
    properties, and score synthetic micrographs topologically against real ones.
    """
    ctx.with_resource(pixel_limit(max_pixels))
    ctx.with_resource(user_facing_output(verbose))


@app.group(name="manifest", context_settings=CONTEXT)
def manifest_app() -> None:
    """Dataset manifests: validate and summarise."""


@app.group(name="analyze", context_settings=CONTEXT)
def analyze_app() -> None:
    """Representation-geometry analysis of shapekit's (or any) torch models."""


def _register_all() -> None:
    from shapekit.cli import (analysis_geometry, analysis_invariance, calibrate, data, demo, gan,
                              generate, models, realism, serve, synth, temper, temper_train)

    data.register(app, manifest_app)
    synth.register(app)
    temper_train.register(app)
    temper.register(app)
    models.register(app)
    gan.register(app)
    generate.register(app)
    calibrate.register(app)
    realism.register(app)
    analysis_geometry.register(analyze_app)
    analysis_invariance.register(analyze_app)
    demo.register(app)
    serve.register(app)


_register_all()


#: click >= 8.2 raises this for a group called without a command (8.1 printed the help itself)
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _one_line(msg: object) -> str:
    text = " ".join(str(msg)[:4 * MAX_MESSAGE].split())
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 3] + "..."
    return text or "unknown error"


def _fail(msg: str, code: int) -> None:
    sys.stderr.write(f"shapekit: error: {_one_line(msg)}\n")
    sys.stderr.flush()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``shapekit`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = app(args=args, prog_name="shapekit", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except _NO_ARGS_IS_HELP as e:  # `shapekit`, `shapekit analyze`: the help, as click < 8.2 gave
        click.echo(e.ctx.get_help())
        sys.exit(0)
    except click.exceptions.ClickException as e:  # usage errors, bad options: exit 2
        _fail(e.format_message(), e.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Interrupted as e:  # a signal that a command wound down (train-gan): what was kept
        _fail(str(e), e.exit_code)
    except InputError as e:
        if os.environ.get("SHAPEKIT_DEBUG"):
            traceback.print_exc()
        _fail(str(e), 2)
    except OSError as e:
        if os.environ.get("SHAPEKIT_DEBUG"):
            traceback.print_exc()
        if is_user_os_error(e):  # a missing or forbidden path, a full disk: the user can fix it
            _fail(describe_os_error(e), 2)
        _fail(f"internal error: {type(e).__name__}: {e}", 1)
    except MemoryError:
        if os.environ.get("SHAPEKIT_DEBUG"):
            traceback.print_exc()
        _fail("out of memory (lower the input size, or raise the limit of the machine)", 1)
    except Exception as e:  # noqa: BLE001 - the CLI boundary: one line, exit 1
        if os.environ.get("SHAPEKIT_DEBUG"):
            traceback.print_exc()
        _fail(f"internal error: {type(e).__name__}: {e}", 1)
    if isinstance(rv, int) and not isinstance(rv, bool):
        sys.exit(rv)
    sys.exit(0)
