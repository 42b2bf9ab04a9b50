"""Contact sheets of scored photo signs: the photo around each sign and the classifier crops (clean,
raw, relit) with the model's reading, red when fooled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from patchsim.io.images import write_png
from patchsim.evaluate.photos import RUNS


def write_contact_sheet(path: Path, records, crops: dict, attacked: bool, limit: int = 48, cols: int = 4) -> None:
    """One tile per sign: the relit photo around the sign, then the three classifier crops (clean, raw,
    relit) with the model's reading, red when fooled."""
    tiles = []
    for i, r in list(enumerate(records))[:limit]:
        view = crops["view"][i]
        row = [view]
        runs = RUNS if attacked else ("clean",)
        for run in runs:
            c = cv2.resize(crops[run][i], (view.shape[0] // 2,) * 2, interpolation=cv2.INTER_NEAREST)
            bar = np.full((view.shape[0] // 2, c.shape[1], 3), 255, np.uint8)
            colour = (200, 30, 30) if getattr(r, f"{run}_fooled") else (20, 140, 40)
            cv2.putText(bar, run, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(bar, getattr(r, f"{run}_pred")[:13], (3, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
            cv2.putText(bar, f"{getattr(r, f'{run}_conf'):.2f}", (3, 52), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
            row.append(np.concatenate([c, bar], 0))
        tile = np.concatenate(row, 1)
        label = np.full((18, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{r.name[:30]} ({r.located_by})", (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.pad(np.concatenate([label, tile], 0), ((4, 4), (4, 4), (0, 0)), constant_values=255))
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    write_png(path, np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0))
