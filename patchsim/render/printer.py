"""Printer colour model: what colour a sticker pixel really has once printed.

``PrinterModel`` maps intended sRGB colours ``(B, 3, H, W)`` in [0, 1] to printed sRGB colours, as a
per-channel tone curve (gain, offset, gamma) followed by a 3x3 colour matrix, then clipped to [0, 1].
The default is the identity; a calibrated profile (``patchsim calibrate``) fills in the parameters."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from patchsim.checks import check_shape
from patchsim.errors import PatchsimError


def apply_printer(x: torch.Tensor, matrix: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor,
                  gamma: torch.Tensor) -> torch.Tensor:
    """``clip(M @ (offset + gain * x ** gamma))`` per pixel. ``x`` ``(B, 3, H, W)`` in [0, 1];
    ``matrix`` ``(3, 3)``; ``gain``, ``offset``, ``gamma`` ``(3,)``. Differentiable in ``x``."""
    check_shape(x, ["B", 3, "H", "W"], "colours")
    c = lambda v: v.to(x).view(1, 3, 1, 1)  # noqa: E731
    curve = c(offset) + c(gain) * x.clamp(min=1e-6) ** c(gamma)
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), curve).clamp(0.0, 1.0)


class PrinterModel(nn.Module):
    """Holds a printer(-plus-camera) colour profile; identity by default."""

    def __init__(self, matrix=None, gain=None, offset=None, gamma=None):
        super().__init__()
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

    @property
    def is_identity(self) -> bool:
        return bool(torch.equal(self.matrix, torch.eye(3)) and (self.gain == 1).all() and (self.offset == 0).all()
                    and (self.gamma == 1).all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Printed colours of intended colours ``x`` ``(B, 3, H, W)``; identity returns ``x`` unchanged."""
        if self.is_identity:
            return x
        return apply_printer(x, self.matrix, self.gain, self.offset, self.gamma)

    @classmethod
    def load(cls, path: str | Path) -> "PrinterModel":
        """Read a JSON profile with keys matrix, gain, offset, gamma."""
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise PatchsimError(f"cannot read printer profile {path}: {e}") from e
        unknown = set(d) - {"matrix", "gain", "offset", "gamma", "fit"}
        if unknown:
            raise PatchsimError(f"printer profile {path}: unknown keys {sorted(unknown)}")
        return cls(d.get("matrix"), d.get("gain"), d.get("offset"), d.get("gamma"))
