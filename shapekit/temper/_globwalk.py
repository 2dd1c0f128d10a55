"""``**`` glob patterns matched by one walk that enters every real folder once.

:func:`glob.glob` follows symbolic links to folders at every level of ``**``: a link back up the
tree (``ln -s .. a/up``) makes it list each scan again under ``a/up/a/up/...`` until the OS refuses
the path (about 40 times), and two such links make that 2**40 paths. :func:`glob_files` gives
the files of the same pattern (same rules: ``*``, ``?`` and ``[...]`` within a name, ``**`` as a
whole name for zero or more folders, names starting with a dot matched only by a pattern part that
starts with one), entering a folder reached again by another name (a link to it or to a folder
above it) no more than once for each place in the pattern.
"""

from __future__ import annotations

import fnmatch
import glob
import os

__all__ = ["glob_files"]


def glob_files(pattern: str) -> list[str]:
    """The files ``pattern`` matches, as :func:`glob.glob` names them (sorted), every real
    folder walked once; a pattern without ``**`` is :func:`glob.glob`'s.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a").mkdir(); _ = (d / "a" / "x.png").write_bytes(b""); _ = (d / "y.png").write_bytes(b"")
    >>> (d / "a" / "up").symlink_to("..")                    # a loop
    >>> [pathlib.Path(p).relative_to(d).as_posix() for p in glob_files(f"{d}/**/*.png")]
    ['a/x.png', 'y.png']
    """
    parts = pattern.split(os.sep) if os.sep in pattern else [pattern]
    if "**" not in parts:
        return [p for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p)]
    k = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    root, rest = os.sep.join(parts[:k]), parts[k:]
    if k and not root:                                       # an absolute pattern: "/..."
        root = os.sep
    found: list[str] = []
    seen: set[tuple[str, frozenset[int]]] = set()

    def closure(states: set[int]) -> frozenset[int]:
        out = set(states)
        for i in sorted(states):
            j = i
            while j < len(rest) and rest[j] == "**":         # ** may stand for no folder
                out.add(j + 1)
                j += 1
        return frozenset(out)

    stack = [(root, closure({0}))]
    while stack:
        folder, states = stack.pop()
        key = (os.path.realpath(folder or "."), states)
        if key in seen:
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
        except OSError:                                      # unreadable or gone: as glob does
            continue
        for e in entries:
            path = os.path.join(folder, e.name) if folder else e.name
            try:
                is_dir = e.is_dir()
            except OSError:
                continue
            nxt: set[int] = set()
            for i in states:
                if i >= len(rest):
                    continue
                part, last = rest[i], i == len(rest) - 1
                hidden_ok = part.startswith(".")
                if e.name.startswith(".") and not hidden_ok:
                    continue
                if part == "**":
                    if is_dir:
                        nxt.add(i)
                    elif last:
                        found.append(path)
                elif fnmatch.fnmatch(e.name, part):
                    if last and not is_dir:
                        found.append(path)
                    elif is_dir:
                        nxt.add(i + 1)
            if nxt and is_dir:
                stack.append((path, closure(nxt)))
    return sorted(set(found))
