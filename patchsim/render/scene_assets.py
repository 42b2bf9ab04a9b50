"""Loading a scene's image assets for the renderer (at the edge: files -> tensors, once)."""

from __future__ import annotations

import cv2
from kornia.color import rgb_to_linear_rgb

from patchsim.io.images import read_image, to_tensor
from patchsim.render.background import TEX_H, TEX_W, Background


def background_for(scene) -> Background:
    """The scene's :class:`Background`: procedural, or its images resized to the texture size."""
    if scene.background.kind == "procedural":
        return Background()
    import torch

    imgs = []
    for p in scene.background.images:
        img = cv2.resize(read_image(scene.resolve(p)), (TEX_W * 2, TEX_H * 2), interpolation=cv2.INTER_AREA)
        imgs.append(to_tensor(img))
    return Background("images", rgb_to_linear_rgb(torch.stack(imgs)))
