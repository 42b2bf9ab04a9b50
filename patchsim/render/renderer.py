"""The renderer: applies :class:`Conditions` to a sign face (with a sticker) and returns camera frames
or classifier crops. It draws no randomness of its own.

Stages: geometry (pose -> homography) -> fragments (uv, coverage) -> printer + shading -> compositing
over the background -> area downsampling of the supersampled grid -> camera effects."""

from __future__ import annotations

import functools

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_linear_rgb
from torch import nn

from patchsim.checks import check_finite, check_shape
from patchsim.effects import effects_in
from patchsim.errors import SignNotVisibleError
from patchsim.render import camera as cam
from patchsim.render import geometry as geo
from patchsim.render.background import Background, sample_background
from patchsim.render.conditions import Conditions
from patchsim.render.fragments import pixel_grid, rasterize_sign, sample_face_mip
from patchsim.render.photo_response import apply_photo_response
from patchsim.printing.printer import PrinterModel
from patchsim.render.shading import shade_background, shade_sign
from patchsim.scene import CameraConfig, CropConfig

POST_GREY = 0.45  # post albedo (linear)


@dataclass(frozen=True)
class RenderOutput:
    """images ``(B, 3, H, W)`` sRGB in [0, 1]; corners ``(B, 4, 2)`` face-square corners (TL, TR, BR, BL)
    in frame pixels; boxes ``(B, 4)`` detector boxes (left, top, width, height) in frame pixels (crops
    only, else None)."""

    images: torch.Tensor
    corners: torch.Tensor
    boxes: torch.Tensor | None = None


