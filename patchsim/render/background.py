"""Backgrounds behind the sign: procedural sky, tree line and road, or user photos.

A background is a texture covering the whole camera frame, ``(B, 3, h, w)`` linear RGB in [0, 1], chosen or
generated from each frame's ``background_seed``; renderers sample it at frame pixel coordinates, so a
classifier crop sees exactly the part of the frame behind the sign. The horizon lies at the image
centre row (the camera looks level)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from patchsim.checks import check_shape

TEX_H, TEX_W = 144, 256
CACHE_SIZE = 256  # procedural textures kept per Background (about 110 MB at most)


def _noise(g: torch.Generator, h: int, w: int, octaves: list[tuple[int, float]]) -> torch.Tensor:
    """Smooth value noise ``(1, 1, h, w)`` in about [-1, 1]: sum of bicubically upsampled random grids,
    ``cells`` cells down the image (1 for a single row) and proportionally many across."""
    out = torch.zeros(1, 1, h, w)
    for cells, amp in octaves:
        across = max(2, cells * w // h) if h > 1 else cells
        grid = torch.rand(1, 1, max(1, cells if h > 1 else 1), across, generator=g) * 2 - 1
        out += amp * F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
    return out


def procedural_background(seed: int, height: int = TEX_H, width: int = TEX_W) -> torch.Tensor:
    """One procedural roadside scene ``(3, height, width)`` linear RGB in [0, 1] from an integer seed: sky
    with clouds, an uneven tree line above the horizon, a two-lane asphalt road in perspective (camera
    1.4 m up in the right lane, 16:9 frame) and grass verges."""
    g = torch.Generator().manual_seed(int(seed))
    y = torch.linspace(0, 1, height).view(1, 1, height, 1).expand(1, 1, height, width)
    x = torch.linspace(0, 1, width).view(1, 1, 1, width).expand(1, 1, height, width)
    r = lambda lo, hi: lo + (hi - lo) * float(torch.rand((), generator=g))  # noqa: E731
    sky_top = torch.tensor([r(0.25, 0.45), r(0.45, 0.6), r(0.75, 0.95)]).view(1, 3, 1, 1)
    sky_low = torch.tensor([r(0.7, 0.85), r(0.8, 0.9), r(0.85, 0.97)]).view(1, 3, 1, 1)
    t = (y / 0.5).clamp(0, 1)
    sky = sky_top * (1 - t) + sky_low * t
    clouds = (_noise(g, height, width, [(3, 0.6), (6, 0.3), (12, 0.15)]) + r(-0.4, 0.2)).clamp(0, 1)
    sky = sky * (1 - 0.8 * clouds) + 0.95 * 0.8 * clouds
    tree_top = 0.5 - (r(0.05, 0.2) + 0.05 * _noise(g, 1, width, [(6, 1.0), (24, 0.5), (80, 0.25)]).expand(1, 1, height, width))
    leaf = torch.tensor([r(0.12, 0.25), r(0.25, 0.4), r(0.08, 0.18)]).view(1, 3, 1, 1)
    foliage = leaf * (1 + 0.5 * _noise(g, height, width, [(20, 0.6), (45, 0.4), (90, 0.3)]))
    grass = torch.tensor([r(0.25, 0.4), r(0.35, 0.5), r(0.15, 0.25)]).view(1, 3, 1, 1)
    grass = grass * (1 + 0.25 * _noise(g, height, width, [(30, 0.5), (90, 0.5)]))
    asphalt = r(0.28, 0.42) * (1 + 0.12 * _noise(g, height, width, [(40, 0.5), (120, 0.5)])).expand(1, 3, height, width)
    # ground point at lateral X (m) appears at x - 0.5 = (X / 1.4) * (y - 0.5) * 9 / 16
    slope = (y - 0.5).clamp(min=0) * (9 / 16) / 1.4
    road = ((x - 0.5 > slope * r(-6.0, -4.5)) & (x - 0.5 < slope * r(1.5, 2.0))).float()
    ground = asphalt * road + grass * (1 - road)
    soft = lambda d: torch.sigmoid(d * 400)  # noqa: E731
    above_trees = soft(tree_top - y)
    below_horizon = soft(y - 0.5)
    img = sky * above_trees + foliage * (1 - above_trees)
    img = img * (1 - below_horizon) + ground * below_horizon
    return (img[0].clamp(0, 1) ** 2.2)  # colours above were picked in sRGB


class Background(nn.Module):
    """Background settings: ``kind`` "procedural" or "images" with ``images`` ``(K, 3, h, w)`` linear RGB."""

    def __init__(self, kind: str = "procedural", images: torch.Tensor | None = None):
        super().__init__()
        if kind not in ("procedural", "images"):
            raise ValueError(f"background kind must be 'procedural' or 'images', got {kind!r}")
        if kind == "images":
            if images is None:
                raise ValueError("background kind 'images' needs an images tensor (K, 3, h, w)")
            check_shape(images, ["K", 3, "h", "w"], "background images")
        self.kind = kind
        self._cache: dict[int, torch.Tensor] = {}
        self.register_buffer("images", images if images is not None else torch.zeros(0, 3, 1, 1), persistent=False)

    def textures(self, seeds: torch.Tensor) -> torch.Tensor:
        """Background textures ``(B, 3, h, w)`` linear RGB for int64 ``seeds`` ``(B,)``; deterministic.
        Procedural textures are cached by seed (the EOT sampler draws from a pool of seeds)."""
        if self.kind == "images":
            return self.images[(seeds % self.images.shape[0]).to(self.images.device)]
        out = []
        for s in seeds.tolist():
            tex = self._cache.pop(s, None)
            if tex is None:
                tex = procedural_background(s).to(self.images.device)
            self._cache[s] = tex  # most recently used last
            out.append(tex)
        while len(self._cache) > CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        return torch.stack(out)


def sample_background(textures: torch.Tensor, frame_xy: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
    """Sample frame-covering textures ``(B, 3, h, w)`` at frame pixel positions ``frame_xy``
    ``(B, H, W, 2)`` (pixel centres at integers) of a ``frame_hw`` frame: ``(B, 3, H, W)``; positions
    outside the frame repeat the border."""
    fh, fw = frame_hw
    norm = torch.stack([(frame_xy[..., 0] + 0.5) / fw, (frame_xy[..., 1] + 0.5) / fh], -1) * 2 - 1
    return F.grid_sample(textures, norm.to(textures), mode="bilinear", padding_mode="border", align_corners=False)
