"""Black level: flare and haze lifting the darks, or a camera tone curve crushing them. The displayed
signal ``y`` becomes ``clip(b + (1 - b) * y)`` with ``b`` = ``black_level`` (fraction of full scale; a
negative level is a contrast stretch that crushes the darks, as many cameras' tone curves do). REAP-style
ranges fitted to real photographed signs come from ``bench/fit_realism.py`` (attacker photos only); the
default is the identity.

Applied on the displayed sRGB signal after the tone curve and gamma, before a real photo's colour
response and JPEG (:data:`~patchsim.effects.spec.STAGES` ``srgb``)."""

from __future__ import annotations

import numpy as np
import torch

from patchsim.effects.spec import Effect, EffectField


def render(y: torch.Tensor, black_level: torch.Tensor) -> torch.Tensor:
    """``y`` ``(B, 3, H, W)`` float sRGB in [0, 1] lifted by ``black_level`` ``(B,)``; ``y`` itself when
    every level is 0. Differentiable."""
    if not bool((black_level != 0).any()):
        return y
    b = black_level.to(y).view(-1, 1, 1, 1)
    return (b + (1 - b) * y).clamp(0.0, 1.0)


def simulate(y: np.ndarray, black_level: float) -> np.ndarray:
    """``y`` ``(H, W, 3)`` uint8 sRGB lifted by ``black_level``, rounded to uint8; ``y`` itself at 0."""
    black = float(black_level)
    if not black:
        return y
    return np.clip(np.round(black * 255 + (1 - black) * y.astype(np.float32)), 0, 255).astype(np.uint8)


EFFECT = Effect(
    name="black_level", section="camera_effects", stage="srgb", realism=True,
    fields=(EffectField("black_level", (0.0, 0.0), (-0.5, 0.5), 0.0,
                        "flare and haze lifting the darks: output = black + (1 - black) * signal, fraction of full scale"),),
    render=render, simulate=simulate,
    doc="black level (flare and haze lifting the darks: output = black + (1 - black) * signal, fraction of full scale)")
