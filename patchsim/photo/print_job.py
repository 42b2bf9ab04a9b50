"""``patchsim print``: the print-ready PDF of an attack's sticker pieces plus the colour calibration chart."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from patchsim.attack.export import silhouette_outline_mm
from patchsim.attack.pdf import write_pieces_pdf
from patchsim.attack.pieces import find_pieces
from patchsim.errors import PatchsimError
from patchsim.imageio import read_image, resize
from patchsim.photo.chart import ChartLayout, draw_chart
from patchsim.scene import load_scene


def run_print(attack_dir: str | Path, paper: str = "A4", dpi: float = 300.0, out: str | Path | None = None) -> tuple[Path, int]:
    """Read ``sticker.png`` and ``attack.json`` from an attack's folder; write the PDF (default
    ``DIR/print.pdf``). Returns (path, pages)."""
    d = Path(attack_dir)
    meta_path = d / "attack.json"
    if not meta_path.is_file():
        raise PatchsimError(f"{d} is not an attack output folder: attack.json missing")
    meta = json.loads(meta_path.read_text())
    scene = load_scene(meta["scene"])
    sticker = read_image(d / "sticker.png", alpha=True)
    side_mm = scene.sign.size_m * 1000
    n = int(round(side_mm / 25.4 * dpi))
    if sticker.shape[0] != n:
        sticker = resize(sticker, n, n)
    mask = cv2.resize(sticker[..., 3].astype(np.float32) / 255, (int(round(side_mm)),) * 2, interpolation=cv2.INTER_AREA)
    pieces = find_pieces(mask, side_mm)
    layout = ChartLayout()
    chart = draw_chart(dpi / 25.4, layout)
    path = Path(out) if out else d / "print.pdf"
    pages = write_pieces_pdf(path, sticker, side_mm, pieces, paper, title=f"patchsim {meta.get('model')}",
                             silhouette_mm=silhouette_outline_mm(scene), chart=(chart, layout.width_mm, layout.height_mm))
    return path, pages
