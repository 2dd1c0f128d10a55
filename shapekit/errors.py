"""Exception and warning types shared by every shapekit module, and bounded error-message pieces.

The CLI maps :class:`InputError` (anything the user can fix: a bad path, a corrupt file, an
invalid manifest, an incompatible model directory, an output location that cannot be written) and
user-caused ``OSError`` to a one-line message and exit code 2, and any other exception to exit
code 1. :class:`ShapekitWarning` is what shapekit warns the *user* about: the CLI prints it as one
``shapekit: warning:`` line, while other libraries' warnings are shown only with ``-v``.

Messages must stay one short line whatever the input: put a user-supplied value into a message
through :func:`brief`, never through ``repr`` (a 1 KB YAML file can expand to gigabytes).
"""

from __future__ import annotations

import errno
import os
import reprlib
from typing import Any

BRIEF_LIMIT = 100
"""Characters of a user-supplied value quoted in an error message."""


class ShapekitError(Exception):
    """Base class of shapekit's own errors."""


class InputError(ShapekitError, ValueError):
    """Bad user input: the message is one line and names the offending file, row or value."""


class ManifestError(InputError):
    """A dataset manifest or its table is invalid."""


class ModelFormatError(InputError):
    """A model or run directory is missing, corrupt, or from an incompatible shapekit version."""


class OutputError(InputError):
    """An output location cannot be written (an existing file where a folder belongs, a
    read-only folder, a full disk...); the message names the output path."""


class Interrupted(ShapekitError):
    """Work stopped by a signal (Ctrl-C, ``SIGTERM``) and wound down: the message says what was
    kept and how to continue; the CLI exits with ``128 + signum`` (130 for Ctrl-C, 143 for
    ``SIGTERM``)."""

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class ShapekitWarning(UserWarning):
    """A warning meant for the user (printed by the CLI as one ``shapekit: warning:`` line)."""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 3, 6, 6, 6
_REPR.maxset, _REPR.maxfrozenset, _REPR.maxdeque, _REPR.maxarray = 6, 6, 6, 6
_REPR.maxstring, _REPR.maxlong, _REPR.maxother = 80, 40, 80


def brief(value: Any, limit: int = BRIEF_LIMIT) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, built without the full repr.

    Nested containers are abbreviated level by level (:mod:`reprlib`), so the cost does not grow
    with the size of ``value``: safe for anything parsed from a user's file.

    Examples
    --------
    >>> brief("abc")
    "'abc'"
    >>> len(brief(["x" * 10**6] * 10**6)) <= 100
    True
    >>> brief({"a": [1, 2, 3]})
    "{'a': [1, 2, 3]}"
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:max(limit - 3, 1)] + "..."


#: errno values that mean the user (or the machine's state) is at fault, not shapekit
USER_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        "ENOENT", "EACCES", "EPERM", "EEXIST", "ENOTDIR", "EISDIR", "EROFS", "ENOSPC", "EDQUOT",
        "ENAMETOOLONG", "ELOOP", "EFBIG", "ENOTEMPTY", "EXDEV", "EBUSY", "ETXTBSY", "EMFILE",
        "ENFILE", "EINVAL", "ENXIO", "ENODEV")
    if hasattr(errno, name))


def is_user_os_error(err: BaseException) -> bool:
    """True for an ``OSError`` the user can fix (missing/forbidden path, full disk...).

    Examples
    --------
    >>> is_user_os_error(PermissionError(13, "Permission denied", "/x")), is_user_os_error(OSError("?"))
    (True, False)
    """
    return isinstance(err, OSError) and err.errno in USER_ERRNOS


def describe_os_error(err: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line naming the path at fault and what is wrong with it.

    ``path`` overrides the file name the error carries (e.g. the final output instead of the
    temporary file next to it). An existing file where a folder is needed is named as such.

    Examples
    --------
    >>> describe_os_error(PermissionError(13, "Permission denied", "/data/out/a.png"))
    '/data/out/a.png: permission denied'
    >>> import tempfile
    >>> f = tempfile.mkdtemp() + "/x"; _ = open(f, "w").close()
    >>> describe_os_error(FileExistsError(17, "File exists", f), path=f + "/a.png") == (
    ...     f"{f}/a.png: cannot create it: {f} exists and is not a folder")
    True
    """
    target = os.fspath(path) if path is not None else (err.filename if err.filename is not None
                                                       else None)
    reason = (err.strerror or str(err) or type(err).__name__).strip()
    reason = reason[:1].lower() + reason[1:]
    code = err.errno
    if code in (errno.EEXIST, errno.ENOTDIR) and target is not None:
        blocker = _file_in_the_way(os.fspath(target))
        if blocker is not None:
            return f"{target}: cannot create it: {blocker} exists and is not a folder"
    if target is None:
        return reason
    if code == errno.EROFS:
        reason = "read-only file system"
    return f"{os.fsdecode(target)}: {reason}"


def _file_in_the_way(path: str) -> str | None:
    """The first existing non-folder among the ancestors of ``path`` (or ``path`` itself)."""
    p = os.path.abspath(path)
    chain = []
    while True:
        chain.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for q in reversed(chain[1:]):  # from the root down, ancestors only
        if os.path.lexists(q) and not os.path.isdir(q):
            return q
    return None
