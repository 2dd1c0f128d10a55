"""Progress on stderr: tqdm bars on a terminal, else a line every 30 s of a long loop; SHAPEKIT_PROGRESS=0 silences."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], *, desc: str | None = None, total: int | None = None,
             disable: bool | None = None, **kwargs: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar written to stderr.

    ``disable=None`` (default) shows the bar on an interactive stderr; otherwise (a log file, a
    pipe, a notebook's captured stderr) a loop of known length that runs longer than 30 s writes a
    :class:`Reporter` line every 30 s and one at its end (counting in ``unit=``, as the bar does),
    and a shorter one writes nothing. The
    environment variable ``SHAPEKIT_PROGRESS=0`` silences both, ``=1`` forces the bar.
    """
    env = os.environ.get("SHAPEKIT_PROGRESS")
    if env is not None and disable is None:
        disable = env == "0"
    if disable is None and not sys.stderr.isatty():
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        if total is not None:
            return _Lines(iterable, desc or "progress", int(total),  # type: ignore[return-value]
                          unit=str(kwargs.get("unit", "it")))
        disable = True
    return _bar(iterable, desc=desc, total=total, disable=bool(disable), file=sys.stderr,
                dynamic_ncols=True, leave=False, **kwargs)


def _bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm bar whose rate and ETA count from the end of the first unit, as :class:`Reporter`'s
    lines do: tqdm's clock starts when the bar is made, so the first unit's time held the set-up
    (a 3-s start, then 20 it/s, read '3.00s/it' and ETA 1h39m for a 1m40s run, and its smoothed
    rate took ~20 iterations to recover). Until a second unit ends it shows '?it/s' and ETA '?';
    the elapsed time still includes the set-up."""
    # not tqdm.auto: in Jupyter it warns when ipywidgets is missing, and its widget ignores file=
    from tqdm.std import tqdm

    class _Bar(tqdm):  # type: ignore[misc, valid-type]
        _started = False

        def __iter__(self) -> Any:
            if self.disable:
                yield from self.iterable
                return
            try:
                for obj in self.iterable:
                    yield obj
                    self.update(1)
            finally:
                self.close()

        def update(self, n: float | None = 1) -> bool | None:
            if self._started or self.disable:
                return super().update(n)
            self.last_print_t = self._time()   # the set-up is no interval of the smoothed rate
            out = super().update(n)
            if self.n > self.initial:
                self._started = True
                self.last_print_n, self.last_print_t = self.n, self._time()
                self.refresh()
            return out

        @property
        def format_dict(self) -> dict[str, Any]:
            d = super().format_dict
            if self._started and d["rate"] is None and self.smoothing:
                d["initial"] = d["n"]   # no unit timed since the first: rate and ETA unknown
            return d

    return _Bar(*args, **kwargs)


class _Lines:
    """A tqdm stand-in off a terminal: iterates (or counts ``update`` calls) and writes a
    :class:`Reporter` line every 30 s, and one at the end once one was written."""

    def __init__(self, iterable: Iterable[Any], desc: str, total: int, unit: str = "it") -> None:
        self.iterable, self.n = iterable, 0
        self.r = Reporter(total, desc, unit=unit, bar=False, silent=False)

    def __iter__(self) -> Any:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, k: int = 1) -> None:
        self.n += int(k)
        self.r.update(self.n)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to show between lines."""

    def close(self) -> None:
        if self.r._printed >= 0:
            self.r.close()

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Reporter:
    """Progress of a long loop for people: a tqdm bar on a terminal, otherwise a line every
    ``every_s`` seconds (and at the end) with the count, rate, ETA and the latest ``postfix``.

    ``SHAPEKIT_PROGRESS=0`` silences it (unless ``silent=False``), ``=1`` forces the bar. The line goes to ``stream``
    (default stderr), so logs of a background job (``nohup ... 2> log``) show where it is.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> r = Reporter(10, "training", unit="it", every_s=0.0, stream=out, bar=False, silent=False)
    >>> r.update(5, loss=0.25)
    >>> r.close()
    >>> out.getvalue().splitlines()[0].split(" ETA")[0].rsplit(" ", 2)[0]
    'training 5/10 it (50 %)'
    """

    def __init__(self, total: int, desc: str, *, unit: str = "it", initial: int = 0,
                 every_s: float = 30.0, stream: Any = None, bar: bool | None = None,
                 silent: bool | None = None) -> None:
        import time

        self.total, self.desc, self.unit, self.every_s = int(total), desc, unit, float(every_s)
        self.n = self.start_n = int(initial)
        self.stream = stream if stream is not None else sys.stderr
        env = os.environ.get("SHAPEKIT_PROGRESS")
        self.silent = env == "0" if silent is None else bool(silent)
        if bar is None:
            bar = env == "1" or (env is None and self.stream.isatty())
        self._bar = None
        if bar and not self.silent:
            self._bar = _bar(total=self.total, initial=self.n, desc=desc, unit=unit,
                             file=self.stream, dynamic_ncols=True, leave=False)
        self._t0 = self._last = time.perf_counter()
        self._postfix: dict[str, float] = {}
        self._printed = -1
        self._first: tuple[float, int] | None = None

    def update(self, n: int, **postfix: float) -> None:
        """Set the count to ``n`` (absolute) and the latest values to show."""
        import time

        self._postfix = postfix
        if self._first is None:  # the first unit carries the set-up: the rate counts from here
            self._first = (time.perf_counter(), int(n))
        if self._bar is not None:
            self._bar.update(int(n) - self.n)
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
        self.n = int(n)
        now = time.perf_counter()
        if self._bar is None and not self.silent and now - self._last >= self.every_s:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        done, elapsed = self.n - self.start_n, max(now - self._t0, 1e-9)
        rate, speed, note = done / elapsed, "", ""
        if self._first is not None and self.n > self._first[1] and now > self._first[0]:
            # after the first unit: set-up (imports, data, a first sample grid) is not a unit's cost
            rate = (self.n - self._first[1]) / (now - self._first[0])
        elif self._first is not None and self._first[1] > self.start_n and self.n < self.total:
            # only the first update's units: their time holds the set-up (a 45-s first training
            # iteration read '0.0222 it/s ETA 24h59m' for a 4-min run); the rate is unknown yet
            rate, speed = float("nan"), "?"
            note = f" (first {self._first[1] - self.start_n} {self.unit} in {_duration(elapsed)}, set-up included)"
        eta = (self.total - self.n) / rate if rate > 0 else float("nan")
        pct = 100.0 * self.n / max(self.total, 1)
        extra = " ".join(f"{k} {v:.3g}" for k, v in self._postfix.items())
        self._printed = self.n
        self.stream.write(f"{self.desc} {self.n}/{self.total} {self.unit} ({pct:.0f} %) "
                          f"{speed or f'{rate:.3g}'} {self.unit}/s ETA {_duration(eta)}{note}"
                          + (f" | {extra}" if extra else "") + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Close the bar, or write the final line."""
        import time

        if self._bar is not None:
            self._bar.close()
        elif not self.silent and self._printed != self.n:
            self._line(time.perf_counter())


def _duration(seconds: float) -> str:
    if not seconds == seconds or seconds == float("inf"):  # NaN / inf
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
