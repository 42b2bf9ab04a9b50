"""Lighting: turns sign albedo into linear radiance under ambient light, a directional sun against the
sign normal, a soft cast shadow, a specular glare spot and the light's colour temperature.

Images here are linear RGB ``(B, 3, H, W)`` float32 (>= 0, may exceed 1 before the camera clips);
``uv`` is ``(B, H, W, 2)`` face coordinates. With ambient = 1, sun = 0, glare = 0, shadow = 0 and
6500 K the radiance equals the albedo."""

from __future__ import annotations

import torch

from patchsim.checks import check_shape
from patchsim.render.conditions import Conditions


def _col(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 1, 1)


def white_balance(color_temp_k: torch.Tensor) -> torch.Tensor:
    """RGB gains ``(B, 3)`` of a black-body light at ``color_temp_k`` (K) relative to 6500 K, as an
    uncorrected camera sees it (Planck's law sampled at 610, 550, 465 nm; green gain kept at 1)."""
    lam = torch.tensor([610e-9, 550e-9, 465e-9], dtype=torch.float64, device=color_temp_k.device)
    c2 = 1.4388e-2

    def planck(t: torch.Tensor) -> torch.Tensor:
        return 1.0 / (lam**5 * torch.expm1(c2 / (lam * t[:, None].double())))

    rel = planck(color_temp_k) / planck(torch.full_like(color_temp_k, 6500.0))
    return (rel / rel[:, 1:2]).to(color_temp_k.dtype)


def sun_cosine(cond: Conditions) -> torch.Tensor:
    """Cosine ``(B,)`` between the sun direction and the sign normal, clipped at 0 (sun behind the sign)."""
    az, el = torch.deg2rad(cond.sun_azimuth_deg), torch.deg2rad(cond.sun_elevation_deg)
    return (torch.cos(az) * torch.cos(el)).clamp(min=0.0)


def shadow_factor(uv: torch.Tensor, cond: Conditions) -> torch.Tensor:
    """Fraction of sunlight reaching each face point ``(B, 1, H, W)`` in [0, 1]: a soft-edged half-plane
    shadow across the face at ``shadow_angle_deg``, ``shadow_offset`` from the centre, blocking
    ``shadow`` of the sun."""
    a = torch.deg2rad(cond.shadow_angle_deg)
    n = torch.stack([torch.cos(a), torch.sin(a)], -1)[:, None, None, :]
    s = ((uv - 0.5) * n).sum(-1, keepdim=True).permute(0, 3, 1, 2)
    inside = torch.sigmoid((s - _col(cond.shadow_offset)) / _col(cond.shadow_softness))
    return 1.0 - _col(cond.shadow) * inside


def glare_spot(uv: torch.Tensor, cond: Conditions) -> torch.Tensor:
    """Specular glare radiance ``(B, 1, H, W)``: a Gaussian spot of peak ``glare`` centred at
    (``glare_u``, ``glare_v``) with std ``glare_radius`` in face units."""
    c = torch.stack([cond.glare_u, cond.glare_v], -1)[:, None, None, :]
    d2 = ((uv - c) ** 2).sum(-1, keepdim=True).permute(0, 3, 1, 2)
    return _col(cond.glare) * torch.exp(-d2 / (2 * _col(cond.glare_radius) ** 2))


def shade_sign(albedo: torch.Tensor, uv: torch.Tensor, cond: Conditions) -> torch.Tensor:
    """Linear radiance ``(B, 3, H, W)`` of the sign face.

    ``albedo * (ambient + sun * cos * shadow) * wb + glare * wb``, with ``albedo`` linear RGB in [0, 1]
    ``(B, 3, H, W)`` and ``uv`` ``(B, H, W, 2)``. Non-decreasing in ``ambient`` and ``sun``."""
    check_shape(albedo, ["B", 3, "H", "W"], "albedo")
    check_shape(uv, [albedo.shape[0], albedo.shape[2], albedo.shape[3], 2], "uv")
    wb = white_balance(cond.color_temp_k).to(albedo)[:, :, None, None]
    irradiance = _col(cond.ambient) + _col(cond.sun * sun_cosine(cond)) * shadow_factor(uv, cond)
    return (albedo * irradiance + glare_spot(uv, cond)) * wb


def shade_background(albedo: torch.Tensor, cond: Conditions) -> torch.Tensor:
    """Linear radiance ``(B, 3, H, W)`` of the background: ambient plus half the sun (surfaces facing
    every way), tinted by the colour temperature."""
    check_shape(albedo, ["B", 3, "H", "W"], "background")
    wb = white_balance(cond.color_temp_k).to(albedo)[:, :, None, None]
    return albedo * _col(cond.ambient + 0.5 * cond.sun) * wb
