"""Condition-matched twins: every photographed sign rendered again by patchsim's own renderer under the
conditions read off the photo, so that the renderer's verdict can be set beside the photo's.

From one located sign (:class:`patchsim.evaluate.photos.SignView`) the photo gives:
- the camera: the photo's size and a field of view (EXIF ``FocalLengthIn35mmFilm`` when present, else a
  stated one, default 60 deg);
- the pose: distance, lateral and vertical offset (m) and yaw / pitch / roll (deg), fitted so that the
  renderer's pinhole projection of the face square lands on the photo's four corners (least squares,
  pixels), the sign's true size fixing the scale;
- blur: the Gaussian sigma fitted to the sign's outline (photo pixels), as the renderer's defocus;
- JPEG quality from the file's luminance quantisation table (100 for lossless files);
- light and camera response: the sign's fitted relighting (the validated default model), applied to
  the twin's design colours, with the renderer's own lighting and tone left neutral.

The twin is the detector crop the simulator would hand the model (same margin, size and supersampling)
with the scene's procedural background behind the sign (the photo's background is not the renderer's to
copy: a difference the agreement figure includes)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from patchsim.errors import PatchsimError
from patchsim.render.conditions import Conditions

DEFAULT_HFOV_DEG = 60.0
# libjpeg's standard luminance quantisation table (quality 50), row-major
_STD_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                      14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                      49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64)


@dataclass(frozen=True)
class TwinPose:
    """What a photo says about its sign: pose (m, deg) in a pinhole camera of ``hfov_deg`` over the
    photo's ``width`` x ``height`` pixels, the corner fit's residual ``corner_rms_px``, ``blur_px``
    (Gaussian sigma, photo pixels) and ``jpeg_quality`` (1..100)."""

    distance_m: float
    lateral_m: float
    vertical_m: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    hfov_deg: float
    width: int
    height: int
    corner_rms_px: float
    blur_px: float
    jpeg_quality: int


def photo_hfov_deg(path: str, default: float = DEFAULT_HFOV_DEG) -> float:
    """Horizontal field of view (deg) from the photo's EXIF 35-mm-equivalent focal length (a 36 mm wide
    frame), or ``default`` when the file carries none."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            f35 = im.getexif().get_ifd(0x8769).get(0xA405)
    except (OSError, ValueError, AttributeError):
        return default
    if not f35:
        return default
    return float(math.degrees(2 * math.atan(36.0 / (2 * float(f35)))))


def jpeg_quality_of(path: str) -> int:
    """The JPEG quality (1..100, libjpeg's scale) whose luminance table is nearest the file's; 100 for a
    file that is not JPEG."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            tables = getattr(im, "quantization", None)
    except OSError:
        return 100
    if not tables or 0 not in tables:
        return 100
    scale = 100.0 * float(np.mean(np.asarray(tables[0], np.float64))) / float(_STD_LUMA.mean())
    q = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return int(np.clip(round(q), 1, 100))


def photo_camera(template, width: int, height: int, hfov_deg: float):
    """The scene camera ``template`` (a :class:`patchsim.scene.CameraConfig`) resized to the photo, with
    no lens defocus of its own (aperture 0): the photo's blur is measured and given as ``defocus_px``."""
    return dataclasses.replace(template, width=int(width), height=int(height), hfov_deg=float(hfov_deg), aperture_mm=0.0)


def neutral_conditions(n: int = 1) -> Conditions:
    """Conditions under which the renderer shows the design colours as they are: ambient light 1, no
    sun, glare or shadow, D65, no exposure change, no noise, no motion, no jitter, no photo response."""
    z, o = torch.zeros(n), torch.ones(n)
    f = {k: z.clone() for k in Conditions.field_names()}
    f.update(distance_m=o * 10, ambient=o.clone(), color_temp_k=o * 6500, gamma=o.clone(), jpeg_quality=o * 100,
             wb_red=o.clone(), wb_blue=o.clone(), glare_radius=o * 0.1,
             shadow_softness=o * 0.1)
    for k in ("noise_seed", "background_seed"):
        f[k] = torch.zeros(n, dtype=torch.int64)
    f["response_id"] = torch.full((n,), -1, dtype=torch.int64)
    return Conditions(**f)


