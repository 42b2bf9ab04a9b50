"""Print-ready outputs of an attack: sticker.png, sign.png (RGBA at print DPI, framing the face's
bounding square), sticker.pdf (pieces at true size), attack.json and curves.png. Every file is
written atomically."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from patchsim.printing.pdf import DPI_RANGE, Sheet, write_pieces_pdf
from patchsim.checks import check_number
from patchsim.errors import PatchsimError
from patchsim.printing.pieces import find_pieces
from patchsim.printing.vinyl import write_cut_files
from patchsim.io.images import pyplot, save_figure, write_png
from patchsim.signs import cut_pixels, load_face, sticker_alpha, sticker_mask
from patchsim.io.stickers import printed_rgba

log = logging.getLogger(__name__)
MAX_PRINT_PX = 12000



@dataclass(frozen=True)
class PieceRecord:
    """A printed sticker piece: ``label`` and its bounding box on the face, millimetres from the face
    square's top-left corner."""

    label: str
    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float


@dataclass(frozen=True)
class ExportInfo:
    """What exporting wrote: the ``printer`` assumed, the fraction of sticker.png's pixels in its gamut,
    the print ``dpi`` and ``paper``, the PDF's pages, the sticker's area as a fraction of the face, and
    its pieces."""

    printer: str
    sticker_in_gamut: float
    dpi: float
    paper: str
    pdf_pages: int
    sticker_area_fraction: float
    pieces: tuple[PieceRecord, ...]


def print_pixels(size_m: float, dpi: float) -> int:
    """Pixels across the face's bounding square at ``dpi`` (checked: finite, in ``DPI_RANGE``)."""
    check_number("--dpi", dpi, *DPI_RANGE)
    n = int(round(size_m / 0.0254 * dpi))
    if n > MAX_PRINT_PX:
        raise PatchsimError(f"--dpi = {dpi:g} is too fine for a {size_m:g} m sign: {n} px across; the limit is "
                            f"{MAX_PRINT_PX}")
    return n


def bilinear_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """``(n_out, n_in)`` weights of 1-D bilinear resampling, pixel-area aligned (``align_corners=False``,
    edges clamped): ``A @ x`` resamples ``x``; ``A_y @ S @ A_x.T`` is ``interpolate(S, mode="bilinear")``."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    w1 = src - i0
    a = torch.zeros(n_out, n_in, dtype=torch.float64)
    a[torch.arange(n_out), i0] += 1 - w1
    a[torch.arange(n_out), i1] += w1
    return a.float()


def nearest_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """``(n_out, n_in)`` weights of 1-D nearest-neighbour resampling (each output pixel takes the input
    pixel under its centre): flat vinyl colours stay flat at print resolution."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out).floor().long().clamp(max=n_in - 1)
    a = torch.zeros(n_out, n_in)
    a[torch.arange(n_out), src] = 1.0
    return a


TILE_ROWS = 512  # print images are built this many rows at a time: memory stays O(rows x width)


def print_images(scene, sticker: torch.Tensor, clean_lowres: torch.Tensor, mode: str, dpi: float = 300.0,
                 with_sign: bool = True, nearest: bool = False):
    """(sticker RGBA, sign RGBA) uint8 ``(P, P, 4)`` and the sticker's alpha uint8 ``(P, P)`` at print
    resolution ``dpi`` (checked); the sign is None without ``with_sign`` (sticker mode then never draws
    the face at print resolution). See :func:`images_at`."""
    return images_at(scene, sticker, clean_lowres, mode, print_pixels(scene.sign.size_m, dpi), with_sign, nearest)


PREVIEW_PX = 2048  # sign.png and sticker_as_printed.png: previews for the eye, not for printing


def images_at(scene, sticker: torch.Tensor, clean_lowres: torch.Tensor, mode: str, n: int, with_sign: bool = True,
              nearest: bool = False):
    """:func:`print_images` at ``n`` px across the face's bounding square. ``sticker`` ``(1, 3, N, N)``
    holds the colours sent to the printer. In poster mode the optimised perturbation is added to the
    full-resolution clean face. Built in bands of :data:`TILE_ROWS` rows from uint8 arrays, so that a
    300-DPI print (8858 px across for a 0.75 m sign) never holds a full-resolution float copy. ``nearest``:
    the sticker's pixels resampled nearest-neighbour (flat vinyl colours) instead of bilinearly."""
    from patchsim.signs import draw_face_array

    with_sign = with_sign or mode == "poster"
    with torch.no_grad():
        if not with_sign:
            face = None
        elif scene.sign.face.kind == "procedural":
            face = draw_face_array(scene.sign.class_name, n)  # (n, n, 4) uint8
        else:
            face = load_face(scene, n).mul(255).round_().byte().permute(1, 2, 0).numpy()
        if mode == "poster":
            alpha = face[..., 3].copy()
            low = (sticker - clean_lowres).detach().float()[0]  # the perturbation, added to the sharp face
        else:
            alpha = sticker_alpha(scene, n)
            low = sticker.detach().float()[0]
        a_y = (nearest_matrix if nearest else bilinear_matrix)(n, low.shape[-1])
        right = torch.einsum("cij,xj->cix", low, a_y)  # (3, N, n): columns resampled once
        sticker_rgba = np.empty((n, n, 4), np.uint8)
        sign_rgba = np.empty((n, n, 4), np.uint8) if with_sign else None
        for r0 in range(0, n, TILE_ROWS):
            r1 = min(n, r0 + TILE_ROWS)
            band = torch.einsum("yi,cix->yxc", a_y[r0:r1], right)  # (rows, n, 3) upsampled colour
            f = torch.from_numpy(face[r0:r1, :, :3]).float() / 255 if with_sign else None
            colour = (f + band if mode == "poster" else band).clamp_(0, 1)
            sticker_rgba[r0:r1, :, :3] = colour.mul(255).round_().byte().numpy()
            if with_sign:
                m = torch.from_numpy(alpha[r0:r1]).float()[..., None] / 255
                sign_rgba[r0:r1, :, :3] = (f + (colour - f) * m).mul(255).round_().byte().numpy()
        sticker_rgba[..., 3] = alpha
        if with_sign:
            sign_rgba[..., 3] = face[..., 3]
    return sticker_rgba, sign_rgba, alpha


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
    # resized as uint8 (no float copy of a print-size image), then to [0, 1] at 1 px per mm
    mask_mm = cv2.resize(sticker_rgba[..., 3], (int(round(side_mm)),) * 2, interpolation=cv2.INTER_AREA)
    mask_mm = mask_mm.astype(np.float32) / 255
    pieces = find_pieces(mask_mm, side_mm)
    pages = write_pieces_pdf(path, sticker_rgba, side_mm, pieces, paper, title=title,
                             silhouette_mm=silhouette_outline_mm(scene), sheets=sheets)
    return pieces, pages


