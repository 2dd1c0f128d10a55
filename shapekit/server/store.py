"""Models and real sets offered by name, each loaded once and shared by all worker threads.

Names come from ``shapekit serve --model NAME=DIR`` (and ``--generator``, ``--real-set``) and,
where a model registry exists, from the shipped models it lists. Loading goes through
:mod:`shapekit.server.services`, the server's one adapter to the model packages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shapekit.errors import InputError
from shapekit.server import services
from shapekit.server.config import ServerConfig, check_name
from shapekit.server.encode import jsonable
from shapekit.server.errors import ApiError

KINDS = services.KINDS


class ModelStore:
    """Named models, each loaded once and shared; real sets prepared once.

    Examples
    --------
    >>> store = ModelStore(ServerConfig(preload=False))
    >>> [c["name"] for c in store.catalog()["classifiers"]]      # the shipped ones
    ['uhcs3']
    >>> store.get("classifier", "../x")
    Traceback (most recent call last):
    ...
    shapekit.server.errors.ApiError: 400: classifier name '../x' is path-like or has characters other than letters, digits and . _ + -
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._cache: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads: dict[tuple[str, str], int] = {}

    def names(self, kind: str) -> list[str]:
        """Names offered for ``kind``: the configured ones first, then shipped ones."""
        own = list(getattr(self.config, KINDS[kind]))
        return own + [c["name"] for c in services.shipped(kind) if c["name"] not in own]

    def path(self, kind: str, name: str) -> Path:
        try:
            check_name(name, kind)
        except InputError as e:
            raise ApiError(400, str(e)) from None
        own = getattr(self.config, KINDS[kind])
        if name in own:
            return Path(own[name])
        if name in {c["name"] for c in services.shipped(kind)}:
            return services.resolve_shipped(name, kind)
        known = ", ".join(self.names(kind)) or "none (start the server with --model/--generator)"
        raise ApiError(404, f"unknown {kind} {name!r}; available: {known}")

    def default(self, kind: str, name: str | None) -> str:
        """``name``, or the only/first offered one when it is None or empty."""
        if name:
            return name
        names = self.names(kind)
        if not names:
            raise ApiError(404, f"this server has no {kind}; start it with "
                                f"{'--model' if kind == 'classifier' else '--generator'} NAME=DIR")
        return names[0]

    def get(self, kind: str, name: str | None) -> Any:
        """The loaded model (loaded on first use; concurrent first uses load it once)."""
        name = self.default(kind, name)
        path = self.path(kind, name)
        return self._once((kind, name), lambda: services.load(kind, path))

    def _once(self, key: tuple[str, str], make: Callable[[], Any]) -> Any:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._cache:
                self._cache[key] = make()
                self.loads[key] = self.loads.get(key, 0) + 1
        return self._cache[key]

    def preload(self) -> None:
        """Load every configured model now (a broken one fails the start, not a request)."""
        for kind in KINDS:
            for name in getattr(self.config, KINDS[kind]):
                model = self.get(kind, name)
                if kind == "classifier":
                    services.warm_up(model)

    def real_set_path(self, name: str) -> Path:
        """The manifest or folder of a named real set (400 for a path-like name, 404 unknown)."""
        try:
            check_name(name, "real set")
        except InputError as e:
            raise ApiError(400, str(e)) from None
        if name not in self.config.real_sets:
            known = ", ".join(self.config.real_sets) or "none (start the server with --real-set)"
            raise ApiError(404, f"unknown real set {name!r}; available: {known}")
        return Path(self.config.real_sets[name])

    def real_set(self, name: str) -> Any:
        """A named real set prepared once (its per-image topology reused by every score)."""
        path = self.real_set_path(name)
        return self._once(("real_set", name), lambda: services.prepare_real_set(path, name))

    def catalog(self) -> dict[str, Any]:
        """``GET /api/models``: classifiers, generators and real sets with what a client needs."""
        out: dict[str, Any] = {"classifiers": [], "generators": [], "real_sets": []}
        cards = {k: {c["name"]: c for c in services.shipped(k)} for k in KINDS}
        for kind in KINDS:
            for name in self.names(kind):
                card = {"name": name, "source": "server" if name in getattr(self.config, KINDS[kind])
                        else "shipped", **{k: v for k, v in cards[kind].get(name, {}).items()
                                           if k in ("summary", "data", "licence", "citation", "iterations", "created")}}
                try:
                    m = self.get(kind, name)
                    card.update(services.classifier_card(m) if kind == "classifier" else services.generator_card(m))
                except InputError as e:
                    card["error"] = " ".join(str(e).split())
                out[KINDS[kind]].append(card)
        for name, path in self.config.real_sets.items():
            out["real_sets"].append({"name": name, **services.set_card(path)})
        return jsonable(out)