def fit_pose(corners_px: np.ndarray, camera, size_m: float) -> tuple[dict[str, float], float]:
    """({distance_m, lateral_m, vertical_m, yaw_deg, pitch_deg, roll_deg}, rms pixels) whose projected
    face-square corners (TL, TR, BR, BL) match ``corners_px`` ``(4, 2)`` in ``camera``."""
    from scipy.optimize import least_squares

    from patchsim.render.geometry import project_corners

    c = np.asarray(corners_px, np.float64)
    if c.shape != (4, 2) or not np.isfinite(c).all():
        raise PatchsimError(f"a twin needs 4 finite face corners, got {c.shape}")
    f = camera.focal_px
    side = float(np.mean([np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[1]), np.linalg.norm(c[3] - c[2]),
                          np.linalg.norm(c[0] - c[3])]))
    z0 = f * size_m / max(side, 1.0)
    cx, cy = (camera.width - 1) / 2, (camera.height - 1) / 2
    centre = c.mean(0)
    p0 = np.array([z0, (centre[0] - cx) * z0 / f, -(centre[1] - cy) * z0 / f, 0.0, 0.0, 0.0])
    keys = ("distance_m", "lateral_m", "vertical_m", "yaw_deg", "pitch_deg", "roll_deg")
    steps = np.array([1e-4 * z0, 1e-4 * z0, 1e-4 * z0, 1e-3, 1e-3, 1e-3])

    def project(ps: np.ndarray) -> np.ndarray:  # (K, 6) poses -> (K, 8) corner coordinates, one batched call
        cond = neutral_conditions(len(ps)).replace(**{k: torch.from_numpy(np.ascontiguousarray(ps[:, i]))
                                                       for i, k in enumerate(keys)})
        return project_corners(cond, camera, size_m).double().numpy().reshape(len(ps), 8)

    def resid(p):
        return project(p[None])[0] - c.ravel()

    def jac(p):  # central differences, all 12 probes in one projection
        probe = np.concatenate([p + np.diag(steps), p - np.diag(steps)])
        y = project(probe)
        return ((y[:6] - y[6:]) / (2 * steps)[:, None]).T

    def solve(start):
        return least_squares(resid, start, jac=jac, bounds=([0.05, -1e3, -1e3, -80, -80, -90], [1e4, 1e3, 1e3, 80, 80, 90]),
                             x_scale=[z0, z0, z0, 10, 10, 10])

    # a plane seen from afar is ambiguous in the signs of yaw and pitch (the two poses differ by well under
    # a pixel at the corners): solve from face-on, then from the mirrored pose, keep the better
    fit = solve(p0)
    mirror = fit.x.copy()
    mirror[3:5] = -mirror[3:5]
    other = solve(mirror)
    fit = other if other.cost < fit.cost - 1e-9 else fit
    rms = float(np.sqrt(np.mean(fit.fun**2)))
    return {k: float(v) for k, v in zip(keys, fit.x)}, rms


def read_twin_pose(view, path: str, camera_template, size_m: float, hfov_deg: float | None = None) -> TwinPose:
    """The :class:`TwinPose` of a located sign ``view`` in the photo file ``path`` (``hfov_deg`` None:
    EXIF, else :data:`DEFAULT_HFOV_DEG`)."""
    h, w = view.photo.shape[:2]
    hfov = photo_hfov_deg(path) if hfov_deg is None else float(hfov_deg)
    cam = photo_camera(camera_template, w, h, hfov)
    pose, rms = fit_pose(view.corners, cam, size_m)
    return TwinPose(**pose, hfov_deg=hfov, width=w, height=h, corner_rms_px=round(rms, 3),
                    blur_px=float(view.light.blur_px), jpeg_quality=jpeg_quality_of(path))


def twin_conditions(pose: TwinPose) -> Conditions:
    """One frame of conditions: the photo's pose, blur and JPEG quality, everything else neutral."""
    t = lambda v: torch.tensor([float(v)])  # noqa: E731
    return neutral_conditions(1).replace(
        distance_m=t(pose.distance_m), lateral_m=t(pose.lateral_m), vertical_m=t(pose.vertical_m),
        yaw_deg=t(pose.yaw_deg), pitch_deg=t(pose.pitch_deg), roll_deg=t(pose.roll_deg),
        defocus_px=t(pose.blur_px), jpeg_quality=t(pose.jpeg_quality))


class TwinRenderer:
    """Renders twins of one scene's sign (``scene`` a :class:`patchsim.scene.Scene`) with an optional
    sticker ``printed_rgba`` (uint8 ``(P, P, 4)`` over the face square, colours as printed), at the
    model's input ``size``; ``face_resolution`` of the face texture."""

    def __init__(self, scene, printed_rgba: np.ndarray | None, size: int, face_resolution: int = 256):
        import cv2

        from patchsim.render import Renderer

        self.scene, self.size, self.res = scene, int(size), int(face_resolution)
        self.base = Renderer.from_scene(scene, face_resolution)  # identity printer: the sticker comes printed
        self.sticker = None
        if printed_rgba is not None:
            st = cv2.resize(printed_rgba, (self.res, self.res), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
            self.sticker = torch.from_numpy(st[..., :3]).permute(2, 0, 1)[None].contiguous()
            self.mask = torch.from_numpy(st[..., 3]).float()[None, None].contiguous()

    @torch.no_grad()
    def render(self, pose: TwinPose, relight) -> dict[str, np.ndarray]:
        """{"clean": crop, "attacked": crop (when there is a sticker)} uint8 ``(S, S, 3)``: the twin
        crops. The sign's fitted relighting ``relight`` (a :class:`patchsim.realphoto.relight.Relight`) lights
        the sign's surface, face and sticker alike, before rendering; the background is the scene's."""
        import copy

        def lit(rgb: torch.Tensor) -> torch.Tensor:  # (1, 3, N, N) design colours -> as photographed
            x = rgb[0].permute(1, 2, 0).numpy()
            return torch.from_numpy(np.ascontiguousarray(relight(x))).permute(2, 0, 1)[None].float()

        r = copy.copy(self.base)
        r._buffers = dict(self.base._buffers)
        r.camera = photo_camera(self.scene.camera, pose.width, pose.height, pose.hfov_deg)
        face = self.base.face
        r.register_buffer("face", torch.cat([lit(face[:, :3]), face[:, 3:]], 1))
        cond = twin_conditions(pose)
        out = {"clean": r.render_crops(cond, None, self.size).images}
        if self.sticker is not None:
            out["attacked"] = r.with_sticker_mask(self.mask).render_crops(cond, lit(self.sticker), self.size).images
        return {k: (v[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8) for k, v in out.items()}
