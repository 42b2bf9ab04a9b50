"""A stop sign's pose in a photo from its red octagon: the 8 vertices, refined by fitting a line to each
edge, and the homography from face coordinates to image pixels (perspective, not an axis-aligned box).

Face coordinates ``uv`` are in [0, 1] over the face's bounding square (x right, y down). Image
coordinates are pixels with pixel centres at integers (OpenCV's convention), so the face square's
corner ``uv = (0, 0)`` of a sign filling a 256-px image face-on sits at (-0.5, -0.5)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from patchsim.realphoto.find_sign import octagon_contour, red_mask
from patchsim.signs.raster import octagon

RED_INSET = 0.025  # the red field's flats lie this far (face fraction) inside the face square (white border)
RED_THRESHOLDS = ((60, 35), (35, 12))  # (saturation, value) minimums of sign red, tried in order
FACE_CORNERS_UV = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


@dataclass(frozen=True)
class OctagonFit:
    """img_from_face ``(3, 3)`` homography (face uv -> image pixels); corners ``(4, 2)`` face-square
    corners TL, TR, BR, BL in pixels; vertices ``(8, 2)`` the red octagon's vertices in pixels, in the
    order of :func:`canonical_vertices`."""

    img_from_face: np.ndarray
    corners: np.ndarray
    vertices: np.ndarray


def canonical_vertices() -> np.ndarray:
    """The red octagon's 8 vertices in face uv ``(8, 2)``, sorted by angle about the face centre
    (image angle, y down, from -180 deg)."""
    v = octagon(inset=RED_INSET)
    return v[np.argsort(np.arctan2(v[:, 1] - 0.5, v[:, 0] - 0.5))]


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points ``(K, 2)`` mapped by a 3x3 homography ``h``."""
    p = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ h.T
    return p[:, :2] / p[:, 2:]


def _eight_vertices(hull: np.ndarray) -> np.ndarray | None:
    """Simplify a convex hull ``(K, 2)`` to exactly 8 vertices (Douglas-Peucker with a growing tolerance)."""
    perim = cv2.arcLength(hull.astype(np.float32), True)
    for frac in np.geomspace(0.002, 0.08, 40):
        approx = cv2.approxPolyDP(hull.astype(np.float32), frac * perim, True).reshape(-1, 2)
        if len(approx) == 8:
            return approx.astype(np.float64)
        if len(approx) < 8:
            return None
    return None


def _order_like_canonical(v: np.ndarray) -> np.ndarray:
    """Vertices ``(8, 2)`` reordered so that vertex i lies in the direction of canonical vertex i from
    the centroid (the cyclic shift with the smallest total angle error)."""
    c = v.mean(0)
    v = v[np.argsort(np.arctan2(v[:, 1] - c[1], v[:, 0] - c[0]))]
    want = canonical_vertices() - 0.5
    a_want = np.arctan2(want[:, 1], want[:, 0])
    a_have = np.arctan2(v[:, 1] - c[1], v[:, 0] - c[0])
    err = [np.abs(np.angle(np.exp(1j * (np.roll(a_have, -s) - a_want)))).sum() for s in range(8)]
    return np.roll(v, -int(np.argmin(err)), axis=0)


def _refine(v: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """Refine 8 ordered vertices by fitting a line to the contour points along each edge (the middle 70%
    of it), moving each line half a pixel outward (contour points are centres of the last red pixels,
    the edge lies half a pixel beyond) and intersecting neighbouring lines."""
    centre = v.mean(0)
    lines = []
    for i in range(8):
        a, b = v[i], v[(i + 1) % 8]
        d = b - a
        length = np.linalg.norm(d)
        if length < 4:
            return v
        d = d / length
        rel = contour - a
        t = rel @ d
        dist = np.abs(rel @ np.array([-d[1], d[0]]))
        sel = contour[(t > 0.15 * length) & (t < 0.85 * length) & (dist < max(1.5, 0.03 * length))]
        if len(sel) < 3:
            return v
        vx, vy, x0, y0 = cv2.fitLine(sel.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        n = np.array([-vy, vx], np.float64)
        p = np.array([x0, y0], np.float64)
        if (p - centre) @ n < 0:
            n = -n
        lines.append((p + 0.5 * n, np.array([vx, vy], np.float64)))
    out = []
    for i in range(8):
        (p1, d1), (p2, d2) = lines[(i - 1) % 8], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return v
        s = np.linalg.solve(m, p2 - p1)
        out.append(p1 + s[0] * d1)
    out = np.array(out)
    return out if np.abs(out - v).max() < 0.1 * np.linalg.norm(v.max(0) - v.min(0)) else v


def fit_stop_octagon(photo: np.ndarray, roi: tuple[int, int, int, int] | None = None,
                     min_area_frac: float = 0.005) -> OctagonFit | None:
    """Fit the red octagon of a stop sign in ``photo`` ``(H, W, 3)`` uint8 RGB, inside ``roi`` (x0, y0,
    x1, y1 pixels; default the whole photo). ``min_area_frac``: the smallest octagon, as a fraction of
    the roi's area. Returns the homography from face uv to image pixels, or None when no octagon with
    8 clear vertices is found."""
    x0, y0, x1, y1 = roi if roi is not None else (0, 0, photo.shape[1], photo.shape[0])
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(photo.shape[1], int(x1)), min(photo.shape[0], int(y1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    region = np.ascontiguousarray(photo[y0:y1, x0:x1])
    for s_min, v_min in RED_THRESHOLDS:  # strict first; dim or washed-out signs need the looser one
        mask = red_mask(region, s_min, v_min)
        contour = octagon_contour(mask, min_area_frac * mask.size, aspect=(0.5, 2.0))
        v = _eight_vertices(cv2.convexHull(contour).reshape(-1, 2)) if contour is not None else None
        if v is not None:
            break
    if v is None:
        return None
    v = _refine(_order_like_canonical(v), contour.astype(np.float64)) + [x0, y0]
    h, _ = cv2.findHomography(canonical_vertices(), v, 0)
    if h is None or not np.isfinite(h).all():
        return None
    # reject fits that are not a plausible view of an octagon (large residual on the vertices)
    if np.abs(apply_homography(h, canonical_vertices()) - v).max() > 0.05 * np.ptp(v, 0).max() + 1.0:
        return None
    return OctagonFit(h, apply_homography(h, FACE_CORNERS_UV), v)


def homography_from_corners(corners: np.ndarray) -> np.ndarray:
    """img_from_face ``(3, 3)`` for face-square corners ``(4, 2)`` (TL, TR, BR, BL pixels)."""
    return cv2.getPerspectiveTransform(FACE_CORNERS_UV.astype(np.float32), np.asarray(corners, np.float32)).astype(np.float64)
