"""Reading sticker images into tensors."""

from __future__ import annotations

import cv2
import torch

from patchsim.imageio import read_image, to_tensor
from patchsim.errors import PatchsimError


def load_sticker(path: str, resolution: int) -> torch.Tensor:
    """A sticker PNG (RGB or RGBA covering the face's bounding square, as ``patchsim attack`` writes) as
    float32 RGB ``(3, resolution, resolution)`` in [0, 1]. Only its colour is used; where it applies
    is the scene's sticker mask."""
    img = read_image(path)
    h, w = img.shape[:2]
    if abs(h - w) > 0.02 * max(h, w):
        raise PatchsimError(f"{path}: a sticker image must be square (the face's bounding square), got {w}x{h}")
    interp = cv2.INTER_AREA if h > resolution else cv2.INTER_LINEAR
    return to_tensor(cv2.resize(img, (resolution, resolution), interpolation=interp))
