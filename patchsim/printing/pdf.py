"""Print-ready PDF of sticker pieces at true physical size (matplotlib's PDF backend).

Page 1 shows where each piece goes on the sign (to scale, not true size). Every following page holds
one piece, or one tile of a piece larger than the printable area, at true size with its cut line,
its label, a 10 cm scale bar and its position on the sign. Extra true-size sheets (the colour chart,
the sign-locator markers) follow, one page each."""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from patchsim.printing.pieces import Piece
from patchsim.errors import PatchsimError
from patchsim.io.images import atomic_write_bytes, pyplot


DPI_RANGE = (30.0, 2400.0)  # print resolutions (dots per inch) accepted by export and ``patchsim print``


@dataclass(frozen=True)
class Sheet:
    """A page printed at true size: uint8 RGB ``image`` covering ``width_mm`` x ``height_mm``, under a
    ``title`` and a one-paragraph ``note``."""

    title: str
    note: str
    image: np.ndarray
    width_mm: float
    height_mm: float


PAPERS_MM = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
MARGIN_MM = 10.0
HEADER_MM = 14.0
FOOTER_MM = 22.0


def printable_area(paper: str) -> tuple[float, float]:
    """Width and height (mm) available for a piece on one page."""
    w, h = paper_size(paper)
    return w - 2 * MARGIN_MM, h - 2 * MARGIN_MM - HEADER_MM - FOOTER_MM


def paper_size(paper: str) -> tuple[float, float]:
    key = paper.lower()
    if key not in PAPERS_MM:
        raise PatchsimError(f"unknown paper {paper!r}; choose A4 or letter")
    return PAPERS_MM[key]


def tiles(piece: Piece, paper: str) -> list[tuple[float, float, float, float]]:
    """Tiles ``(x_mm, y_mm, w_mm, h_mm)`` (in face millimetres) covering the piece's bounding box, each
    fitting the printable area."""
    aw, ah = printable_area(paper)
    nx, ny = math.ceil(piece.w_mm / aw - 1e-9), math.ceil(piece.h_mm / ah - 1e-9)
    tw, th = piece.w_mm / nx, piece.h_mm / ny
    return [(piece.x_mm + i * tw, piece.y_mm + j * th, tw, th) for j in range(ny) for i in range(nx)]


def _page(plt, paper: str):
    w, h = paper_size(paper)
    fig = plt.figure(figsize=(w / 25.4, h / 25.4))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    return fig, ax


def _finish_page(pdf, plt, fig, ax, paper: str) -> None:
    """Fix the page's millimetre frame (images may have moved it), add the scale bar and save it."""
    pw, ph = paper_size(paper)
    ax.set_xlim(0, pw)
    ax.set_ylim(ph, 0)
    _scale_bar(ax, MARGIN_MM, ph - MARGIN_MM - 10)
    pdf.savefig(fig)
    plt.close(fig)


def _scale_bar(ax, x: float, y: float) -> None:
    ax.plot([x, x + 100], [y, y], color="black", lw=1.2)
    for k in range(11):
        ax.plot([x + 10 * k, x + 10 * k], [y, y - (3 if k % 5 == 0 else 1.5)], color="black", lw=0.6)
    ax.text(x + 50, y + 4, "10 cm scale bar: check it measures 100 mm before cutting", ha="center", va="top", fontsize=7)


