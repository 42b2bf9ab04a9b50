"""Ctrl-C during a long run: the first one asks the run to stop at its next safe point (after the
current optimiser step), where it saves a checkpoint and says how to continue; a second one stops at
once."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class StopRequest:
    """Set by the first Ctrl-C inside :func:`stop_on_interrupt`; the run polls ``requested``."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def stop_on_interrupt() -> Iterator[StopRequest]:
    """While the block runs (in the main thread), SIGINT sets ``requested`` instead of raising; the
    previous handler is restored afterwards. Elsewhere (worker threads) Ctrl-C behaves as usual."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if stop.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
