"""RP2's mask discovery (Eykholt et al., CVPR 2018, section 4): where on the face a sticker matters,
found by an L1-regularised perturbation of the whole face optimised over the same EOT conditions, then
cut into at most ``pieces`` blobs of a given total area that a person can cut and stick. The sticker is
then optimised inside that mask like any other (``attack --mask auto[:AREA]``)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch

from patchsim.attack.config import AttackConfig, parse_mask
from patchsim.attack.eot import EOTAttack
from patchsim.errors import PatchsimError

def mask_from_saliency(saliency: np.ndarray, face: np.ndarray, area: float, pieces: int,
                       smooth_px: float = 1.5) -> np.ndarray:
    """Bool ``(N, N)``: at most ``pieces`` connected blobs of the face where ``saliency`` ``(N, N)`` (>= 0)
    is highest, together as near ``area`` of the face's pixels (``face`` ``(N, N)`` bool) as they come
    without exceeding it. The saliency is smoothed (Gaussian, ``smooth_px``) so blobs are cuttable, and
    blobs are ranked by the saliency they hold."""
    if saliency.shape != face.shape or saliency.ndim != 2:
        raise PatchsimError(f"saliency {saliency.shape} and face {face.shape} must be the same (N, N)")
    if pieces < 1:
        raise PatchsimError(f"mask pieces = {pieces} is invalid: must be at least 1")
    s = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), smooth_px) if smooth_px > 0 else saliency.astype(np.float32)
    s = np.where(face, s, 0.0)
    budget = area * float(face.sum())
    best = np.zeros_like(face, dtype=bool)
    for t in np.quantile(s[face], np.linspace(0.999, 0.0, 400)):  # from a speck to the whole face
        n, lab = cv2.connectedComponents(((s >= t) & face).astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        mass = np.bincount(lab.ravel(), weights=s.ravel(), minlength=n)[1:]
        keep = np.argsort(-mass)[:pieces] + 1
        m = np.isin(lab, keep)
        if m.sum() > budget:
            break
        best = m
    if not best.any():
        raise PatchsimError(f"mask area {area:g} is too small for the face at {face.shape[0]} px: not one pixel fits")
    return best


def search_mask(scene, model, cfg: AttackConfig, printer=None, device="auto", progress: bool = False) -> np.ndarray:
    """RP2's first stage for ``cfg`` (``cfg.mask`` auto): a whole-face poster perturbation (L-inf 0.5,
    L1 weight ``cfg.mask_l1``: without it Adam moves every pixel alike and the change says little) optimised ``cfg.mask_steps`` steps over the scene's EOT conditions for
    ``model``'s goal, its per-pixel size summed over colour channels as the saliency, cut by
    :func:`mask_from_saliency`. Returns the mask, bool ``(N, N)`` over the face's bounding square
    (``N`` = ``cfg.face_resolution``)."""
    area = parse_mask(cfg.mask)
    if area is None:
        raise PatchsimError("search_mask needs cfg.mask = auto[:AREA]")
    stage = dataclasses.replace(cfg, mode="poster", norm="linf", eps=0.5, style="inkjet", vinyl_palette=None,
                                init_sticker=None, keep_legend=False, mask="scene", steps=cfg.mask_steps,
                                val_every=cfg.mask_steps, val_size=min(cfg.val_size, 32), early_stop=1.0,
                                plateau_patience=0, nps_weight=0.0, tv_weight=0.0, l1_weight=cfg.mask_l1)
    attack = EOTAttack(scene, model, stage, printer=printer, device=device)
    result = attack.run(progress=progress)
    delta = (result.sticker - attack.clean.cpu()).abs().sum(1)[0].numpy()
    face = attack.mask.cpu()[0, 0].numpy() > 0.5
    return mask_from_saliency(delta, face, area, cfg.mask_pieces)
