"""Input checks that raise clear errors (never ``assert``)."""

from __future__ import annotations

import math
import os
import reprlib
from typing import Sequence

import torch

from patchsim.errors import PatchsimError, ShapeError


def check_shape(x: torch.Tensor, dims: Sequence[str | int], name: str = "tensor") -> dict[str, int]:
    """Check that ``x`` is a tensor with the given dimensions.

    Args:
        x: tensor to check.
        dims: one entry per dimension: an int or a digit string ("3") fixes the size; any other
            string is a symbol ("B", "H") that binds to the first size seen and must then agree.
        name: what to call ``x`` in the error message.

    Returns:
        mapping symbol -> bound size.

    Raises:
        ShapeError: naming ``x``, the expected and the actual shape.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name}: expected a torch.Tensor of shape {list(dims)}, got {type(x).__name__}")
    want = "(" + ", ".join(str(d) for d in dims) + ")"
    if x.dim() != len(dims):
        raise ShapeError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    bound: dict[str, int] = {}
    for d, n in zip(dims, x.shape):
        if isinstance(d, int) or (isinstance(d, str) and d.isdigit()):
            if int(d) != n:
                raise ShapeError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
        elif d in bound and bound[d] != n:
            raise ShapeError(f"{name}: expected shape {want} with equal '{d}' sizes, got {tuple(x.shape)}")
        else:
            bound[d] = n
    return bound


def check_finite(x: torch.Tensor, name: str = "tensor") -> None:
    """Raise ShapeError if ``x`` holds NaN or infinite values."""
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ShapeError(f"{name}: contains {bad} NaN or infinite value(s)")


def check_image(x: torch.Tensor, name: str = "image", channels: int = 3) -> dict[str, int]:
    """Check a float image batch ``(B, C, H, W)`` with values finite and in [0, 1]."""
    sizes = check_shape(x, ["B", channels, "H", "W"], name)
    if not x.is_floating_point():
        raise ShapeError(f"{name}: expected a floating point tensor, got {x.dtype}")
    check_finite(x, name)
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ShapeError(f"{name}: values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return sizes


def shorten(value, limit: int = 80) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (errors quote values, never a whole file)."""
    rp = reprlib.Repr()
    rp.maxstring, rp.maxother, rp.maxlist, rp.maxdict, rp.maxlevel = limit, limit, 8, 8, 3
    r = rp.repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def check_number(what: str | None, value, lo: float, hi: float, integer: bool = False) -> float | int:
    """``value`` as a finite number (an integer when ``integer``) in ``[lo, hi]``; otherwise a one-line
    PatchsimError naming ``what`` (an option or field), the value and what is allowed. Strings are parsed
    (command-line values)."""

    kind = "an integer" if integer else "a finite number"
    v = value
    if isinstance(v, str):
        try:
            v = int(v) if integer else float(v)
        except ValueError:
            v = None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok and integer:
        ok = float(v).is_integer()
        v = int(v) if ok else v
    if not ok or not lo <= v <= hi:
        said = f"{what} = {shorten(value)}" if what else shorten(value)
        raise PatchsimError(f"{said} is invalid: must be {kind} in [{lo:g}, {hi:g}]")
    return v


def env_limit(var: str, default: int) -> int:
    """A resource cap (a positive integer) read from the environment variable ``var``, ``default`` when
    unset; an unusable value is a one-line error naming the variable."""
    raw = os.environ.get(var, str(default))
    try:
        n = int(raw)
    except ValueError:
        raise PatchsimError(f"{var} = {raw!r} is invalid: must be a positive integer") from None
    if n < 1:
        raise PatchsimError(f"{var} = {raw!r} is invalid: must be a positive integer")
    return n


def missing_file(path, what: str, allowed: str = "") -> PatchsimError:
    """The one-line error for a ``path`` that is not a usable file: ``WHAT not found: PATH`` when
    nothing is there, ``WHAT PATH is a folder`` or ``... is not a regular file (a FIFO, a device or a
    socket)`` when something else is (reading a FIFO would block for ever). ``allowed``: what may be given, appended in
    parentheses. Returned for the caller to raise."""
    from pathlib import Path

    p = Path(path)
    tail = f" ({allowed})" if allowed else ""
    if p.is_dir():
        return PatchsimError(f"{what} {p} is a folder; give a file{tail}")
    if p.exists():
        return PatchsimError(f"{what} {p} is not a regular file (a FIFO, a device or a socket){tail}")
    return PatchsimError(f"{what} not found: {p}{tail}")
