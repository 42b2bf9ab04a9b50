"""``patchsim print``: the print-ready PDF of an attack's sticker pieces, the colour calibration chart and
the sign-locator markers."""

from __future__ import annotations

import json
from pathlib import Path

from patchsim.attack.export import print_pixels, write_sticker_pdf
from patchsim.attack.pdf import Sheet
from patchsim.errors import PatchsimError
from patchsim.imageio import resize
from patchsim.photo.chart import ChartLayout, draw_chart
from patchsim.photo.locator import LOCATOR_NOTE, LocatorLayout, draw_locator_sheet
from patchsim.scene import load_scene
from patchsim.scene import parse_scene
from patchsim.sticker_io import load_sticker_rgba


def run_print(attack_dir: str | Path, paper: str = "A4", dpi: float = 300.0, out: str | Path | None = None) -> tuple[Path, int]:
    """Read ``sticker.png`` and ``attack.json`` from an attack's folder; write the PDF (default
    ``DIR/print.pdf``): placement page, pieces at true size, colour chart, sign-locator markers.
    Returns (path, pages)."""
    d = Path(attack_dir)
    meta_path = d / "attack.json"
    if not meta_path.is_file():
        raise PatchsimError(f"{d} is not an attack output folder: attack.json missing")
    try:
        meta = json.loads(meta_path.read_text())
        resolved = meta.get("scene_resolved") if isinstance(meta, dict) else None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PatchsimError(f"{meta_path}: cannot read the attack record: {e}") from e
    if isinstance(resolved, dict) and "sign" in resolved:
        # the scene exactly as the attack used it, wherever this runs from
        scene = parse_scene(resolved, str(meta.get("scene") or meta_path))
    elif isinstance(meta, dict) and meta.get("scene"):
        scene = load_scene(meta["scene"])
    else:
        raise PatchsimError(f"{meta_path}: the attack record names no scene")
    sticker = load_sticker_rgba(d / "sticker.png")
    n = print_pixels(scene.sign.size_m, dpi)
    if sticker.shape[0] != n:
        sticker = resize(sticker, n, n)
    px_per_mm = dpi / 25.4
    chart = ChartLayout()
    locator = LocatorLayout()
    sheets = [
        Sheet("Colour calibration chart", "Print on the same printer, paper and settings as the sticker; photograph "
              "it with the camera you will film with; run `patchsim calibrate PHOTO`.",
              draw_chart(px_per_mm, chart), chart.width_mm, chart.height_mm),
        Sheet("Sign-locator markers (optional)", LOCATOR_NOTE + " `patchsim score` then finds the sign from them.",
              draw_locator_sheet(px_per_mm, locator), *locator.size_mm),
    ]
    path = Path(out) if out else d / "print.pdf"
    _, pages = write_sticker_pdf(path, scene, sticker, paper, f"patchsim {meta.get('model')}", sheets)
    return path, pages
