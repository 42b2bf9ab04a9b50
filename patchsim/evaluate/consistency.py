"""Consistency checks a perception stack can run without knowing the attack.

- Spatial: classify random overlapping sub-crops of the detector box; a benign sign gives the same
  class on all of them, a sticker tuned to one framing often does not.
- Optical flow (in the spirit of AdvIT): estimate Farneback flow from the current frame to the
  previous one, warp the previous frame onto the current one, classify the warped frame's crop and
  compare with the current prediction. A prediction that changes while the image content does not is
  flagged."""

from __future__ import annotations

import cv2
import numpy as np

from patchsim.evaluate.records import DetectionRates
from patchsim.render.crop import detector_crop

FLOW_MAX_SIDE = 64  # flow is computed on the box region, downscaled to at most this many pixels


def sub_boxes(box: tuple[float, float, float], k: int, seed: int, scale=(0.8, 0.95)) -> list[tuple[float, float, float]]:
    """``k`` random square sub-boxes of ``box`` (side ``scale`` of it, anywhere inside), deterministic
    in ``seed``."""
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFF)
    x, y, s = box
    out = []
    for _ in range(k):
        f = rng.uniform(*scale)
        ox, oy = rng.uniform(0, 1 - f, size=2)
        out.append((x + ox * s, y + oy * s, f * s))
    return out


def spatial_crops(image: np.ndarray, box, size: int, k: int, seed: int) -> list[np.ndarray]:
    """The ``k`` sub-box crops of ``image`` resized to ``size``."""
    return [detector_crop(image, b, size) for b in sub_boxes(box, k, seed)]


def warp_previous(prev: np.ndarray, cur: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
    """``prev`` warped onto ``cur`` by Farneback flow estimated around ``box`` (twice its side, at most
    ``FLOW_MAX_SIDE`` px); pixels outside that region are the current frame's. uint8 ``(H, W, 3)``."""
    h, w = cur.shape[:2]
    x, y, s = box
    x0, y0 = int(max(0, np.floor(x - s / 2))), int(max(0, np.floor(y - s / 2)))
    x1, y1 = int(min(w, np.ceil(x + 1.5 * s))), int(min(h, np.ceil(y + 1.5 * s)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return cur.copy()
    a = cv2.cvtColor(cur[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(prev[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    f = min(1.0, FLOW_MAX_SIDE / max(a.shape))
    if f < 1.0:
        a = cv2.resize(a, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    if f < 1.0:
        flow = cv2.resize(flow, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) / f
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    warped = cv2.remap(prev, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = cur.copy()
    out[y0:y1, x0:x1] = warped
    return out


def detection_rates(flags_attacked: np.ndarray, flags_clean: np.ndarray) -> DetectionRates:
    """Detection rate (flagged frames of the attacked run) and false-alarm rate (of the clean run);
    inputs ``(T,)`` bool flags per frame."""
    fa, fc = np.asarray(flags_attacked, bool), np.asarray(flags_clean, bool)
    return DetectionRates(float(fa.mean()) if len(fa) else None, float(fc.mean()) if len(fc) else None)
