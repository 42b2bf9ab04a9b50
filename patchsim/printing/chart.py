"""Colour calibration chart: patches spanning the printable gamut framed by four ArUco markers, its
drawing at any resolution, and its detection and reading in a photograph.

Chart coordinates are millimetres from the chart's top-left corner, x right, y down."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from patchsim.errors import PatchsimError

ARUCO_DICT = cv2.aruco.DICT_4X4_50
CHART_IDS = (0, 1, 2, 3)  # markers at the chart's TL, TR, BR, BL corners


@dataclass(frozen=True)
class ChartLayout:
    """Geometry of the chart in millimetres."""

    width_mm: float = 190.0
    height_mm: float = 170.0
    marker_mm: float = 20.0
    quiet_mm: float = 5.0  # white margin around the markers, needed to detect them
    cols: int = 8
    rows: int = 6
    patch_mm: float = 16.0
    gap_mm: float = 2.0
    left_mm: float = 23.0
    top_mm: float = 31.0

    def marker_corners_mm(self) -> dict[int, np.ndarray]:
        """Each marker's 4 corners (TL, TR, BR, BL, as OpenCV reports them) in chart mm."""
        m, q = self.marker_mm, self.quiet_mm
        origins = {0: (q, q), 1: (self.width_mm - m - q, q), 2: (self.width_mm - m - q, self.height_mm - m - q),
                   3: (q, self.height_mm - m - q)}
        return {i: np.array([[x, y], [x + m, y], [x + m, y + m], [x, y + m]]) for i, (x, y) in origins.items()}

    def patch_boxes_mm(self) -> list[tuple[float, float, float, float]]:
        """(x, y, w, h) of every patch, row by row."""
        step = self.patch_mm + self.gap_mm
        return [(self.left_mm + c * step, self.top_mm + r * step, self.patch_mm, self.patch_mm)
                for r in range(self.rows) for c in range(self.cols)]


def chart_colours(layout: ChartLayout = ChartLayout()) -> np.ndarray:
    """The intended sRGB colours ``(rows * cols, 3)`` in [0, 1]: a grey ramp, then colours spread over the
    printable cube."""
    n = layout.rows * layout.cols
    greys = np.linspace(0.04, 0.96, 8)[:, None].repeat(3, 1)
    levels = [0.08, 0.35, 0.65, 0.92]
    cube = np.array([c for c in itertools.product(levels, repeat=3) if len(set(c)) > 1])
    pick = cube[np.linspace(0, len(cube) - 1, n - len(greys)).round().astype(int)]
    return np.concatenate([greys, pick])[:n]


def draw_marker(img: np.ndarray, marker_id: int, x_mm: float, y_mm: float, side_mm: float, px_per_mm: float) -> None:
    """Paint ArUco marker ``marker_id`` (4x4_50, black on white) into uint8 ``img`` ``(H, W, 3)`` with
    its top-left corner at (``x_mm``, ``y_mm``) and ``side_mm`` across, at ``px_per_mm``."""
    side = int(round(side_mm * px_per_mm))
    x, y = int(round(x_mm * px_per_mm)), int(round(y_mm * px_per_mm))
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(ARUCO_DICT), marker_id, side)
    img[y:y + side, x:x + side] = marker[..., None]


def draw_chart(px_per_mm: float = 10.0, layout: ChartLayout = ChartLayout(), colours: np.ndarray | None = None) -> np.ndarray:
    """The chart as uint8 RGB ``(H, W, 3)`` at ``px_per_mm`` (white paper, black markers)."""
    colours = chart_colours(layout) if colours is None else colours
    w, h = int(round(layout.width_mm * px_per_mm)), int(round(layout.height_mm * px_per_mm))
    img = np.full((h, w, 3), 255, np.uint8)
    for i, corners in layout.marker_corners_mm().items():
        draw_marker(img, CHART_IDS[i], corners[0][0], corners[0][1], layout.marker_mm, px_per_mm)
    for (x, y, pw, ph), c in zip(layout.patch_boxes_mm(), colours):
        x0, y0 = int(round(x * px_per_mm)), int(round(y * px_per_mm))
        x1, y1 = int(round((x + pw) * px_per_mm)), int(round((y + ph) * px_per_mm))
        img[y0:y1, x0:x1] = np.round(np.asarray(c) * 255).astype(np.uint8)
    return img


def detect_markers(photo: np.ndarray) -> dict[int, np.ndarray]:
    """ArUco markers (4x4_50) in an RGB photo: {id: corners (4, 2) px, sub-pixel, pixel centres at
    integer coordinates}."""
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY) if photo.ndim == 3 else photo
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX  # sub-pixel corners, not pixel-snapped
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(ARUCO_DICT), params)
    corners, ids, _ = det.detectMarkers(gray)
    if ids is None:
        return {}
    return {int(i): c.reshape(4, 2).astype(np.float64) for i, c in zip(ids.ravel(), corners)}


def chart_homography(photo: np.ndarray, layout: ChartLayout = ChartLayout()) -> np.ndarray:
    """Homography ``(3, 3)`` from chart millimetres to photo pixels, from at least 3 of the 4 markers.

    Raises PatchsimError naming the markers found when the chart cannot be located."""
    found = detect_markers(photo)
    ref = layout.marker_corners_mm()
    use = [i for i in CHART_IDS if i in found]
    if len(use) < 3:
        raise PatchsimError(f"calibration chart not found: need 3 of its ArUco markers {list(CHART_IDS)}, "
                            f"found {sorted(found)}")
    src = np.concatenate([ref[i] for i in use])
    dst = np.concatenate([found[i] for i in use])
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None:
        raise PatchsimError("calibration chart: marker geometry is degenerate")
    return h


def read_patches(photo: np.ndarray, h_img_from_mm: np.ndarray, layout: ChartLayout = ChartLayout(),
                 inner: float = 0.5, samples: int = 9) -> np.ndarray:
    """Mean sRGB colour ``(N, 3)`` in [0, 1] of every patch: the central ``inner`` fraction of each patch,
    sampled on a ``samples`` x ``samples`` grid mapped through the homography (bilinear)."""
    pts = []
    t = (np.arange(samples) + 0.5) / samples
    for x, y, w, hh in layout.patch_boxes_mm():
        gx = x + w * (0.5 - inner / 2 + inner * t)
        gy = y + hh * (0.5 - inner / 2 + inner * t)
        pts.append(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2))
    pts = np.stack(pts)  # (N, S, 2)
    img_pts = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h_img_from_mm).reshape(pts.shape)
    mx = img_pts[..., 0].astype(np.float32)
    my = img_pts[..., 1].astype(np.float32)
    vals = cv2.remap(photo.astype(np.float32) / 255, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=(np.nan, np.nan, np.nan))
    if np.isnan(vals).any():
        raise PatchsimError("calibration chart: some patches lie outside the photo")
    return vals.mean(1)
