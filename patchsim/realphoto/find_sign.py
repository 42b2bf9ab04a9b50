"""Finding the sign in a real photo or video frame: ArUco markers on the print, a red-octagon contour
detector for stop signs, or corners the user gives. Corners are the face's bounding square (TL, TR, BR,
BL) in pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from patchsim.checks import shorten
from patchsim.errors import PatchsimError
from patchsim.printing.chart import detect_markers
from patchsim.realphoto.locator import INNER_CORNER, SIGN_MARKER_IDS
from patchsim.io.text import read_user_json


def corners_from_markers(photo: np.ndarray) -> np.ndarray | None:
    """Face-square corners ``(4, 2)`` (TL, TR, BR, BL, pixels) from the sign-locator markers 10-13 (see
    :mod:`patchsim.realphoto.locator`): each marker's inner corner touches the face square's corner. None
    unless all four are seen."""
    found = detect_markers(photo)
    if not all(i in found for i in SIGN_MARKER_IDS):
        return None
    return np.stack([found[i][INNER_CORNER[i]] for i in SIGN_MARKER_IDS])


def red_mask(photo: np.ndarray, s_min: int = 60, v_min: int = 35) -> np.ndarray:
    """Pixels of sign red (two hue bands around 0 deg, saturation >= ``s_min``, value >= ``v_min``, both
    of 255): uint8 0/255."""
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    m = (((h <= 10) | (h >= 160)) & (s >= s_min) & (v >= v_min)).astype(np.uint8) * 255
    k = max(3, int(round(min(photo.shape[:2]) / 100)) | 1)
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


def octagon_contour(mask: np.ndarray, min_area: float, aspect: tuple[float, float] = (0.6, 1.6)) -> np.ndarray | None:
    """The largest external contour ``(K, 2)`` (every boundary pixel) of a uint8 ``mask`` whose convex
    hull covers at least ``min_area`` pixels, has a width/height ratio within ``aspect``, fills 65-95% of
    its box (an octagon fills 83%) and is solid (region >= half its hull); None when there is none."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    best, best_area = None, 0.0
    for c in contours:
        hull = cv2.convexHull(c)
        area = cv2.contourArea(hull)
        if area < min_area:
            continue
        x, y, w, h = cv2.boundingRect(hull)
        fill, solidity = area / (w * h), cv2.contourArea(c) / max(area, 1e-9)
        if aspect[0] <= w / h <= aspect[1] and 0.65 <= fill <= 0.95 and solidity >= 0.5 and area > best_area:
            best, best_area = c.reshape(-1, 2), area
    return best


def find_stop_sign(photo: np.ndarray, min_area: float = 0.005) -> np.ndarray | None:
    """Corners ``(4, 2)`` of the bounding square of the largest red octagon-like region (convex hull of
    a red contour that is solid, roughly square and fills its box like an octagon), or None."""
    c = octagon_contour(red_mask(photo), min_area * photo.shape[0] * photo.shape[1])
    if c is None:
        return None
    x, y, w, h = cv2.boundingRect(cv2.convexHull(c))
    side = max(w, h)  # a sign seen at an angle is narrower than tall: keep the square of its height
    cx, cy = x + w / 2 - 0.5, y + h / 2 - 0.5
    s = side / 2
    return np.array([[cx - s, cy - s], [cx + s, cy - s], [cx + s, cy + s], [cx - s, cy + s]])


def load_corners(path: str | Path) -> dict[str, np.ndarray] | np.ndarray:
    """A corners file: JSON, either one list of 4 [x, y] points for every frame, or {frame name or index:
    4 points}."""
    d = read_user_json(path, "corners file")

    def pts(v, where):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            a = np.zeros(0)
        if a.shape != (4, 2) or not np.isfinite(a).all():
            raise PatchsimError(f"corners file {path}: {where} must be 4 [x, y] points (TL, TR, BR, BL), "
                                f"got {shorten(v)}")
        if abs(cv2.contourArea(a.astype(np.float32))) < 16:
            raise PatchsimError(f"corners file {path}: {where} encloses no area ({shorten(v)}): the 4 points must "
                                "span the sign")
        return a

    if isinstance(d, list):
        return pts(d, "the list")
    if isinstance(d, dict):
        return {str(k): pts(v, f"entry {k!r}") for k, v in d.items()}
    raise PatchsimError(f"corners file {path}: expected a list or a mapping")


def locate(photo: np.ndarray, sign: str, name: str, corners=None) -> tuple[np.ndarray | None, str]:
    """(corners, method) for one frame: user corners if given for it, else markers, else the octagon
    detector (stop signs). (None, "not found") when nothing works."""
    if corners is not None:
        c = corners.get(name) if isinstance(corners, dict) else corners
        if c is not None:
            h, w = photo.shape[:2]
            lo, hi = c.min(0), c.max(0)
            if hi[0] < 0 or hi[1] < 0 or lo[0] > w or lo[1] > h or max(hi - lo) > 4 * max(h, w):
                raise PatchsimError(f"--corners for frame {name}: the sign's box {lo.round(1).tolist()} - "
                                    f"{hi.round(1).tolist()} does not fit the {w} x {h} photo (it must overlap it "
                                    "and be at most 4 times its size)")
            return c, "corners"
    c = corners_from_markers(photo)
    if c is not None:
        return c, "markers"
    if sign == "stop":
        c = find_stop_sign(photo)
        if c is not None:
            return c, "octagon"
    return None, "not found"
