"""White-balance error: the camera's estimate of the light's colour is off, so the red and blue channels
come out with linear gains ``wb_red`` / ``wb_blue`` relative to green. REAP-style ranges fitted to real
photographed signs come from ``bench/fit_realism.py`` (attacker photos only); the default is the identity.

Applied on linear light after exposure, before clipping (:data:`~patchsim.effects.spec.STAGES` ``linear``)."""

from __future__ import annotations

import numpy as np
import torch

from patchsim.effects.spec import Effect, EffectField


def render(x: torch.Tensor, wb_red: torch.Tensor, wb_blue: torch.Tensor) -> torch.Tensor:
    """``x`` ``(B, 3, H, W)`` float linear RGB times the gains ``(wb_red, 1, wb_blue)`` per frame (``(B,)``
    each); ``x`` itself when every gain is 1. Differentiable."""
    if bool(((wb_red == 1) & (wb_blue == 1)).all()):
        return x
    return x * torch.stack([wb_red, torch.ones_like(wb_red), wb_blue], 1).to(x)[:, :, None, None]


def simulate(x: np.ndarray, wb_red: float, wb_blue: float) -> np.ndarray:
    """``x`` ``(H, W, 3)`` float32 linear RGB times the gains ``(wb_red, 1, wb_blue)``; ``x`` itself when
    both are 1."""
    if wb_red == 1 and wb_blue == 1:
        return x
    return x * np.array([wb_red, 1.0, wb_blue], np.float32)


EFFECT = Effect(
    name="white_balance", section="camera_effects", stage="linear", realism=True,
    fields=(EffectField("wb_red", (1.0, 1.0), (0.3, 3.0), 1.0, "linear gain of the red channel relative to green"),
            EffectField("wb_blue", (1.0, 1.0), (0.3, 3.0), 1.0, "linear gain of the blue channel relative to green")),
    render=render, simulate=simulate,
    doc="white-balance error (wb_red, wb_blue: linear gains of red and blue relative to green)")
