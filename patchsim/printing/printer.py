"""Printer colour model: what colour a sticker pixel really has once printed.

A profile is the printer's device response: a per-channel tone curve (offset + gain * x ** gamma: ink
black, paper white, dot gain) followed by a 3x3 colour matrix (saturation lost to the inks), clipped to
[0, 1] (:func:`apply_printer`). Its range is the printer's gamut, the colours it can print:
``{M @ t : offset <= t <= offset + gain}``, a parallelepiped in sRGB (:meth:`PrinterModel.in_gamut`).

``PrinterModel.forward`` maps the sRGB colours sent to the printer ``(B, 3, H, W)`` in [0, 1] to the
printed colours, in one of two ways:
- ``managed`` (the default printer): printed through a colour-managed driver (what an ordinary print
  dialog does with an sRGB image): colours inside the gamut come out as they are, colours outside are
  pulled onto its surface (:func:`gamut_map`). The attack then chooses its colours inside the gamut,
  so sticker.png shows what the paper will show.
- ``device`` (calibrated profiles): the measured response, sent value -> printed colour, as fitted from
  a photographed chart (``patchsim calibrate``).

The default (:func:`inkjet_printer`) is a consumer inkjet on matte paper or matte vinyl, photographed
under daylight: paper white and ink black well inside [0, 1], dot gain darkening the mid-tones and
saturated greens, blues and cyans pulled in. ``identity`` opts out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from patchsim.checks import check_shape
from patchsim.errors import PatchsimError
from patchsim.io.text import read_user_json

# Consumer inkjet on matte paper / matte vinyl, photographed in daylight (sRGB, 0..1). Paper white
# L* ~ 93 and ink black L* ~ 17 (typical matte media: density ~1.4-1.6), dot gain as a tone-curve gamma
# of 1.2 (mid-grey 0.5 prints as ~0.46 of the range), and the saturation each primary keeps (greens,
# blues and cyans are the colours an RGB screen shows and CMYK inks cannot make).
INKJET_PAPER_WHITE = (0.91, 0.90, 0.87)
INKJET_INK_BLACK = (0.15, 0.15, 0.16)
INKJET_DOT_GAIN_GAMMA = 1.2
INKJET_SATURATION = (0.85, 0.72, 0.72)  # kept saturation of the red, green and blue output rows
LUMA = (0.2126, 0.7152, 0.0722)
GAMUT_TOLERANCE = 1.5 / 255  # a colour this close to the gamut counts as printable (8-bit rounding)


def apply_printer(x: torch.Tensor, matrix: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor,
                  gamma: torch.Tensor) -> torch.Tensor:
    """``clip(M @ (offset + gain * x ** gamma))`` per pixel. ``x`` ``(B, 3, H, W)`` in [0, 1];
    ``matrix`` ``(3, 3)``; ``gain``, ``offset``, ``gamma`` ``(3,)``. Differentiable in ``x``."""
    check_shape(x, ["B", 3, "H", "W"], "colours")
    c = lambda v: v.to(x).view(1, 3, 1, 1)  # noqa: E731
    curve = c(offset) + c(gain) * x.clamp(min=1e-6) ** c(gamma)
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), curve).clamp(0.0, 1.0)


def inkjet_parameters() -> dict:
    """The default printer's profile as a dict (matrix, gain, offset, gamma), see the module doc."""
    luma = torch.tensor(LUMA, dtype=torch.float64)
    s = torch.tensor(INKJET_SATURATION, dtype=torch.float64)
    matrix = torch.diag(s) + (1 - s)[:, None] * luma[None, :]  # rows sum to 1: greys stay grey
    black = torch.tensor(INKJET_INK_BLACK, dtype=torch.float64)
    white = torch.tensor(INKJET_PAPER_WHITE, dtype=torch.float64)
    # the curve is applied before the matrix: choose it so that M @ curve(0) = black, M @ curve(1) = white
    inv = torch.linalg.inv(matrix)
    offset = inv @ black
    gain = inv @ white - offset
    return {"matrix": matrix.tolist(), "gain": gain.tolist(), "offset": offset.tolist(),
            "gamma": [INKJET_DOT_GAIN_GAMMA] * 3}