def composite_sticker(face: torch.Tensor, sticker: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Face RGBA ``(1|B, 4, N, N)`` with ``sticker`` RGB ``(1|B, 3, N, N)`` pasted where ``mask``
    ``(1, 1, N, N)`` is set: ``rgb * (1 - m) + sticker * m``; alpha unchanged. The gradient with respect
    to ``sticker`` is ``m`` times the upstream gradient: exactly zero outside the mask."""
    check_shape(face, ["Bf", 4, "N", "N"], "face")
    n = face.shape[-1]
    check_shape(sticker, ["Bs", 3, n, n], "sticker")
    check_shape(mask, [1, 1, n, n], "sticker mask")
    rgb = face[:, :3] * (1 - mask) + sticker * mask
    return torch.cat([rgb, face[:, 3:].expand(rgb.shape[0], -1, -1, -1)], 1)


class Renderer(nn.Module):
    """Holds the settings of one scene's rendering: face texture ``(1, 4, N, N)``, sticker mask
    ``(1, 1, N, N)``, sign size (m), camera, crop settings, printer model, background and the width of
    the sign post in metres (0: no post)."""

    def __init__(self, face: torch.Tensor, sticker_mask: torch.Tensor, size_m: float, camera: CameraConfig,
                 crop: CropConfig, printer: PrinterModel | None = None, background: Background | None = None,
                 post_width_m: float = 0.0):
        super().__init__()
        if face.dim() == 3:
            face = face[None]
        if sticker_mask.dim() == 3:
            sticker_mask = sticker_mask[None]
        check_shape(face, [1, 4, "N", "N"], "face")
        check_shape(sticker_mask, [1, 1, face.shape[-1], face.shape[-1]], "sticker mask")
        self.register_buffer("face", face.float())
        self.register_buffer("sticker_mask", sticker_mask.float())
        self.size_m = float(size_m)
        self.camera = camera
        self.crop = crop
        self.printer = printer or PrinterModel()
        self.background = background or Background()
        self.post_width_m = float(post_width_m)

    @classmethod
    def from_scene(cls, scene, face_resolution: int = 256, printer: PrinterModel | None = None) -> "Renderer":
        """Build a renderer from a :class:`patchsim.scene.Scene` (face, mask, camera, crop, background)."""
        from patchsim.render.scene_assets import background_for
        from patchsim.signs import load_face, sticker_mask

        return cls(load_face(scene, face_resolution), sticker_mask(scene, face_resolution), scene.sign.size_m,
                   scene.camera, scene.crop, printer, background_for(scene), scene.sign.post_width_m)

    def with_sticker_mask(self, mask: torch.Tensor) -> "Renderer":
        """A renderer like this one whose sticker covers ``mask`` ``(1, 1, N, N)`` in [0, 1] (e.g. the
        whole face for a poster); this renderer is unchanged, the other buffers are shared."""
        import copy

        n = self.face_resolution
        if mask.dim() == 3:
            mask = mask[None]
        check_shape(mask, [1, 1, n, n], "sticker mask")
        other = copy.copy(self)
        other._buffers = dict(self._buffers)
        other._modules = dict(self._modules)
        other.register_buffer("sticker_mask", mask.float().to(self.face.device))
        return other

    @property
    def face_resolution(self) -> int:
        return self.face.shape[-1]

    def textured_face(self, sticker: torch.Tensor | None) -> torch.Tensor:
        """The face RGBA ``(1|B, 4, N, N)`` with the printed sticker applied (``None``: clean face).
        ``sticker`` is ``(3, N, N)`` or ``(1|B, 3, N, N)`` sRGB in [0, 1]."""
        if sticker is None:
            return self.face
        if sticker.dim() == 3:
            sticker = sticker[None]
        check_finite(sticker, "sticker")
        return composite_sticker(self.face, self.printer(sticker), self.sticker_mask)

    def check_visible(self, cond: Conditions) -> None:
        """Raise :class:`SignNotVisibleError` for frames whose sign is behind the camera or out of frame."""
        bad = geo.visibility(cond, self.camera, self.size_m)
        if bad:
            raise SignNotVisibleError(bad)

    def _sign_layer(self, face: torch.Tensor, img_from_g: torch.Tensor, cond: Conditions, h: int, w: int,
                    footprint_px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Premultiplied linear radiance ``(B, 3, h, w)`` and coverage ``(B, 1, h, w)`` of the sign and its
        post on an output grid whose pixel indices map to frame pixels by ``img_from_g``;
        ``footprint_px`` ``(B,)``: grid pixels across each face (picks each image's mip level)."""
        grid_from_face = torch.linalg.inv(img_from_g) @ geo.img_from_face(cond, self.camera, self.size_m)
        frags = rasterize_sign(grid_from_face, h, w)
        linear_face = torch.cat([rgb_to_linear_rgb(face[:, :3].clamp(0, 1)), face[:, 3:]], 1)
        tex = sample_face_mip(linear_face, frags.uv, footprint_px)
        coverage = tex[:, 3:] * frags.in_front
        sign = shade_sign(tex[:, :3], frags.uv, cond)
        if self.post_width_m <= 0:
            return sign * coverage, coverage
        post = self._post_coverage(frags.uv, cond, pixel_uv=footprint_px) * frags.in_front * (1 - coverage)
        post_rgb = shade_background(torch.full((len(cond), 3, 1, 1), POST_GREY).to(sign), cond)
        return sign * coverage + post_rgb * post, coverage + post

    def _post_coverage(self, uv: torch.Tensor, cond: Conditions, pixel_uv: torch.Tensor) -> torch.Tensor:
        """Anti-aliased coverage ``(B, 1, h, w)`` of the sign post: a vertical bar ``POST_WIDTH_M`` wide in
        the sign plane from the face's bottom edge down to the road."""
        half = self.post_width_m / (2 * self.size_m)
        length = ((cond.vertical_m + self.camera.height_m) / self.size_m - 0.5).clamp(min=0).view(-1, 1, 1)
        soft = 1.0 / pixel_uv.clamp(min=1.0).view(-1, 1, 1)  # about one output pixel, in face units
        u, v = uv[..., 0], uv[..., 1]
        inside_u = torch.sigmoid((half - (u - 0.5).abs()) / soft)
        inside_v = torch.sigmoid((v - 1.0) / soft) * torch.sigmoid((1.0 + length - v) / soft)
        return (inside_u * inside_v)[:, None]

    def _background_layer(self, img_from_g: torch.Tensor, cond: Conditions, h: int, w: int) -> torch.Tensor:
        """Linear background radiance ``(B, 3, h, w)`` on an output grid (pixel indices -> frame pixels)."""
        pix = pixel_grid(h, w, img_from_g)
        frame_xy = pix.reshape(1, -1, 2) @ img_from_g[:, :2, :2].transpose(1, 2) + img_from_g[:, None, :2, 2]
        tex = self.background.textures(cond.background_seed).to(img_from_g)
        bg = sample_background(tex, frame_xy.reshape(-1, h, w, 2), (self.camera.height, self.camera.width))
        return shade_background(bg, cond)

    def _camera(self, radiance: torch.Tensor, cond: Conditions, frame_px_per_out_px: torch.Tensor) -> torch.Tensor:
        scale = 1.0 / frame_px_per_out_px  # output pixels per frame pixel
        x = cam.defocus_blur(radiance, geo.defocus_sigma_px(cond, self.camera) * scale)
        x = cam.motion_blur(x, geo.image_motion_px(cond, self.camera, self.size_m) * scale[:, None])
        x = cam.sensor_noise(x, cond.noise_std / frame_px_per_out_px.clamp(min=1.0), cond.noise_seed)
        stage = {s: [functools.partial(e.render, **{f: getattr(cond, f) for f in e.field_names()})
                     for e in effects_in(stage=s)] for s in ("linear", "srgb")}
        y = cam.tone(x, cond.exposure_ev, cond.gamma, stage["linear"], stage["srgb"])
        return cam.jpeg(apply_photo_response(y, cond.response_id), cond.jpeg_quality)

    def render_crops(self, cond: Conditions, sticker: torch.Tensor | None = None, size: int | None = None) -> RenderOutput:
        """Classifier crops: the detector box around the sign (margin and jitter from the scene and
        ``cond``), rendered directly at ``size`` x ``size`` pixels (default: the scene's crop size)
        with ``crop.supersample``-times supersampling. Returns images ``(B, 3, size, size)``."""
        size = size or self.crop.size
        ss = self.crop.supersample
        cond = cond.to(self.face.device)
        self.check_visible(cond)
        corners = geo.project_corners(cond, self.camera, self.size_m)
        boxes = geo.detector_box(corners, cond, self.crop.margin)
        pitch = boxes[:, 2] / (size * ss)
        img_from_g = geo.img_from_grid(boxes[:, 0], boxes[:, 1], pitch)
        footprint = torch.full((len(cond),), size * ss / (1 + 2 * self.crop.margin), device=boxes.device)
        sign, coverage = self._sign_layer(self.textured_face(sticker), img_from_g, cond, size * ss, size * ss, footprint)
        radiance = sign + self._background_layer(img_from_g, cond, size * ss, size * ss) * (1 - coverage)
        radiance = F.avg_pool2d(radiance, ss) if ss > 1 else radiance
        return RenderOutput(self._camera(radiance, cond, pitch * ss), corners, boxes)

    def render_windows(self, cond: Conditions, sticker: torch.Tensor | None, size_hw: tuple[int, int],
                       out_px_per_frame_px: float, shift: float = 4.0) -> RenderOutput:
        """Detector views: an ``size_hw`` = (h, w) window of the frame around the sign, at
        ``out_px_per_frame_px`` output pixels per frame pixel (a detector's letterbox scale of the whole
        frame); the sign and its post ``crop.supersample``-times supersampled, the background at the
        output resolution. The window's centre is the sign's centre moved by ``shift`` times the
        condition's detector jitter (fractions of the window), so the sign lands at varied places of the
        detector's grid. Returns images ``(B, 3, h, w)``, the corners in frame pixels and ``boxes``
        ``(B, 4)`` = (left, top, width, height) of each window in frame pixels (edges); the face in window
        pixels is ``(corners - (left, top)) * out_px_per_frame_px``."""
        oh, ow = size_hw
        cond = cond.to(self.face.device)
        self.check_visible(cond)
        corners = geo.project_corners(cond, self.camera, self.size_m)
        pitch = torch.full((len(cond),), 1.0 / out_px_per_frame_px, device=corners.device)
        centre = (corners.min(1).values + corners.max(1).values) / 2
        wh = torch.tensor([ow, oh], dtype=corners.dtype, device=corners.device) * pitch[:, None]
        centre = centre + shift * torch.stack([cond.jitter_x, cond.jitter_y], -1).to(centre) * wh
        left_top = centre - wh / 2
        img_from_g = geo.img_from_grid(left_top[:, 0], left_top[:, 1], pitch)
        radiance = self._background_layer(img_from_g, cond, oh, ow)
        radiance = self._composite_sign(radiance, self.textured_face(sticker), cond, corners, left_top, pitch,
                                        self.crop.supersample)
        return RenderOutput(self._camera(radiance, cond, pitch), corners, torch.cat([left_top, wh], -1))

    def render_frames(self, cond: Conditions, sticker: torch.Tensor | None = None,
                      allow_invisible: bool = False) -> RenderOutput:
        """Full camera frames ``(B, 3, H, W)`` at the scene camera's resolution, ``camera.supersample``-
        times supersampled. Raises SignNotVisibleError unless ``allow_invisible``."""
        cond = cond.to(self.face.device)
        if not allow_invisible:
            self.check_visible(cond)
        b = len(cond)
        h, w = self.camera.height, self.camera.width
        corners = geo.project_corners(cond, self.camera, self.size_m)
        ones = torch.ones(b, device=corners.device)
        radiance = self._background_layer(geo.img_from_grid(-0.5 * ones, -0.5 * ones, ones), cond, h, w)
        radiance = self._composite_sign(radiance, self.textured_face(sticker), cond, corners,
                                        torch.full((b, 2), -0.5, device=corners.device), ones, self.camera.supersample)
        return RenderOutput(self._camera(radiance, cond, ones), corners)

    def _composite_sign(self, radiance: torch.Tensor, face: torch.Tensor, cond: Conditions, corners: torch.Tensor,
                        left_top: torch.Tensor, pitch: torch.Tensor, ss: int) -> torch.Tensor:
        """Composite the sign and its post over ``radiance`` ``(B, 3, H, W)`` (a grid whose left / top
        edges lie at frame coordinates ``left_top`` ``(B, 2)``, pixel pitch ``pitch`` ``(B,)`` frame
        pixels): rendered ``ss``-times supersampled only in a tile around them, then pasted."""
        h, w = radiance.shape[-2:]
        grid = (corners - left_top[:, None]) / pitch[:, None, None]  # corners in grid pixels (edges)
        lo = grid.min(1).values.floor() - 1
        hi = grid.max(1).values.ceil() + 2
        has_post = float(self.post_width_m > 0)
        post_px = has_post * (cond.vertical_m + self.camera.height_m) / self.size_m * (hi[:, 1] - lo[:, 1])
        hi = torch.stack([hi[:, 0], hi[:, 1] + post_px], -1)
        lo = torch.maximum(lo, torch.zeros_like(lo))
        hi = torch.minimum(hi, torch.tensor([w, h], dtype=hi.dtype, device=hi.device))
        vis = (hi > lo).all(1)
        if not bool(vis.any()):
            return radiance
        tw, th = (int(v) for v in (hi - lo)[vis].max(0).values.tolist())
        x0 = lo[:, 0].clamp(max=w - tw).clamp(min=0)
        y0 = lo[:, 1].clamp(max=h - th).clamp(min=0)
        img_from_g = geo.img_from_grid(left_top[:, 0] + x0 * pitch, left_top[:, 1] + y0 * pitch, pitch / ss)
        footprint = (grid.max(1).values - grid.min(1).values).max(1).values.clamp(max=4 * max(h, w)) * ss
        sign, cov = self._sign_layer(face, img_from_g, cond, th * ss, tw * ss, footprint)
        if ss > 1:
            sign, cov = F.avg_pool2d(sign, ss), F.avg_pool2d(cov, ss)
        return paste_tiles(radiance, sign, cov, x0.long(), y0.long(), vis)


def paste_tiles(frame: torch.Tensor, tile: torch.Tensor, coverage: torch.Tensor, x0: torch.Tensor,
                y0: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Composite premultiplied ``tile`` ``(B, C, th, tw)`` with ``coverage`` ``(B, 1, th, tw)`` over
    ``frame`` ``(B, C, H, W)`` at integer offsets ``x0``, ``y0`` ``(B,)``, for frames where ``keep``."""
    th, tw = tile.shape[-2:]
    rows = []
    for i in range(frame.shape[0]):
        f = frame[i]
        if bool(keep[i]):
            x, y = int(x0[i]), int(y0[i])
            region = f[:, y:y + th, x:x + tw]
            region = tile[i] + region * (1 - coverage[i])
            f = torch.cat([f[:, :y], torch.cat([f[:, y:y + th, :x], region, f[:, y:y + th, x + tw:]], 2),
                           f[:, y + th:]], 1)
        rows.append(f)
    return torch.stack(rows)
