"""Exception types shared by every shapekit module.

The CLI maps :class:`InputError` (anything the user can fix: a bad path, a corrupt file, an
invalid manifest, an incompatible model directory) to a one-line message and exit code 2, and any
other exception to exit code 1.
"""

from __future__ import annotations


class ShapekitError(Exception):
    """Base class of shapekit's own errors."""


class InputError(ShapekitError, ValueError):
    """Bad user input: the message is one line and names the offending file, row or value."""


class ManifestError(InputError):
    """A dataset manifest or its table is invalid."""


class ModelFormatError(InputError):
    """A model or run directory is missing, corrupt, or from an incompatible shapekit version."""
