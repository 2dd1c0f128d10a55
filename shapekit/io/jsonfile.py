"""Read JSON that shapekit did not necessarily write itself: size-capped, parsed, schema-checked.

Every JSON file shapekit reads (model ``config.json``, generator and run-directory JSON, codec
JSON, sidecars) goes through :func:`load_json` with a JSON Schema (draft 2020-12, checked by the
``jsonschema`` library) that states the *types*, not only the keys. Whatever is wrong (missing,
too large, not UTF-8, not JSON, nested too deep, a string where an object belongs...) becomes
one line naming the file, the place in the document and what was expected, as
:class:`~shapekit.errors.ModelFormatError` (or the error class the caller chooses), so the CLI
exits with code 2 instead of failing later with a ``TypeError``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shapekit.errors import InputError, ModelFormatError, brief

MAX_JSON_BYTES = 64 * 2**20
"""Largest JSON file read (64 MiB): configs are a few KB, an XGBoost model some MB."""

_JSON_TYPES = {"object": "an object", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def load_json(path: str | os.PathLike[str], schema: dict[str, Any] | None = None, *,
              what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES,
              error: type[InputError] = ModelFormatError) -> Any:
    """Parse the JSON file ``path`` and check it against ``schema``.

    Parameters
    ----------
    path : path-like
        The file.
    schema : dict, optional
        A JSON Schema (draft 2020-12); None only parses.
    what : str
        What the file is, for messages (``"generator config"``).
    max_bytes : int
        Larger files are refused before they are read.
    error : type
        The :class:`~shapekit.errors.InputError` subclass raised.

    Returns
    -------
    The parsed document.

    Raises
    ------
    InputError
        (``error``) missing, unreadable, oversized, not UTF-8, not JSON or not matching ``schema``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.json"
    >>> _ = p.write_text('{"size": "big"}')
    >>> load_json(p, {"type": "object", "properties": {"size": {"type": "integer"}}},
    ...           what="config")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.ModelFormatError: .../c.json: invalid config: size must be an integer, got a string 'big'
    """
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: {what} not found" if not p.exists() else f"{p}: {what} is not a file")
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise error(f"{p}: {what} is {size} bytes, over the limit of {max_bytes} bytes")
        raw = p.read_bytes()
    except OSError as e:
        raise error(f"{p}: cannot read {what} ({(e.strerror or type(e).__name__).lower()})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{p}: {what} is not UTF-8 text") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{p}: {what} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
                    ) from None
    except (RecursionError, ValueError) as e:  # nesting too deep, a 10**6-digit integer
        raise error(f"{p}: {what} is not usable JSON ({type(e).__name__})") from None
    if schema is not None:
        check_json(obj, schema, where=str(p), what=what, error=error)
    return obj


def check_json(obj: Any, schema: dict[str, Any], *, where: str, what: str = "document",
               error: type[InputError] = ModelFormatError) -> Any:
    """Check an already parsed document against ``schema``; return it unchanged.

    The message describes the most relevant violation (``jsonschema``'s ``best_match``), with
    the offending value quoted through :func:`~shapekit.errors.brief` (never the whole value).

    Examples
    --------
    >>> check_json([1, 2], {"type": "object"}, where="gen.json", what="generator config")
    Traceback (most recent call last):
    ...
    shapekit.errors.ModelFormatError: gen.json: invalid generator config: the document must be an object, got a list [1, 2]
    >>> check_json({"a": 1}, {"type": "object", "required": ["a"]}, where="x")
    {'a': 1}
    """
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(schema)
    try:
        worst = best_match(validator.iter_errors(obj))
    except RecursionError:
        raise error(f"{where}: invalid {what}: nested too deeply") from None
    if worst is not None:
        raise error(f"{where}: invalid {what}: {_describe(worst)}")
    return obj


def _place(err: Any) -> str:
    parts = list(err.absolute_path)
    if not parts:
        return "the document"
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return brief(text, 60).strip("'\"") if len(text) > 60 else text


def _jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for t, name in ((dict, "an object"), (list, "a list"), (str, "a string"), (int, "an integer"),
                    (float, "a number")):
        if isinstance(value, t):
            return name
    return type(value).__name__


def _describe(err: Any) -> str:
    """One short sentence for a ``jsonschema.ValidationError`` (no unbounded values)."""
    kind, expected, value, where = err.validator, err.validator_value, err.instance, _place(err)
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_JSON_TYPES.get(t, t) for t in types)
        return f"{where} must be {want}, got {_jtype(value)} {brief(value, 40)}"
    if kind == "required" and isinstance(value, dict):
        missing = [k for k in expected if k not in value]
        return f"{where} lacks the key {brief(missing[0] if missing else expected, 40)}"
    if kind == "additionalProperties" and isinstance(value, dict):
        known = set((err.schema.get("properties") or {}))
        extra = [k for k in value if k not in known]
        return f"{where} has an unexpected key {brief(extra[0] if extra else '?', 40)}"
    if kind in ("enum", "const"):
        return f"{where} must be {'one of ' if kind == 'enum' else ''}{brief(expected, 60)}, got {brief(value, 40)}"
    bounds = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    if kind in bounds:
        return f"{where} must be {bounds[kind]} {expected}, got {brief(value, 40)}"
    sizes = {"minItems": "at least {} items", "maxItems": "at most {} items",
             "minLength": "at least {} characters", "maxLength": "at most {} characters",
             "minProperties": "at least {} keys", "maxProperties": "at most {} keys"}
    if kind in sizes:
        return f"{where} must have {sizes[kind].format(expected)}"
    return f"{where} violates {kind} {brief(expected, 40)} (value {brief(value, 40)})"
