"""Sign-locator markers: four ArUco markers (4x4_50, ids 10-13) stuck around a real sign so that
``patchsim score`` finds the face's bounding square exactly, with perspective, in every photo.

Each marker sits diagonally outside one corner of the face's bounding square, its inner corner touching
that corner: marker 10 at the top-left (its bottom-right corner on the square's top-left corner), 11
top-right (bottom-left corner), 12 bottom-right (top-left corner), 13 bottom-left (top-right corner).
On an octagon or a disc the square's corners lie off the sign, so the markers go on the board or wall
behind it. Coordinates: millimetres from the face square's top-left corner, x right, y down."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from patchsim.printing.chart import draw_marker

SIGN_MARKER_IDS = (10, 11, 12, 13)  # at the face square's TL, TR, BR, BL corners
CORNER_NAMES = ("top-left", "top-right", "bottom-right", "bottom-left")
INNER_CORNER = {10: 2, 11: 3, 12: 0, 13: 1}  # index of the touching corner in OpenCV's TL, TR, BR, BL order


LOCATOR_NOTE = ("Cut out each marker along its grey line. Stick marker 10 up-left of the sign, 11 up-right, 12 "
                "down-right, 13 down-left, each with its corner nearest the sign touching that corner of the sign's "
                "bounding square (on the board behind the sign), edges parallel to the square's sides. Keep the white "
                "borders visible.")


@dataclass(frozen=True)
class LocatorLayout:
    """The printed locator sheet: four markers ``marker_mm`` across, each in a white quiet zone
    ``quiet_mm`` wide (needed for detection), in a 2 x 2 grid with ``gap_mm`` between tiles and a
    ``label_mm`` strip under each for its label."""

    marker_mm: float = 70.0
    quiet_mm: float = 8.0
    gap_mm: float = 6.0
    label_mm: float = 10.0

    @property
    def tile_mm(self) -> float:
        return self.marker_mm + 2 * self.quiet_mm

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) of the sheet in millimetres."""
        return 2 * self.tile_mm + self.gap_mm, 2 * (self.tile_mm + self.label_mm) + self.gap_mm


def marker_squares_mm(side_mm: float, marker_mm: float) -> dict[int, np.ndarray]:
    """Where each marker goes: its 4 corners (OpenCV order TL, TR, BR, BL) ``(4, 2)`` in face-square
    millimetres, for a face square ``side_mm`` across."""
    m, s = marker_mm, side_mm
    origins = {10: (-m, -m), 11: (s, -m), 12: (s, s), 13: (-m, s)}
    return {i: np.array([[x, y], [x + m, y], [x + m, y + m], [x, y + m]], np.float64) for i, (x, y) in origins.items()}


def draw_locator_sheet(px_per_mm: float = 10.0, layout: LocatorLayout = LocatorLayout()) -> np.ndarray:
    """The locator sheet as uint8 RGB ``(H, W, 3)`` at ``px_per_mm``: four markers with quiet zones,
    thin grey cut lines and a label under each: its id and the face-square corner it goes at (its
    corner nearest the sign touches that corner; see :data:`LOCATOR_NOTE`)."""
    w_mm, h_mm = layout.size_mm
    img = np.full((int(round(h_mm * px_per_mm)), int(round(w_mm * px_per_mm)), 3), 255, np.uint8)
    for k, (mid, name) in enumerate(zip(SIGN_MARKER_IDS, CORNER_NAMES)):
        tx = (k % 2) * (layout.tile_mm + layout.gap_mm)
        ty = (k // 2) * (layout.tile_mm + layout.label_mm + layout.gap_mm)
        draw_marker(img, mid, tx + layout.quiet_mm, ty + layout.quiet_mm, layout.marker_mm, px_per_mm)
        p0 = (int(round(tx * px_per_mm)), int(round(ty * px_per_mm)))
        p1 = (int(round((tx + layout.tile_mm) * px_per_mm)) - 1, int(round((ty + layout.tile_mm) * px_per_mm)) - 1)
        cv2.rectangle(img, p0, p1, (160, 160, 160), max(1, int(round(0.2 * px_per_mm))))
        scale = 0.15 * px_per_mm  # Hershey cap height ~22 px at scale 1: about 3.3 mm
        cv2.putText(img, f"{mid}: {name}", (p0[0], int(round((ty + layout.tile_mm + 0.7 * layout.label_mm) * px_per_mm))),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(1, int(round(scale * 1.5))), cv2.LINE_AA)
    return img
