"""The detector's square box around a sign and the crop it hands the classifier, defined once for the
renderer, the independent simulator and the photo scorer.

Boxes are (left, top, side) in pixels with pixel centres at integers; crops are ``(S, S, C)`` of the
image's dtype."""

from __future__ import annotations

import cv2
import numpy as np


def square_box(corners: np.ndarray, margin: float, jitter_x: float = 0.0, jitter_y: float = 0.0,
               jitter_scale: float = 0.0) -> tuple[float, float, float]:
    """The detector's square box (left, top, side) in pixels around corners ``(K, 2)``: the larger side
    of their bounding box grown by ``margin`` per side and ``jitter_scale``, its centre moved by
    ``jitter_x`` / ``jitter_y`` times the bounding box's width / height."""
    lo, hi = corners.min(0), corners.max(0)
    wh = hi - lo
    side = wh.max() * (1 + 2 * margin) * (1 + jitter_scale)
    cx = (lo[0] + hi[0]) / 2 + jitter_x * wh[0]
    cy = (lo[1] + hi[1]) / 2 + jitter_y * wh[1]
    return float(cx - side / 2), float(cy - side / 2), float(side)


def detector_crop(image: np.ndarray, box: tuple[float, float, float], size: int) -> np.ndarray:
    """Cut the square ``box`` (left, top, side; frame pixel coordinates, centres at integers) out of
    ``image`` and resize it to ``size`` x ``size``: bilinear resampling onto a grid ``k`` times finer
    than the output (``k`` = frame pixels per output pixel, rounded up), then k x k area averaging.
    Edge pixels repeat beyond the frame. Returns ``(size, size, C)`` of the image's dtype."""
    x, y, s = box
    k = max(1, int(np.ceil(s / size)))
    n = size * k
    scale = n / s
    # grid pixel j covers [x + j / scale, x + (j + 1) / scale]: frame point q maps to (q - x) * scale - 0.5
    m = np.array([[scale, 0, -x * scale - 0.5], [0, scale, -y * scale - 0.5]], np.float64)
    grid = cv2.warpAffine(image, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_AREA) if k > 1 else grid
