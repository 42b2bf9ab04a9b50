"""Rectangular occlusion attacks (ROA, Wu et al. ICLR 2020 "Defending against physically realizable
attacks"): a rectangle of free colour at the place where the model's loss is most sensitive, filled by
a few steps of signed gradient ascent. Used inside adversarial fine-tuning (:mod:`patchsim.jobs.harden`)
and as the fixed attack that measures robustness.

Images are ``(B, 3, H, W)`` float32 RGB in [0, 1]; rectangles are given in pixels (top, left, height,
width), integer-aligned."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from patchsim.checks import check_shape
from patchsim.errors import PatchsimError


def rect_mask(top: torch.Tensor, left: torch.Tensor, h: int, w: int, size_hw: tuple[int, int]) -> torch.Tensor:
    """Masks ``(B, 1, H, W)`` float32, 1 inside the ``h`` x ``w`` rectangle whose top-left pixel is
    (``top``, ``left``) ``(B,)`` int64, 0 elsewhere (rectangles are clipped to the image)."""
    H, W = size_hw
    rows = torch.arange(H, device=top.device)[None, :, None]
    cols = torch.arange(W, device=top.device)[None, None, :]
    t, lft = top[:, None, None], left[:, None, None]
    inside = (rows >= t) & (rows < t + h) & (cols >= lft) & (cols < lft + w)
    return inside[:, None].float()


def most_sensitive_place(grad: torch.Tensor, h: int, w: int, stride: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """DOA's gradient-based search: the top-left corner ``(top, left)`` ``(B,)`` int64 of the ``h`` x ``w``
    window (on a ``stride``-pixel grid) holding the largest sum of squared input gradient ``grad``
    ``(B, C, H, W)``."""
    check_shape(grad, ["B", "C", "H", "W"], "gradient")
    H, W = grad.shape[-2:]
    if not (1 <= h <= H and 1 <= w <= W):
        raise PatchsimError(f"rectangle {h}x{w} does not fit a {H}x{W} image")
    energy = (grad.detach() ** 2).sum(1, keepdim=True)
    window = F.avg_pool2d(energy, (h, w), stride=stride)  # (B, 1, rows, cols), top-left on the stride grid
    cols = window.shape[-1]
    best = window.flatten(1).argmax(1)
    return (best // cols) * stride, (best % cols) * stride


def roa_attack(model, x: torch.Tensor, y: torch.Tensor, h: int, w: int, steps: int = 7, step_size: float = 0.15,
               stride: int = 2, generator: torch.Generator | None = None,
               target: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rectangular occlusion attack on ``model`` (logits ``(B, K)`` from images). The rectangle goes
    where the cross-entropy's input gradient is largest (:func:`most_sensitive_place`), starts from
    uniform random colours (``generator``, on the CPU) and takes ``steps`` signed-gradient steps of
    ``step_size`` raising the loss of label ``y`` ``(B,)`` (or, with ``target`` ``(B,)``, lowering the
    target's). Returns (adversarial images ``(B, 3, H, W)`` in [0, 1], rectangle masks ``(B, 1, H, W)``).
    The model's mode and parameters are left as they are; no parameter gradient is kept."""
    check_shape(x, ["B", 3, "H", "W"], "images")
    x = x.detach()
    with torch.enable_grad():
        probe = x.clone().requires_grad_(True)
        g0, = torch.autograd.grad(F.cross_entropy(model(probe), y), probe)
    top, left = most_sensitive_place(g0, h, w, stride)
    mask = rect_mask(top, left, h, w, x.shape[-2:])
    fill = torch.rand(x.shape, generator=generator).to(x)
    for _ in range(steps):
        with torch.enable_grad():
            fill = fill.detach().requires_grad_(True)
            logits = model(x * (1 - mask) + fill * mask)
            loss = -F.cross_entropy(logits, target) if target is not None else F.cross_entropy(logits, y)
            grad, = torch.autograd.grad(loss, fill)
        fill = (fill + step_size * grad.sign()).clamp(0, 1)
    return (x * (1 - mask) + fill.detach() * mask), mask


def cutout(x: torch.Tensor, n_max: int, side: tuple[int, int], p: float, generator: torch.Generator,
           fill: float = 0.5) -> torch.Tensor:
    """Grey squares (value ``fill``) on a fraction ``p`` of images ``(B, 3, H, W)``: 1 to ``n_max`` squares
    each, sides drawn from ``side`` (pixels, inclusive), anywhere in the image (the masks of
    :class:`~patchsim.defences.PatchCleanser` look like this: a model fine-tuned on them keeps its
    prediction under masking). Draws on the CPU ``generator``."""
    b, _, H, W = x.shape
    out = x.clone()
    chosen = torch.rand(b, generator=generator) < p
    for _ in range(n_max):
        s = int(torch.randint(side[0], side[1] + 1, (1,), generator=generator))
        top = torch.randint(0, H - s + 1, (b,), generator=generator).to(x.device)
        left = torch.randint(0, W - s + 1, (b,), generator=generator).to(x.device)
        m = rect_mask(top, left, s, s, (H, W)) * chosen.to(x)[:, None, None, None]
        out = out * (1 - m) + fill * m
        chosen = chosen & (torch.rand(b, generator=generator) < 0.5)  # a second square on half of them
    return out
