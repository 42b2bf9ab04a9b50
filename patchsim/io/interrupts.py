"""Ctrl-C (SIGINT) or SIGTERM during a long run: the first one asks the run to stop at its next safe
point (after the current optimiser step), where it saves a checkpoint and says how to continue; a second
one stops at once. Checkpoints are written atomically and read back safely here."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

import torch
from patchsim.errors import PatchsimError, Terminated
from patchsim.io.images import atomic_write_bytes


_LAST_SIGNAL: list[int] = []  # the signal that asked the latest run to stop (SIGINT or SIGTERM)


def last_stop_signal() -> int | None:
    """The signal that asked the latest run to stop at a safe point, or None."""
    return _LAST_SIGNAL[-1] if _LAST_SIGNAL else None


class StopRequest:
    """Set by the first Ctrl-C or SIGTERM inside :func:`stop_on_interrupt`; the run polls ``requested``."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def stop_on_interrupt() -> Iterator[StopRequest]:
    """While the block runs (in the main thread), SIGINT and SIGTERM set ``requested`` instead of
    raising; the previous handlers are restored afterwards. Elsewhere (worker threads) they behave as
    usual."""
    stop = StopRequest()
    _LAST_SIGNAL.clear()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if stop.requested:  # the second one: stop now
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated()
        stop.requested = True
        _LAST_SIGNAL[:] = [signum]

    for s in previous:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def write_checkpoint(path, state: dict) -> None:
    """Write a checkpoint (a dict of tensors and plain data) atomically: a run stopped while it is
    written keeps the previous one."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path) -> dict:
    """Load a checkpoint safely (``weights_only=True``, onto the CPU); an unreadable one is a one-line
    PatchsimError."""

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise PatchsimError(f"cannot read checkpoint {path} safely: {e}") from e
    if not isinstance(state, dict):
        raise PatchsimError(f"checkpoint {path} is not a patchsim checkpoint")
    return state


def resume_training(path, run: dict, model, optimizer, scheduler) -> dict:
    """Continue a training run from its checkpoint ``path``: checks that it exists and was written by the
    same ``run`` (a dict naming the model, seed and settings), loads the model's, optimiser's and
    scheduler's states and returns the whole checkpoint for the caller's own fields. One-line
    PatchsimErrors otherwise."""
    from pathlib import Path

    if not Path(path).is_file():
        raise PatchsimError(f"--resume: no checkpoint at {path}")
    state = read_checkpoint(path)
    if state.get("run") != run:
        raise PatchsimError(f"checkpoint {path} was made by another training run ({state.get('run')}); this one is {run}")
    model.load_state_dict(state["model"])  # (loaded onto the CPU, copied to the model's device)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state
