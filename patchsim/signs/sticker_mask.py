"""The sticker mask in face space, from a scene's regions (millimetres) and/or mask image."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from patchsim.imageio import read_image
from patchsim.signs.catalogue import draw_face_array
from patchsim.signs.raster import polygon_mask


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