def gamut_map(x: torch.Tensor, matrix: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Pull colours ``x`` ``(B, 3, H, W)`` into the gamut ``{M t : lo <= t <= hi}``: ``M clamp(M^-1 x)``.
    Colours inside are returned unchanged (idempotent); differentiable almost everywhere."""
    check_shape(x, ["B", 3, "H", "W"], "colours")
    inv = torch.linalg.inv(matrix.double()).to(x)
    t = torch.einsum("ij,bjhw->bihw", inv, x)
    t = torch.maximum(torch.minimum(t, hi.to(x).view(1, 3, 1, 1)), lo.to(x).view(1, 3, 1, 1))
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), t).clamp(0.0, 1.0)


class PrinterModel(nn.Module):
    """Holds a printer(-plus-camera) colour profile; the identity when built without arguments
    (:func:`inkjet_printer` is the default used by the commands). ``name`` says where it came from;
    ``mode`` is ``device`` (forward = the measured response) or ``managed`` (forward = gamut mapping
    of a colour-managed print), see the module doc."""

    def __init__(self, matrix=None, gain=None, offset=None, gamma=None, name: str = "custom", mode: str = "device"):
        super().__init__()
        if mode not in ("device", "managed"):
            raise PatchsimError(f"printer profile: mode {mode!r} must be 'device' or 'managed'")
        self.name, self.mode = name, mode
        self.register_buffer("matrix", torch.eye(3) if matrix is None else torch.as_tensor(matrix, dtype=torch.float32))
        self.register_buffer("gain", torch.ones(3) if gain is None else torch.as_tensor(gain, dtype=torch.float32))
        self.register_buffer("offset", torch.zeros(3) if offset is None else torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("gamma", torch.ones(3) if gamma is None else torch.as_tensor(gamma, dtype=torch.float32))
        shapes = dict(matrix=(3, 3), gain=(3,), offset=(3,), gamma=(3,))
        for k, s in shapes.items():
            v = getattr(self, k)
            if tuple(v.shape) != s or not torch.isfinite(v).all():
                raise PatchsimError(f"printer profile: '{k}' must be finite with shape {s}, got {tuple(v.shape)}")
        if (self.gamma <= 0).any():
            raise PatchsimError("printer profile: 'gamma' must be positive")
        if (self.gain <= 0).any():
            raise PatchsimError("printer profile: 'gain' must be positive (a printer's output grows with its input)")
        if abs(float(torch.linalg.det(self.matrix.double()))) < 1e-6:
            raise PatchsimError("printer profile: 'matrix' must be invertible")

    @property
    def is_identity(self) -> bool:
        return bool(torch.equal(self.matrix, torch.eye(3)) and (self.gain == 1).all() and (self.offset == 0).all()
                    and (self.gamma == 1).all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Printed colours of the colours ``x`` ``(B, 3, H, W)`` sent to the printer; the identity returns
        ``x`` unchanged."""
        if self.is_identity:
            return x
        if self.mode == "managed":
            return gamut_map(x, self.matrix, self.offset, self.offset + self.gain)
        return self.device(x)

    def device(self, x: torch.Tensor) -> torch.Tensor:
        """The device response: printed colour of device value ``x`` ``(B, 3, H, W)`` sent without
        colour management. Its range over [0, 1]^3 is the gamut."""
        if self.is_identity:
            return x
        return apply_printer(x, self.matrix, self.gain, self.offset, self.gamma)

    def parametrise(self, s: torch.Tensor) -> torch.Tensor:
        """The colours to send for unconstrained-in-[0, 1] optimiser values ``s`` ``(B, 3, H, W)``: for a
        colour-managed printer, points of its gamut (``device(s)``: every value of ``s`` gives a
        printable colour and every printable colour has a value); for a device profile, ``s`` itself
        (every device value prints). Differentiable."""
        return self.device(s) if self.mode == "managed" else s

    def in_gamut(self, x: torch.Tensor, tol: float = GAMUT_TOLERANCE) -> torch.Tensor:
        """Per-pixel bool ``(B, H, W)``: can the printer print colour ``x`` ``(B, 3, H, W)`` (sRGB in
        [0, 1]) to within ``tol`` per channel? Exact for this model: ``M^-1 x`` must lie between the
        tone curve's ends."""
        check_shape(x, ["B", 3, "H", "W"], "colours")
        t = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.matrix.double()).to(x), x)
        lo = self.offset.to(x).view(1, 3, 1, 1)
        hi = lo + self.gain.to(x).view(1, 3, 1, 1)
        slack = tol * torch.linalg.inv(self.matrix.double()).abs().sum(1).to(x).view(1, 3, 1, 1)
        return ((t >= lo - slack) & (t <= hi + slack)).all(1)

    def palette(self, levels: int = 6) -> torch.Tensor:
        """Printable colours ``(levels^3, 3)``: the model applied to a ``levels``-step cube of sent colours."""
        g = torch.linspace(0, 1, levels)
        grid = torch.stack(torch.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        with torch.no_grad():
            return self.device(grid.T.reshape(1, 3, -1, 1)).reshape(3, -1).T.contiguous()

    def profile(self) -> "PrinterProfile":
        """The model's parameters as a record (what attack.json keeps)."""
        return PrinterProfile(self.name, self.mode, tuple(tuple(r) for r in self.matrix.tolist()),
                              tuple(self.gain.tolist()), tuple(self.offset.tolist()), tuple(self.gamma.tolist()))

    @classmethod
    def load(cls, path: str | Path) -> "PrinterModel":
        """Read a JSON profile with keys matrix, gain, offset, gamma (and optionally fit, name)."""
        d = read_user_json(path, "printer profile")
        if not isinstance(d, dict):
            raise PatchsimError(f"printer profile {path}: expected a JSON object with matrix, gain, offset, gamma")
        unknown = set(d) - {"matrix", "gain", "offset", "gamma", "fit", "name", "mode"}
        if unknown:
            raise PatchsimError(f"printer profile {path}: unknown keys {sorted(unknown)}")
        try:
            return cls(d.get("matrix"), d.get("gain"), d.get("offset"), d.get("gamma"), name=str(path),
                       mode=d.get("mode", "device"))
        except (TypeError, ValueError, RuntimeError) as e:
            raise PatchsimError(f"printer profile {path}: {e}") from e


@dataclass(frozen=True)
class PrinterProfile:
    """A printer model's parameters as data: ``name`` (inkjet, identity or the profile file), ``mode``
    (managed | device), the 3x3 ``matrix`` and per-channel ``gain``, ``offset`` and ``gamma`` of
    :func:`apply_printer`."""

    name: str
    mode: str
    matrix: tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
    gain: tuple[float, float, float]
    offset: tuple[float, float, float]
    gamma: tuple[float, float, float]


def inkjet_printer() -> PrinterModel:
    """The default printer: consumer inkjet on matte paper or vinyl (see the module doc)."""
    p = inkjet_parameters()
    return PrinterModel(p["matrix"], p["gain"], p["offset"], p["gamma"], name="inkjet", mode="managed")


PRINTER_CHOICES = ("'inkjet' (default: consumer inkjet on matte paper), 'identity', 'vinyl' (cut solid-colour vinyl: its "
                   "colours are the material's own), or a profile JSON from patchsim calibrate")


def printer_from_spec(spec: str | None) -> PrinterModel:
    """``--printer``: None or 'inkjet' -> :func:`inkjet_printer`; 'identity' or 'vinyl' -> no printer effect; else
    a profile JSON file. An unknown name or a missing file is a one-line error."""
    if spec is None or spec == "inkjet":
        return inkjet_printer()
    if spec in ("identity", "vinyl"):  # cut vinyl: flat colours, no inks mixed, no dithering
        return PrinterModel(name=spec)
    if not Path(spec).is_file():
        raise PatchsimError(f"--printer {spec!r}: no such profile file; allowed: {PRINTER_CHOICES}")
    return PrinterModel.load(spec)
