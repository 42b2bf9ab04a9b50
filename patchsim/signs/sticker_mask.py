"""The sticker mask in face space, from a scene's regions (millimetres) and/or mask image."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from patchsim.io.images import read_image
from patchsim.signs.catalogue import draw_face_array
from patchsim.signs.raster import polygon_mask


CUT_COVERAGE = 0.5
"""A pixel belongs to a sticker cut from vinyl when at least this fraction of it is covered: the one rule
both the attack's render of a vinyl sticker and its cut files follow."""


def cut_pixels(coverage):
    """The pixels a cut sticker covers: ``coverage`` (tensor or array, any shape, in [0, 1]) >= :data:`CUT_COVERAGE`,
    as a bool of the same kind and shape."""
    return coverage >= CUT_COVERAGE


def sticker_mask(scene, resolution: int = 256) -> torch.Tensor:
    """Anti-aliased sticker coverage over the face's bounding square: float32 ``(1, N, N)`` in [0, 1].

    The union of the scene's sticker regions (polygons in face millimetres, origin top-left of the
    bounding square) and its mask image (white = sticker, resized to N x N), clipped to the sign's
    silhouette so that no sticker hangs off the sign."""
    side_mm = scene.sign.size_m * 1000.0
    polys = [np.asarray(r.points, np.float64) / side_mm for r in scene.sticker.regions]
    m = polygon_mask(polys, resolution) if polys else np.zeros((resolution, resolution), np.float32)
    if scene.sticker.mask_path is not None:
        img = read_image(scene.resolve(scene.sticker.mask_path)).astype(np.float32).mean(2) / 255.0
        img = cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_AREA)
        m = np.maximum(m, img)
    silhouette = draw_face_array(scene.sign.class_name, resolution)[:, :, 3].astype(np.float32) / 255.0
    return torch.from_numpy(np.minimum(m, silhouette))[None].float()


def sticker_alpha(scene, resolution: int) -> np.ndarray:
    """:func:`sticker_mask` as uint8 ``(N, N)`` (255 = sticker), built without float copies of the
    whole square: what print-size exports (8858 px for a 0.75 m sign at 300 DPI) use. Equal to
    ``round(255 * sticker_mask)`` within 1."""
    from patchsim.signs.catalogue import get_sign
    from patchsim.signs.raster import Canvas

    side_mm = scene.sign.size_m * 1000.0
    c = Canvas(resolution)
    for r in scene.sticker.regions:
        c.polygon(np.asarray(r.points, np.float64) / side_mm, (255, 255, 255), alpha=True)
    m = c.alpha if c.big == resolution else c.result()[..., 3].copy()
    del c
    if scene.sticker.mask_path is not None:
        img = read_image(scene.resolve(scene.sticker.mask_path)).mean(2).astype(np.uint8)
        m = np.maximum(m, cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_AREA))
    if resolution <= 2048:  # the face drawing is kept at these sizes: its alpha is the silhouette
        silhouette = draw_face_array(scene.sign.class_name, resolution)[..., 3]
    else:
        face = Canvas(resolution)
        get_sign(scene.sign.class_name).draw(face)
        silhouette = face.alpha if face.big == resolution else face.result()[..., 3]
    return np.minimum(m, silhouette)
