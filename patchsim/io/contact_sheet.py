"""Contact sheets: a grid of images with captions, written as one PNG (numpy/OpenCV, at the edge)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from patchsim.io.images import to_uint8, write_png


def contact_sheet(images: Sequence[torch.Tensor], captions: Sequence[str] | None, path: str | Path,
                  columns: int = 4, tile_height: int = 180) -> None:
    """Write ``images`` (each ``(3, H, W)`` float in [0, 1]) as a grid of tiles ``tile_height`` pixels
    high, each with its caption below, to ``path`` (PNG, atomically)."""
    if not images:
        raise ValueError("contact_sheet: no images")
    tiles = []
    for i, img in enumerate(images):
        a = to_uint8(img)
        w = int(round(a.shape[1] * tile_height / a.shape[0]))
        interp = cv2.INTER_AREA if a.shape[0] > tile_height else cv2.INTER_NEAREST
        a = cv2.resize(a, (w, tile_height), interpolation=interp)
        bar = np.full((22, w, 3), 255, np.uint8)
        if captions:
            cv2.putText(bar, captions[i][:48], (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([a, bar], 0))
    rows = [np.concatenate(tiles[r:r + columns], 1) for r in range(0, len(tiles), columns)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    write_png(path, np.concatenate(rows, 0))
