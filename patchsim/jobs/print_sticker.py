"""``patchsim print``: the print-ready PDF of an attack's sticker pieces, the colour calibration chart and
the sign-locator markers."""

from __future__ import annotations

from pathlib import Path

from patchsim.printing.export import print_pixels, write_sticker_pdf
from patchsim.printing.pdf import Sheet
from patchsim.jobs.attack_record import load_attack_dir
from patchsim.errors import PatchsimError
from patchsim.io.images import resize
from patchsim.io.outputs import check_output_file
from patchsim.printing.chart import ChartLayout, draw_chart
from patchsim.realphoto.locator import LOCATOR_NOTE, LocatorLayout, draw_locator_sheet
from patchsim.scene import load_scene
from patchsim.io.stickers import load_sticker_rgba


def run_print(attack_dir: str | Path, paper: str = "A4", dpi: float = 300.0, out: str | Path | None = None,
              scene: str | Path | None = None, force: bool | None = None) -> tuple[Path, int]:
    """Read ``sticker.png`` and ``attack.json`` from an attack's folder, or a sticker PNG (RGBA over the
    face's bounding square, alpha = the sticker, e.g. a backdoor trigger's ``.trigger.png``) with the
    ``scene`` that sizes its sign; write the PDF (default ``DIR/print.pdf``, or beside the PNG):
    placement page, pieces at true size, colour chart, sign-locator markers. Returns (path, pages)."""
    src = Path(attack_dir)
    if src.is_file():
        if scene is None:
            raise PatchsimError(f"print {src}: a sticker image needs --scene (the scene whose sign size it is printed for)")
        scene = load_scene(scene)
        path = check_output_file(Path(out) if out else src.with_suffix(".pdf"), inputs=(src,), force=force)
        sticker, title = load_sticker_rgba(src), f"patchsim sticker {src.name}"
    else:
        rec = load_attack_dir(attack_dir)
        d, scene = rec.path, rec.scene
        path = check_output_file(Path(out) if out else d / "print.pdf",
                                 inputs=(d / "sticker.png", d / "attack.json", d / "sticker.pdf", d / "sticker_as_printed.png",
                                         d / "sign.png", d / "checkpoint.pt", d / "report.html"), force=force)
        sticker, title = load_sticker_rgba(d / "sticker.png"), f"patchsim {rec.model}"
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
    _, pages = write_sticker_pdf(path, scene, sticker, paper, title, sheets)
    return path, pages
