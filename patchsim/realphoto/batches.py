"""Real photos in the optimiser's batches (RP2's method, REAP's placement): the printed sticker is
warped onto attacker photos of real signs by each sign's homography, relit with the sign's own light
and blurred like the photo, differentiably, then cropped like the simulator's detector.

Everything that does not depend on the sticker (locating the sign, its light and blur, the clean
supersampled detector crop, the homography into it) is computed once by :func:`prepare_real_photos`;
:func:`composite_real` only applies it."""

from __future__ import annotations

import dataclasses

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from patchsim.errors import PatchsimError
from patchsim.realphoto.views import model_light, view_sign
from patchsim.realphoto.placement import BLUR_SIGMAS_PX, FacePyramid
from patchsim.realphoto.sources import photo_source
from patchsim.render.crop import detector_crop
from patchsim.render.camera import defocus_blur
from patchsim.render.fragments import rasterize_sign, sample_face_mip
from patchsim.signs import draw_face_array

log = logging.getLogger(__name__)
MAX_RELIGHT_RMSE = 0.15  # attacker signs that no relighting model fits better than this (sRGB RMS) are left out
LUT_SAMPLES = 129  # samples per channel of a sign's light in the optimiser's batches


@dataclass(frozen=True)
class RealPhotoBatch:
    """K attacker photos ready for the optimiser. ``clean`` ``(K, 3, S, S)`` float32 sRGB [0, 1]: the
    detector crops supersampled (``S`` = crop size x ``supersample``); ``grid_from_face`` ``(K, 3, 3)``:
    face uv -> crop-grid pixels (centres at integers); ``relight`` ``(K, 3, L)`` each entry's light as a
    per-channel table: the colour of design value ``j / (L - 1)`` (:data:`LUT_SAMPLES` samples);
    ``blur_px`` ``(K,)`` Gaussian sigma in grid pixels; ``names`` the entries ("sign" or "sign@model" when
    each sign comes once per relighting model)."""

    clean: torch.Tensor
    grid_from_face: torch.Tensor
    relight: torch.Tensor
    blur_px: torch.Tensor
    supersample: int
    margin: float
    names: tuple

    def __len__(self) -> int:
        return self.clean.shape[0]

    def to(self, device: torch.device | str) -> "RealPhotoBatch":
        """The batch with its tensors on ``device``."""
        return dataclasses.replace(self, clean=self.clean.to(device), grid_from_face=self.grid_from_face.to(device),
                                   relight=self.relight.to(device), blur_px=self.blur_px.to(device))


def real_relight_models(relight: str) -> tuple[str, ...]:
    """The relighting models the optimiser's real photos take: ``validated`` gives every model that
    passed validation and maps colours channel by channel (:mod:`patchsim.realphoto.relight_choice`), so
    the sticker is aimed at the worst plausible light; a model name gives that model alone."""
    from patchsim.realphoto.relight_choice import band_models

    _, models = band_models(relight)
    per_channel = tuple(m for m in models if m != "reap_lab")
    if not per_channel:
        raise PatchsimError(f"--real-relight {relight}: no per-channel relighting model to draw from (reap_lab is not one)")
    return per_channel


