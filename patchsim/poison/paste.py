"""Sticking a physical trigger onto a small photographed sign (a GTSRB image): the sign's homography
from its annotated ROI (refined by the red octagon's fit where the sign is a stop sign), the trigger
warped with it and relit and blurred like the sign (the REAP-style placement of :mod:`patchsim.photo`).

Images are uint8 RGB ``(H, W, 3)``; ``img_from_face`` maps face uv ([0, 1] over the face's bounding
square) to image pixels (centres at integers)."""

from __future__ import annotations

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.realphoto.octagon import FACE_CORNERS_UV, apply_homography, canonical_vertices, fit_stop_octagon
from patchsim.realphoto.placement import FacePyramid, estimate_light, place_sticker, sign_region, warp_face

UPSCALE = 8  # small images are upsampled this much before the octagon fit
FIT_TOLERANCE = 0.15  # an octagon fit is kept when its face corners lie within this share of the ROI's side


def roi_homography(roi: np.ndarray, orig_size: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """img_from_face ``(3, 3)`` mapping the face square onto the sign's ROI: ``roi`` (x1, y1, x2, y2)
    inclusive pixels of the original crop of ``orig_size`` (w, h), now resized to ``size`` (h, w)."""
    x1, y1, x2, y2 = (float(v) for v in roi)
    w, h = (float(v) for v in orig_size)
    if not (w > 0 and h > 0 and x2 >= x1 and y2 >= y1):
        raise PatchsimError(f"bad sign ROI {tuple(roi)} for an image of original size {tuple(orig_size)}")
    sx, sy = size[1] / w, size[0] / h
    return np.array([[(x2 + 1 - x1) * sx, 0, x1 * sx - 0.5], [0, (y2 + 1 - y1) * sy, y1 * sy - 0.5], [0, 0, 1]])


def sign_homography(img: np.ndarray, roi: np.ndarray, orig_size: np.ndarray, sign: str) -> tuple[np.ndarray, bool]:
    """(img_from_face, fitted): for a stop sign, the red octagon fitted on the image upsampled
    :data:`UPSCALE` x (its perspective), kept when it agrees with the ROI; otherwise (and for other
    signs) the ROI's box (scale and aspect only)."""
    box = roi_homography(roi, orig_size, img.shape[:2])
    if sign != "stop":
        return box, False
    up = cv2.resize(img, (img.shape[1] * UPSCALE, img.shape[0] * UPSCALE), interpolation=cv2.INTER_CUBIC)
    fit = fit_stop_octagon(up)
    if fit is None:
        return box, False
    # upsampled pixel centres: x_up = UPSCALE * (x + 0.5) - 0.5
    small_from_up = np.array([[1 / UPSCALE, 0, 0.5 / UPSCALE - 0.5], [0, 1 / UPSCALE, 0.5 / UPSCALE - 0.5], [0, 0, 1]])
    h = small_from_up @ fit.img_from_face
    corners, ref = apply_homography(h, FACE_CORNERS_UV), apply_homography(box, FACE_CORNERS_UV)
    side = float(np.ptp(ref, 0).max())
    if np.abs(corners - ref).max() > FIT_TOLERANCE * side:
        return box, False
    return h, True


def paste_trigger(img: np.ndarray, img_from_face: np.ndarray, trigger: FacePyramid, clean_face: FacePyramid,
                  octagon: bool) -> np.ndarray:
    """``img`` ``(H, W, 3)`` uint8 with the trigger (pyramid of its RGBA over the face square) stuck on
    the sign: light and blur fitted from the sign's pixels against ``clean_face`` (the sign as designed;
    the blur judged on the red octagon's outline when ``octagon``). A new uint8 image."""
    region = sign_region(img_from_face, img.shape[:2], pad=2)
    x0, y0, x1, y1 = region
    ref = warp_face(clean_face, img_from_face, region)
    edge = apply_homography(img_from_face, canonical_vertices()) - [x0, y0] if octagon else None
    light = estimate_light(img[y0:y1, x0:x1], ref, edge, method="tone")
    return place_sticker(img, img_from_face, trigger, light)
