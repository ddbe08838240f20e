"""Stopping a search at a safe point. Inside `safe_points()`, Ctrl-C (SIGINT) or SIGTERM only asks
for a stop: the search raises it at the next `check()` (between candidates, after an outcome is
recorded), never in the middle of a write to the study or the MLflow store. Code that only waits
or computes (a training in the driver, a wait on Ray, a latency measurement) runs inside
`interruptible()`, where the signal raises at once; a second signal always raises at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from nas.errors import Stopped

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: int | None = None  # the signal of the stop asked for inside safe_points()
_raised = False  # whether check() has raised it
_last: int | None = None  # the last stop signal received (Ray may raise a plain KeyboardInterrupt)
_interruptible = 0  # > 0 while the search only waits or computes
_deferring = False


def handle(signum: int, frame: object) -> None:
    """The SIGINT/SIGTERM handler: a stop at once, or at the next check() inside safe_points()."""
    global _requested, _raised, _last
    _last = signum
    if _requested is not None or _interruptible > 0 or not _deferring:
        _requested, _raised = signum, True  # a later signal raises at once too
        raise Stopped(signum)
    _requested = signum
    name = signal.Signals(signum).name
    os.write(  # not print(): a handler may run in the middle of another write to stderr
        2,
        f"{name} received: stopping once the current step is recorded (send it again to stop "
        "at once).\n".encode(),
    )


def check() -> None:
    """Raise the stop asked for since the last check, if any."""
    global _raised
    if _requested is not None and not _raised:
        _raised = True
        raise Stopped(_requested)


def last_signal() -> int | None:
    """The signal of the last stop this process received, if any."""
    return _last


@contextmanager
def interruptible() -> Iterator[None]:
    """A stretch that only waits or computes: a stop raises at once inside it."""
    global _interruptible
    check()
    _interruptible += 1
    try:
        yield
    finally:
        _interruptible -= 1


@contextmanager
def safe_points() -> Iterator[None]:
    """SIGINT and SIGTERM ask for a stop that `check()` raises (in the main thread; elsewhere,
    and where SIGINT is ignored, the handlers are left as they are)."""
    global _deferring, _requested, _raised
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        if previous[s] is not signal.SIG_IGN:
            signal.signal(s, handle)
    _deferring, _requested, _raised = True, None, False
    try:
        yield
    finally:
        if _requested is not None and not _raised:
            os.write(2, b"the stop came as the search was ending: it finished.\n")
        _deferring, _requested, _raised = False, None, False
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
