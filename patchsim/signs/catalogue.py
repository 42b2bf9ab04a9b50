"""Canonical sign faces, drawn procedurally at any resolution.

Each sign's face image covers its bounding square: ``size_m`` metres across, the sign's outer edge
touching the square's sides. Faces are float32 ``(4, N, N)`` RGBA in [0, 1], sRGB colour, alpha = the
anti-aliased shape mask. GTSRB class ids index ``gtsrb/classes.txt``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from patchsim.errors import PatchsimError
from patchsim.io.images import to_tensor
from patchsim.signs.legend import stop_legend
from patchsim.signs.raster import Canvas, octagon, regular_polygon

RED = (186, 22, 36)
WHITE = (244, 244, 240)
BLACK = (22, 22, 22)
YELLOW = (250, 190, 0)


@dataclass(frozen=True)
class SignSpec:
    """A catalogue entry: name, GTSRB class id (None: not a GTSRB class), bounding-square side in metres,
    drawing function."""

    name: str
    gtsrb_id: int | None
    size_m: float
    draw: Callable[[Canvas], None]
    description: str = ""


def _stop(c: Canvas) -> None:
    c.polygon(octagon(), WHITE, alpha=True)
    c.polygon(octagon(inset=0.025), RED)
    stop_legend(c, WHITE)


def _yield(c: Canvas) -> None:
    # equilateral triangle pointing down, centred in the square
    h = np.sqrt(3) / 2
    top = 0.5 - h / 2
    outer = np.array([[0.0, top], [1.0, top], [0.5, top + h]])
    c.polygon(outer, RED, alpha=True)
    centroid = outer.mean(0)
    c.polygon(centroid + (outer - centroid) * 0.62, WHITE)


def _no_entry(c: Canvas) -> None:
    c.circle((0.5, 0.5), 0.5, WHITE, alpha=True)
    c.circle((0.5, 0.5), 0.485, RED)
    c.polygon([[0.12, 0.42], [0.88, 0.42], [0.88, 0.58], [0.12, 0.58]], WHITE)


def _priority(c: Canvas) -> None:
    c.polygon(regular_polygon(4, 90, 0.5), BLACK, alpha=True)
    c.polygon(regular_polygon(4, 90, 0.49), WHITE)
    c.polygon(regular_polygon(4, 90, 0.30), YELLOW)


def _board(c: Canvas) -> None:
    c.polygon([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], (150, 150, 150), alpha=True)
    c.polygon([[0.02, 0.02], [0.98, 0.02], [0.98, 0.98], [0.02, 0.98]], WHITE)


def _speed(limit: int) -> Callable[[Canvas], None]:
    def draw(c: Canvas) -> None:
        c.circle((0.5, 0.5), 0.5, RED, alpha=True)
        c.circle((0.5, 0.5), 0.40, WHITE)
        c.text(str(limit), (0.5, 0.5), 0.36, BLACK, max_width=0.62, weight=0.16)

    return draw


SIGNS: dict[str, SignSpec] = {
    s.name: s
    for s in [
        SignSpec("stop", 14, 0.75, _stop, "US stop sign, 750 mm (30 in) across flats"),
        SignSpec("yield", 13, 0.90, _yield, "Yield (give way), inverted triangle, 900 mm side"),
        SignSpec("no_entry", 17, 0.60, _no_entry, "No entry, 600 mm disc"),
        SignSpec("priority_road", 12, 0.60, _priority, "Priority road, 600 mm diamond"),
        SignSpec("speed_limit_30", 1, 0.60, _speed(30), "Speed limit 30, 600 mm disc"),
        SignSpec("speed_limit_50", 2, 0.60, _speed(50), "Speed limit 50, 600 mm disc"),
        SignSpec("speed_limit_80", 5, 0.60, _speed(80), "Speed limit 80, 600 mm disc"),
        SignSpec("plain_board", None, 0.75, _board, "A plain white board, 750 mm square (for patches that make a "
                 "detector see a sign where there is none)"),
    ]
}


def get_sign(name: str) -> SignSpec:
    """Look up a catalogue sign by name; unknown names raise PatchsimError listing the valid ones."""
    if name not in SIGNS:
        raise PatchsimError(f"unknown sign {name!r}; known signs: {', '.join(sorted(SIGNS))}")
    return SIGNS[name]


def draw_face_array(name: str, resolution: int) -> np.ndarray:
    """The anti-aliased face of sign ``name`` as uint8 RGBA ``(resolution, resolution, 4)`` (a fresh
    copy; drawings up to 2048 px are kept, so repeated requests cost a copy, not a drawing)."""
    if not isinstance(resolution, int) or not 8 <= resolution <= 16384:
        raise PatchsimError(f"face resolution must be an integer in [8, 16384], got {resolution!r}")
    if resolution <= 2048:
        return _drawn(name, resolution).copy()
    c = Canvas(resolution)
    get_sign(name).draw(c)
    return c.result()


@lru_cache(maxsize=16)
def _drawn(name: str, resolution: int) -> np.ndarray:
    c = Canvas(resolution)
    get_sign(name).draw(c)
    out = c.result()
    out.setflags(write=False)
    return out


def draw_face(name: str, resolution: int = 256) -> torch.Tensor:
    """The canonical face of sign ``name``: float32 RGBA ``(4, resolution, resolution)`` in [0, 1]."""
    return to_tensor(draw_face_array(name, resolution))


def shape_mask(name: str, resolution: int = 256) -> torch.Tensor:
    """The sign's anti-aliased silhouette in its bounding square: float32 ``(1, N, N)`` in [0, 1]."""
    return draw_face(name, resolution)[3:4]