def write_curves(path: Path, history: list, title: str) -> None:
    """Validation success and loss against step, as a PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    steps = [h.step for h in history]
    ax.plot(steps, [100 * h.success for h in history], "o-", color="tab:red", label="validation success")
    ax.set_xlabel("step")
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 100)
    ax2 = ax.twinx()
    ax2.plot(steps, [h.loss for h in history], "--", color="tab:blue", label="training loss")
    ax2.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    fig.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def export_attack(out: str | Path, scene, result, clean_lowres: torch.Tensor, mode: str, dpi: float = 300.0,
                  paper: str = "A4", printer=None, title: str = "patchsim", preview=None, vinyl=None) -> ExportInfo:
    """Write the print outputs of an attack into ``out``: sticker.png (the colours to send to the
    printer, at ``dpi``), sticker.pdf (true size on ``paper``, ``dpi``), the previews
    sticker_as_printed.png and sign.png (:data:`PREVIEW_PX` across, their DPI set for true size) and
    curves.png (titled ``title``). ``printer``: the :class:`PrinterModel` the attack assumed (for
    ``sticker_as_printed.png`` and the gamut check; None: identity). ``preview``: :func:`images_at`'s
    output at the preview size when the caller has it already. ``vinyl``: the
    :class:`~patchsim.printing.vinyl.VinylPalette` of a vinyl sticker, which is resampled nearest-neighbour
    and also written as one SVG cut file per colour (:func:`~patchsim.printing.vinyl.write_cut_files`).
    Returns what was written."""
    from patchsim.printing.printer import PrinterModel

    printer = printer or PrinterModel(name="identity")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nearest = vinyl is not None
    st = print_images(scene, result.sticker, clean_lowres, mode, dpi, with_sign=False, nearest=nearest)[0]
    with ThreadPoolExecutor(1) as pool:  # the PNG encoder releases the GIL: encode while the PDF is built
        png = pool.submit(write_png, out / "sticker.png", st, dpi)
        pieces, pages = write_sticker_pdf(out / "sticker.pdf", scene, st, paper, title)
        in_gamut = gamut_fraction(st, printer)
        png.result()
    del st
    n_small = min(PREVIEW_PX, print_pixels(scene.sign.size_m, dpi))
    if preview is not None and preview[0].shape[0] == n_small and preview[1] is not None:
        small, sign, mask = preview
    else:
        small, sign, mask = images_at(scene, result.sticker, clean_lowres, mode, n_small, nearest=nearest)
    small_dpi = n_small * 0.0254 / scene.sign.size_m
    write_png(out / "sticker_as_printed.png", printed_rgba(small, printer), dpi=small_dpi)  # the one printing function
    write_png(out / "sign.png", sign, dpi=small_dpi)
    area = float(mask.sum(dtype=np.float64)) / float(max(sign[..., 3].sum(dtype=np.float64), 1e-9))
    write_curves(out / "curves.png", result.history, title)
    if vinyl is not None:  # the sticker's own pixel grid: what the optimiser rendered is what is cut
        n = result.sticker.shape[-1]
        rgb = result.sticker[0].permute(1, 2, 0).mul(255).round().byte().numpy()
        cuts = write_cut_files(out, rgb, cut_pixels(sticker_mask(scene, n)[0].numpy()), vinyl, scene.sign.size_m * 1000)
        log.info("wrote %d vinyl cut files (%s)", len(cuts), ", ".join(c.name for c in cuts))
    log.info("wrote sticker.png, sign.png, sticker.pdf (%d pages), curves.png to %s", pages, out)
    return ExportInfo(printer=printer.name, sticker_in_gamut=round(in_gamut, 4), dpi=float(dpi),
                      paper=paper, pdf_pages=pages, sticker_area_fraction=round(area, 4),
                      pieces=tuple(PieceRecord(p.label, round(p.x_mm, 2), round(p.y_mm, 2), round(p.w_mm, 2),
                                               round(p.h_mm, 2)) for p in pieces))
