"""How the optimiser's free parameters become sticker colours, for each kind of sticker a person makes:

* ``inkjet`` sticker: free colour per pixel inside the printer's gamut (sigmoid, then the printer's
  parametrisation), ``(1, 3, N, N)`` parameters;
* poster: a change of the clean face bounded in L-inf (tanh) or L2 (RMS over the mask);
* ``vinyl`` / ``graffiti`` sticker: per-pixel logits over a vinyl palette ``(1, P, N, N)``, each pixel
  exactly one of the ``k`` colours most used (:func:`patchsim.printing.vinyl.vinyl_colours`).

The settings live in :class:`StickerParametrisation`; both functions are deterministic in the parameters."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from patchsim.attack.config import AttackConfig
from patchsim.io.stickers import load_sticker
from patchsim.printing.vinyl import VinylPalette, parse_style, style_palette, vinyl_colours


@dataclass(frozen=True)
class StickerParametrisation:
    """What turns parameters into sticker colours: the attack's ``cfg`` (mode, style, budget, start), the
    renderer's ``printer``, the ``clean`` face ``(1, 3, N, N)`` and the sticker ``mask`` ``(1, 1, N, N)``
    (both on the attack's device); for vinyl styles ``vinyl`` (the :class:`VinylPalette`, names and all, which
    the export's cut files use), its colours ``palette`` ``(P, 3)`` on the device and ``k`` (None otherwise)."""

    cfg: AttackConfig
    printer: torch.nn.Module
    clean: torch.Tensor
    mask: torch.Tensor
    vinyl: VinylPalette | None = None
    palette: torch.Tensor | None = None
    k: int | None = None

    @classmethod
    def build(cls, cfg: AttackConfig, printer, clean: torch.Tensor, mask: torch.Tensor) -> "StickerParametrisation":
        """The parametrisation of ``cfg``'s mode and style (the vinyl palette loaded here)."""
        kind, k = parse_style(cfg.style)
        vinyl = style_palette(cfg.style, cfg.vinyl_palette) if kind != "inkjet" else None
        return cls(cfg, printer, clean, mask, vinyl, vinyl.tensor().to(clean.device) if vinyl else None, k)

    def init(self, g: torch.Generator, device: torch.device) -> torch.Tensor:
        """Starting parameters, a leaf tensor on ``device`` with ``requires_grad``: random (drawn on the CPU
        generator ``g``: the same start on every device), or with ``cfg.init_sticker`` the parameters whose
        sticker is that PNG's colours (as near as the printer's gamut allows; ``g`` is drawn from all the
        same, so the rest of the run's draws do not depend on the start)."""
        n = self.cfg.face_resolution
        channels = 3 if self.palette is None else self.palette.shape[0]
        scale = 0.5 if self.cfg.mode == "sticker" else 0.01
        w = torch.randn(1, channels, n, n, generator=g) * scale
        if self.cfg.init_sticker is None:
            return w.to(device).requires_grad_()
        target = load_sticker(self.cfg.init_sticker, n)[None].to(device)
        w = torch.logit(target.clamp(0.02, 0.98)).detach().requires_grad_()
        if not self.printer.is_identity:  # invert the printer's parametrisation by least squares
            opt = torch.optim.Adam([w], lr=0.1)
            for _ in range(200):
                loss = (self.printer.parametrise(torch.sigmoid(w)) - target).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return w.detach().requires_grad_()

    def colours(self, w: torch.Tensor) -> torch.Tensor:
        """Sticker colours ``(1, 3, N, N)`` in [0, 1] (the colours sent to the printer, or the vinyl's own)
        from parameters ``w``. Inkjet stickers lie inside the printer's gamut."""
        if self.palette is not None:
            return vinyl_colours(w, self.palette, self.k, self.mask)
        if self.cfg.mode == "sticker":
            return self.printer.parametrise(torch.sigmoid(w))
        if self.cfg.norm == "linf":
            delta = self.cfg.eps * torch.tanh(w)
        else:
            rms = torch.sqrt((w**2 * self.mask).sum() / (3 * self.mask.sum()) + 1e-12)
            delta = w * torch.clamp(self.cfg.eps / rms, max=1.0)
        return (self.clean + delta * self.mask).clamp(0, 1)