def write_pieces_pdf(path: str | Path, rgba: np.ndarray, side_mm: float, pieces: list[Piece], paper: str = "A4",
                     title: str = "patchsim sticker", silhouette_mm: np.ndarray | None = None,
                     sheets: Sequence[Sheet] = ()) -> int:
    """Write the PDF; returns the number of pages. ``rgba`` ``(P, P, 4)`` uint8 covers the face's
    bounding square of ``side_mm`` millimetres; ``silhouette_mm`` ``(K, 2)`` outlines the sign;
    each of ``sheets`` adds a page at true size."""
    plt = pyplot()
    from matplotlib.backends.backend_pdf import PdfPages

    if not pieces:
        raise PatchsimError("no sticker pieces to print (empty sticker mask)")
    fw, fh = printable_area(paper)
    for sh in sheets:
        if sh.width_mm > fw or sh.height_mm > fh - HEADER_MM - 4:
            raise PatchsimError(f"sheet {sh.title!r} ({sh.width_mm:.0f} x {sh.height_mm:.0f} mm) does not fit on {paper}")
    px_per_mm = rgba.shape[0] / side_mm
    pw, ph = paper_size(paper)
    buf = io.BytesIO()
    pages = 0
    with PdfPages(buf) as pdf:
        fig, ax = _page(plt, paper)
        s = min(pw - 2 * MARGIN_MM, ph - 90) / side_mm
        ox, oy = MARGIN_MM, MARGIN_MM + 20
        ax.text(MARGIN_MM, MARGIN_MM, f"{title}: where each piece goes", fontsize=11, va="top", weight="bold")
        ax.text(MARGIN_MM, MARGIN_MM + 7, f"Sign face {side_mm:.0f} mm across (drawn at {100 * s:.0f}% scale). "
                "Positions: mm from the top-left corner of the sign's bounding square.", fontsize=7, va="top")
        ax.add_patch(plt.Rectangle((ox, oy), side_mm * s, side_mm * s, fill=False, ls=":", lw=0.5))
        if silhouette_mm is not None:
            sil = np.vstack([silhouette_mm, silhouette_mm[:1]])
            ax.plot(ox + sil[:, 0] * s, oy + sil[:, 1] * s, color="black", lw=0.8)
        for p in pieces:
            c = np.vstack([p.contour_mm, p.contour_mm[:1]])
            ax.fill(ox + c[:, 0] * s, oy + c[:, 1] * s, color="tab:red", alpha=0.35)
            ax.text(ox + (p.x_mm + p.w_mm / 2) * s, oy + (p.y_mm + p.h_mm / 2) * s, p.label, ha="center",
                    va="center", fontsize=10, weight="bold")
        y = oy + side_mm * s + 8
        for p in pieces:
            n = len(tiles(p, paper))
            ax.text(MARGIN_MM, y, f"Piece {p.label}: {p.w_mm:.1f} x {p.h_mm:.1f} mm, top-left at "
                    f"x = {p.x_mm:.1f} mm, y = {p.y_mm:.1f} mm ({n} page{'s' if n > 1 else ''})", fontsize=7, va="top")
            y += 4.5
        _finish_page(pdf, plt, fig, ax, paper)
        pages += 1
        for p in pieces:
            ts = tiles(p, paper)
            for k, (tx, ty, tw, th) in enumerate(ts):
                fig, ax = _page(plt, paper)
                part = f" part {k + 1} of {len(ts)}" if len(ts) > 1 else ""
                ax.text(MARGIN_MM, MARGIN_MM, f"Piece {p.label}{part}: {tw:.1f} x {th:.1f} mm at true size",
                        fontsize=10, va="top", weight="bold")
                ax.text(MARGIN_MM, MARGIN_MM + 6, f"Goes at x = {tx:.1f} mm, y = {ty:.1f} mm from the sign's "
                        "top-left corner. Print at 100% (no 'fit to page'), colour management on as by default; "
                        "cut along the solid line.",
                        fontsize=7, va="top")
                x0, y0 = MARGIN_MM, MARGIN_MM + HEADER_MM
                i0, i1 = int(round(tx * px_per_mm)), int(round((tx + tw) * px_per_mm))
                j0, j1 = int(round(ty * px_per_mm)), int(round((ty + th) * px_per_mm))
                ax.imshow(rgba[j0:j1, i0:i1], extent=(x0, x0 + tw, y0 + th, y0), interpolation="none")
                c = np.vstack([p.contour_mm, p.contour_mm[:1]])
                cx = np.clip(c[:, 0], tx, tx + tw) - tx + x0
                cy = np.clip(c[:, 1], ty, ty + th) - ty + y0
                ax.plot(cx, cy, color="black", lw=0.4)
                _finish_page(pdf, plt, fig, ax, paper)
                pages += 1
        for sh in sheets:
            fig, ax = _page(plt, paper)
            ax.text(MARGIN_MM, MARGIN_MM, f"{sh.title} (true size)", fontsize=10, va="top", weight="bold")
            ax.text(MARGIN_MM, MARGIN_MM + 6, textwrap.fill(sh.note, 130), fontsize=7, va="top", linespacing=1.3)
            x0, y0 = (pw - sh.width_mm) / 2, MARGIN_MM + HEADER_MM + 4
            ax.imshow(sh.image, extent=(x0, x0 + sh.width_mm, y0 + sh.height_mm, y0), interpolation="none")
            _finish_page(pdf, plt, fig, ax, paper)
            pages += 1
    atomic_write_bytes(path, buf.getvalue())
    return pages
