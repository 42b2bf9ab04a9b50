"""``patchsim print``: the print-ready PDF of an attack's sticker pieces plus the colour calibration chart."""

from __future__ import annotations

import json
from pathlib import Path

from patchsim.attack.export import print_pixels, write_sticker_pdf
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
    n = print_pixels(scene.sign.size_m, dpi)
    if sticker.shape[0] != n:
        sticker = resize(sticker, n, n)
    layout = ChartLayout()
    chart = (draw_chart(dpi / 25.4, layout), layout.width_mm, layout.height_mm)
    path = Path(out) if out else d / "print.pdf"
    _, pages = write_sticker_pdf(path, scene, sticker, paper, f"patchsim {meta.get('model')}", chart)
    return path, pages