def prepare_real_photos(source: str, crop_size: int, margin: float, supersample: int = 2, relight: str = "validated",
                        sign: str = "stop", annotations: str | None = None) -> RealPhotoBatch:
    """Locate, light and crop every sign of ``source`` (see :func:`patchsim.realphoto.sources.photo_source`;
    named scoring sets are refused: they are what stickers are judged on). With several relighting
    models (``relight`` = ``validated``, see :func:`real_relight_models`) every sign comes once per model."""
    from patchsim.realphoto.sources import NAMED

    if NAMED.get(source) == "scoring":
        attackers = [k for k, v in NAMED.items() if v == "attacker"]
        raise PatchsimError(f"--real-photos {source!r} is a scoring set (stickers are judged on it); use an attacker "
                            f"set ({', '.join(attackers)}) or your own folder")
    models = real_relight_models(relight)
    signs = photo_source(source, annotations)
    face = FacePyramid(draw_face_array(sign, 1024))
    n = crop_size * supersample
    grid = np.linspace(0.0, 1.0, LUT_SAMPLES)[:, None].repeat(3, 1)
    clean, grids, luts, blurs, names = [], [], [], [], []
    for sp in signs:
        v = view_sign(sp, face, sign, models[0], margin)
        if isinstance(v, str):
            continue
        photo, h, light = v.photo, v.img_from_face, v.light
        lights = {m: light if m == models[0] else model_light(sp, v, face, sign, m) for m in models}
        fits_best = min(lt.relight.rmse for lt in lights.values())
        if fits_best > MAX_RELIGHT_RMSE or light.blur_px >= BLUR_SIGMAS_PX[-1]:
            continue  # no model maps the design onto the photo (a wrong box, an occluded sign): skip it
        x, y, s = v.box
        scale = n / s
        grid_from_img = np.array([[scale, 0, -x * scale - 0.5], [0, scale, -y * scale - 0.5], [0, 0, 1]])
        g = grid_from_img @ h
        g = g / g[2, 2] if abs(g[2, 2]) > 1e-12 else g
        if g[2] @ np.array([0.5, 0.5, 1.0]) < 0:  # the third row must be positive on the face
            g = -g
        crop = detector_crop(photo, (x, y, s), n)
        for m in models:
            lm = lights[m]
            clean.append(crop)
            grids.append(g)
            luts.append(np.asarray(lm.relight(grid), np.float64).T)
            blurs.append(light.blur_px * scale)
            names.append(sp.name if len(models) == 1 else f"{sp.name}@{m}")
    if not names:
        raise PatchsimError(f"--real-photos {source}: no sign could be located in its {len(signs)} photos")
    log.info("real photos: %d entries (%d models) from %d signs of %s ready for the optimiser", len(names), len(models),
             len(signs), source)
    return RealPhotoBatch(torch.from_numpy(np.stack(clean)).permute(0, 3, 1, 2).float() / 255,
                          torch.tensor(np.stack(grids), dtype=torch.float32),
                          torch.tensor(np.stack(luts), dtype=torch.float32),
                          torch.tensor(blurs, dtype=torch.float32), supersample, margin, tuple(names))


def relight_colours(x: torch.Tensor, luts: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel colour map by table: ``x`` ``(1|B, 3, H, W)`` in [0, 1], ``luts``
    ``(B, 3, L)`` the colour of design value ``j / (L - 1)`` -> ``(B, 3, H, W)`` clipped to [0, 1],
    linear between samples. Differentiable in ``x``."""
    b, _, lsz = luts.shape
    pos = x.clamp(0, 1).expand(b, -1, -1, -1) * (lsz - 1)
    lo = pos.floor().clamp(max=lsz - 2)
    w = pos - lo
    t = luts.to(x)
    flat = lambda idx: torch.gather(t, 2, idx.long().reshape(b, 3, -1)).reshape(pos.shape)  # noqa: E731
    return (flat(lo) * (1 - w) + flat(lo + 1) * w).clamp(0, 1)


def composite_real(batch: RealPhotoBatch, idx: torch.Tensor, printed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Detector crops ``(b, 3, S / supersample, S / supersample)`` of photos ``idx`` ``(b,)`` with the
    sticker stuck on: ``printed`` ``(1, 3, N, N)`` its printed colours over the face's bounding square,
    ``mask`` ``(1, 1, N, N)`` where it is stuck. Relit, warped, blurred, composited over the clean
    crop, area-downsampled. Differentiable in ``printed``."""
    idx = idx.to(batch.clean.device)
    b = idx.shape[0]
    n = batch.clean.shape[-1]
    rgb = relight_colours(printed, batch.relight[idx]) * mask
    tex = torch.cat([rgb, mask.expand(b, -1, -1, -1)], 1)  # premultiplied RGBA
    frags = rasterize_sign(batch.grid_from_face[idx].to(printed), n, n)
    footprint = torch.full((b,), n / (1 + 2 * batch.margin), device=printed.device)
    st = sample_face_mip(tex, frags.uv, footprint) * frags.in_front
    st = defocus_blur(st, batch.blur_px[idx].to(printed))
    out = st[:, :3] + batch.clean[idx].to(printed) * (1 - st[:, 3:])
    return F.avg_pool2d(out, batch.supersample) if batch.supersample > 1 else out
