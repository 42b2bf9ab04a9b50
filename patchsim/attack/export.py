"""Print-ready outputs of an attack: sticker.png, sign.png (RGBA at print DPI, framing the face's
bounding square), sticker.pdf (pieces at true size), attack.json and curves.png. Every file is
written atomically."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from patchsim.attack.config import DPI_RANGE
from patchsim.attack.pdf import Sheet, write_pieces_pdf
from patchsim.checks import check_number
from patchsim.errors import PatchsimError
from patchsim.attack.pieces import find_pieces
from patchsim.attack.record import ExportInfo, PieceRecord
from patchsim.imageio import pyplot, save_figure, write_png
from patchsim.signs import load_face, sticker_mask

log = logging.getLogger(__name__)
MAX_PRINT_PX = 12000


def print_pixels(size_m: float, dpi: float) -> int:
    """Pixels across the face's bounding square at ``dpi`` (checked: finite, in ``DPI_RANGE``)."""
    check_number("--dpi", dpi, *DPI_RANGE)
    n = int(round(size_m / 0.0254 * dpi))
    if n > MAX_PRINT_PX:
        raise PatchsimError(f"--dpi = {dpi:g} is too fine for a {size_m:g} m sign: {n} px across; the limit is "
                            f"{MAX_PRINT_PX}")
    return n


def _upsample(t: torch.Tensor, n: int) -> torch.Tensor:
    """``(1, 3, N, N)`` -> ``(3, n, n)`` bilinear, pixel-area aligned (as the renderer samples it)."""
    return torch.nn.functional.interpolate(t.detach().float(), size=(n, n), mode="bilinear", align_corners=False)[0]


def print_images(scene, sticker: torch.Tensor, clean_lowres: torch.Tensor, mode: str, dpi: float = 300.0):
    """(sticker RGBA, sign RGBA) uint8 ``(P, P, 4)`` and the mask float ``(P, P)`` at print resolution.
    ``sticker`` ``(1, 3, N, N)`` holds the colours sent to the printer. In poster mode the optimised
    perturbation is added to the full-resolution clean face."""
    n = print_pixels(scene.sign.size_m, dpi)
    with torch.no_grad():
        face = load_face(scene, n)  # (4, n, n)
        if mode == "poster":
            mask = face[3:].clone()
            colour = (face[:3] + _upsample(sticker - clean_lowres, n)).clamp_(0, 1)
        else:
            mask = sticker_mask(scene, n)
            colour = _upsample(sticker, n).clamp_(0, 1)
        to8 = lambda a: a.mul(255).round_().byte().permute(1, 2, 0).numpy()  # noqa: E731
        sticker_rgba = to8(torch.cat([colour, mask]))
        sign_rgba = to8(torch.cat([face[:3] + (colour - face[:3]) * mask, face[3:]]))
    return sticker_rgba, sign_rgba, mask[0].numpy()


def gamut_fraction(sticker_rgba: np.ndarray, printer, max_px: int = 1 << 20) -> float:
    """Fraction of the sticker's pixels (alpha > 0) whose 8-bit colour the printer can print
    (:meth:`PrinterModel.in_gamut`); a regular subsample of at most ``max_px`` pixels."""
    a = sticker_rgba[..., 3] > 0
    rgb = sticker_rgba[..., :3][a]
    if len(rgb) == 0:
        return 1.0
    rgb = rgb[:: max(1, len(rgb) // max_px)]
    x = torch.from_numpy(rgb.astype(np.float32) / 255).T.reshape(1, 3, -1, 1)
    return float(printer.in_gamut(x).float().mean())


def silhouette_outline_mm(scene, n: int = 750) -> np.ndarray:
    """The sign's outline ``(K, 2)`` in face millimetres."""
    from patchsim.signs import shape_mask

    a = (shape_mask(scene.sign.class_name, n)[0].numpy() >= 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(a, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    return (c + 0.5) * scene.sign.size_m * 1000 / n


def write_sticker_pdf(path: str | Path, scene, sticker_rgba: np.ndarray, paper: str, title: str,
                      sheets: Sequence[Sheet] = ()) -> tuple[list, int]:
    """The print PDF of a sticker image (RGBA over the face's bounding square, alpha = where it goes):
    its pieces found at 1 px per mm, placed and tiled at true size, then ``sheets`` (true-size pages).
    Returns (pieces, pages)."""
    side_mm = scene.sign.size_m * 1000
    alpha = sticker_rgba[..., 3].astype(np.float32) / 255
    mask_mm = cv2.resize(alpha, (int(round(side_mm)),) * 2, interpolation=cv2.INTER_AREA)
    pieces = find_pieces(mask_mm, side_mm)
    pages = write_pieces_pdf(path, sticker_rgba, side_mm, pieces, paper, title=title,
                             silhouette_mm=silhouette_outline_mm(scene), sheets=sheets)
    return pieces, pages


def write_curves(path: Path, history: list, title: str) -> None:
    """Validation success and loss against step, as a PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    steps = [h["step"] for h in history]
    ax.plot(steps, [100 * h["success"] for h in history], "o-", color="tab:red", label="validation success")
    ax.set_xlabel("step")
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 100)
    ax2 = ax.twinx()
    ax2.plot(steps, [h["loss"] for h in history], "--", color="tab:blue", label="training loss")
    ax2.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    fig.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def export_attack(out: str | Path, scene, result, clean_lowres: torch.Tensor, mode: str, dpi: float = 300.0,
                  paper: str = "A4", printer=None, title: str = "patchsim") -> ExportInfo:
    """Write the print outputs of an attack into ``out``: sticker.png (the colours to send to the
    printer), sticker_as_printed.png, sign.png, sticker.pdf (true size on ``paper``, ``dpi``) and
    curves.png (titled ``title``). ``printer``: the :class:`PrinterModel` the attack assumed (for
    ``sticker_as_printed.png`` and the gamut check; None: identity). Returns what was written."""
    from patchsim.render.printer import PrinterModel
    from patchsim.sticker_io import printed_rgba

    printer = printer or PrinterModel(name="identity")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    st, sign, mask = print_images(scene, result.sticker, clean_lowres, mode, dpi)
    write_png(out / "sticker.png", st, dpi=dpi)
    write_png(out / "sticker_as_printed.png", printed_rgba(st, printer), dpi=dpi)  # the one printing function
    write_png(out / "sign.png", sign, dpi=dpi)
    pieces, pages = write_sticker_pdf(out / "sticker.pdf", scene, st, paper, title)
    area = float(mask.sum()) / float(max(sign[..., 3].astype(np.float64).sum() / 255.0, 1e-9))
    write_curves(out / "curves.png", result.history, title)
    log.info("wrote sticker.png, sign.png, sticker.pdf (%d pages), curves.png to %s", pages, out)
    return ExportInfo(printer=printer.name, sticker_in_gamut=round(gamut_fraction(st, printer), 4), dpi=float(dpi),
                      paper=paper, pdf_pages=pages, sticker_area_fraction=round(area, 4),
                      pieces=tuple(PieceRecord(p.label, round(p.x_mm, 2), round(p.y_mm, 2), round(p.w_mm, 2),
                                               round(p.h_mm, 2)) for p in pieces))
