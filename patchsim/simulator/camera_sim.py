"""Independent, non-differentiable camera simulator on OpenCV/numpy.

It shares only the scene file and the :class:`Conditions` records with the optimiser's renderer, never
its code: its own projection (``cv2.projectPoints``), its own face warping (``cv2.warpPerspective`` of a
mip level chosen for the projected size), its own lighting, background, blur, sensor noise and real
JPEG (``cv2.imencode``). A sticker is judged by what this camera sees, so an attack cannot grade itself.

Frames are ``(H, W, 3)`` uint8 sRGB. Camera effects (blur, noise, JPEG) are applied in a region of
interest around the sign aligned to the 16-pixel JPEG grid (what the detector crop can see); JPEG blocks
there are identical to those of a full-frame encode."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from patchsim.effects import effect_field_names, effects_in
from patchsim.errors import PatchsimError
from patchsim.io.images import jpeg_round_trip, read_image
from patchsim.render.crop import square_box

ROI_PAD = 24  # pixels of context kept around the detector box for blur and flow


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _tone_lut(gamma: float, n: int = 16384) -> np.ndarray:
    """uint8 sRGB (with extra ``gamma``) of ``n`` linear levels in [0, 1]."""
    lut = _linear_to_srgb(np.linspace(0, 1, n, dtype=np.float32)) ** np.float32(gamma)
    return (np.clip(lut, 0, 1) * 255 + 0.5).astype(np.uint8)


def _tone(lin: np.ndarray, c: dict) -> np.ndarray:
    """The linear-stage effects (white balance, :mod:`patchsim.effects`, their numpy implementations),
    exposure (x 2^EV), clip, sRGB encoding and extra gamma: linear float -> uint8 sRGB, through a
    16384-entry table (finer than 8-bit output needs everywhere above the darkest 0.1%); then the
    srgb-stage effects (the black level) on the uint8 signal."""
    n = 16384
    lut = _tone_lut(float(c["gamma"]), n)
    scale = np.float32((n - 1) * 2.0 ** c["exposure_ev"])
    for e in effects_in(stage="linear"):
        lin = e.simulate(lin, **{f: c[f] for f in e.field_names()})
    idx = np.clip(lin * scale + 0.5, 0, n - 1).astype(np.int32)
    out = lut[idx]
    for e in effects_in(stage="srgb"):
        out = e.simulate(out, **{f: c[f] for f in e.field_names()})
    return out


@functools.lru_cache(maxsize=256)
def _photo_response_lut(k: int) -> np.ndarray:
    """uint8 ``(3, 256)`` per-channel table: real photo ``k``'s colour response (the packaged table,
    patchsim/data/photo_responses.json) after undoing the renderers' median response, computed here in
    numpy: ``black_k + gain_kc * ((v - black_r) / gain_rc) ** (exponent_k / exponent_r)``."""
    import json
    from pathlib import Path

    d = json.loads((Path(__file__).resolve().parents[1] / "data" / "photo_responses.json").read_text())
    r, p = np.array(d["renderer"], np.float64), np.array(d["photos"][k], np.float64)
    v = np.arange(256, dtype=np.float64)[None, :] / 255
    design = np.clip((v - r[0]) / r[1:4, None], 1e-4, 1.0) ** (1 / r[4])
    out = p[0] + p[1:4, None] * design ** p[4]
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def blackbody_gains(kelvin: float) -> np.ndarray:
    """RGB gains of a black-body light relative to 6500 K (Planck at 610/550/465 nm, green = 1)."""
    lam = np.array([610e-9, 550e-9, 465e-9])
    planck = lambda t: 1.0 / (lam**5 * np.expm1(1.4388e-2 / (lam * t)))  # noqa: E731
    g = planck(kelvin) / planck(6500.0)
    return (g / g[1]).astype(np.float32)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-from-sign rotation from the record's angles (degrees): yaw about y, then pitch about x,
    then roll about z, each as an OpenCV Rodrigues rotation."""
    ry, _ = cv2.Rodrigues(np.array([0.0, np.radians(yaw), 0.0]))
    rx, _ = cv2.Rodrigues(np.array([np.radians(pitch), 0.0, 0.0]))
    rz, _ = cv2.Rodrigues(np.array([0.0, 0.0, np.radians(roll)]))
    return ry @ rx @ rz


@dataclass
class SimFrame:
    """One simulated frame: ``image`` (H, W, 3) uint8, ``corners`` (4, 2) px (TL, TR, BR, BL of the face
    square), ``box`` (x, y, side) detector box in px, ``roi`` (x0, y0, x1, y1) processed region."""

    image: np.ndarray
    corners: np.ndarray
    box: tuple[float, float, float]
    roi: tuple[int, int, int, int]


class CameraSimulator:
    """Simulates the scene's camera for condition records. ``face_rgba`` is the (sticker-applied) sign
    face over its bounding square, ``(N, N, 4)`` uint8 sRGB."""

    def __init__(self, scene, face_rgba: np.ndarray):
        if face_rgba.ndim != 3 or face_rgba.shape[2] != 4 or face_rgba.shape[0] != face_rgba.shape[1]:
            raise PatchsimError(f"face image must be square RGBA (N, N, 4), got {face_rgba.shape}")
        self.scene = scene
        cam = scene.camera
        self.w, self.h = cam.width, cam.height
        f = 0.5 * cam.width / np.tan(np.radians(cam.hfov_deg) / 2)
        self.k = np.array([[f, 0, (cam.width - 1) / 2], [0, f, (cam.height - 1) / 2], [0, 0, 1.0]])
        self.size_m = scene.sign.size_m
        rgba = face_rgba.astype(np.float32) / 255.0
        lin = np.concatenate([_srgb_to_linear(rgba[..., :3]), rgba[..., 3:]], 2)
        self.mips = [lin]
        while self.mips[-1].shape[0] > 16:
            self.mips.append(cv2.pyrDown(self.mips[-1]))
        self._bg_cache: dict[int, np.ndarray] = {}
        self._toned_key: tuple | None = None  # the last toned background and what it was toned with
        self._toned: np.ndarray | None = None

    # ---- geometry -------------------------------------------------------------------------------------
    def _pose(self, c: dict, dz: float = 0.0):
        rvec, _ = cv2.Rodrigues(rotation(c["yaw_deg"], c["pitch_deg"], c["roll_deg"]))
        tvec = np.array([c["lateral_m"], -c["vertical_m"], c["distance_m"] - dz], dtype=np.float64)
        return rvec, tvec

    def project(self, c: dict, pts_m: np.ndarray, dz: float = 0.0) -> np.ndarray:
        """Pixel positions of sign-plane points ``(K, 3)`` (metres, sign frame)."""
        rvec, tvec = self._pose(c, dz)
        out, _ = cv2.projectPoints(pts_m.astype(np.float64), rvec, tvec, self.k, None)
        return out.reshape(-1, 2)

    def corners(self, c: dict) -> np.ndarray:
        """The face square's corners (TL, TR, BR, BL) in pixels ``(4, 2)``."""
        s = self.size_m / 2
        return self.project(c, np.array([[-s, -s, 0], [s, -s, 0], [s, s, 0], [-s, s, 0]]))

    def depths(self, c: dict) -> np.ndarray:
        s = self.size_m / 2
        r = rotation(c["yaw_deg"], c["pitch_deg"], c["roll_deg"])
        pts = np.array([[-s, -s, 0], [s, -s, 0], [s, s, 0], [-s, s, 0]]) @ r.T
        return pts[:, 2] + c["distance_m"]

    def detector_box(self, corners: np.ndarray, c: dict) -> tuple[float, float, float]:
        """Square box (left, top, side) around the corners with the scene's margin and the frame's jitter."""
        return square_box(corners, self.scene.crop.margin, c["jitter_x"], c["jitter_y"], c["jitter_scale"])

    # ---- appearance -----------------------------------------------------------------------------------
    def background(self, seed: int) -> np.ndarray:
        """Linear-light background (H, W, 3) float32 for a seed: the scene's images (chosen by seed), or
        a sky gradient with clouds, a dark tree band, grey road and green verges (numpy RNG). Cached."""
        if seed in self._bg_cache:
            return self._bg_cache[seed]
        if self.scene.background.kind == "images":
            paths = self.scene.background.images
            img = read_image(self.scene.resolve(paths[seed % len(paths)])).astype(np.float32) / 255
            lin = _srgb_to_linear(cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_AREA))
            self._bg_cache[seed] = lin
            return lin
        rng = np.random.default_rng(seed)
        h, w = self.h, self.w
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        sky = np.array([0.35, 0.5, 0.85], np.float32) * (1 - y) + np.array([0.8, 0.85, 0.92], np.float32) * y
        clouds = cv2.resize(rng.random((6, 10)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        img = sky + 0.25 * np.clip(clouds - 0.5, 0, 1)[..., None]
        horizon = int(round((h - 1) / 2))
        tree = int(h * rng.uniform(0.06, 0.16))
        leaves = cv2.resize(rng.random((h // 12, w // 12)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        img[horizon - tree:horizon] = (np.array([0.15, 0.3, 0.12], np.float32) * (0.7 + 0.6 * leaves[horizon - tree:horizon, :, None]))
        ground = np.array([0.32, 0.42, 0.2], np.float32) * (0.8 + 0.4 * leaves[horizon:, :, None])
        xs = np.arange(w, dtype=np.float32)[None, :] - (w - 1) / 2
        ys = np.arange(horizon, h, dtype=np.float32)[:, None] - (h - 1) / 2
        road = (xs > -5.0 / self.scene.camera.height_m * ys) & (xs < 1.75 / self.scene.camera.height_m * ys)
        ground[road] = 0.36
        img[horizon:] = ground
        lin = _srgb_to_linear(np.clip(img, 0, 1))
        if len(self._bg_cache) > 8:
            self._bg_cache.pop(next(iter(self._bg_cache)))
        self._bg_cache[seed] = lin
        return lin

    def lit_face(self, c: dict, level: int) -> np.ndarray:
        """Premultiplied linear RGBA of the face at mip ``level`` under the frame's light."""
        tex = self.mips[level]
        n = tex.shape[0]
        u = (np.arange(n, dtype=np.float32) + 0.5) / n
        uu, vv = np.meshgrid(u, u)
        cos_sun = max(0.0, np.cos(np.radians(c["sun_azimuth_deg"])) * np.cos(np.radians(c["sun_elevation_deg"])))
        a = np.radians(c["shadow_angle_deg"])
        s = (uu - 0.5) * np.cos(a) + (vv - 0.5) * np.sin(a)
        shadow = 1.0 - c["shadow"] / (1.0 + np.exp(-(s - c["shadow_offset"]) / c["shadow_softness"]))
        irr = c["ambient"] + c["sun"] * cos_sun * shadow
        glare = c["glare"] * np.exp(-((uu - c["glare_u"]) ** 2 + (vv - c["glare_v"]) ** 2) / (2 * c["glare_radius"] ** 2))
        rgb = (tex[..., :3] * irr[..., None] + glare[..., None]) * blackbody_gains(c["color_temp_k"])
        alpha = tex[..., 3:]
        return np.concatenate([rgb * alpha, alpha], 2)

    def _toned_background(self, bg: np.ndarray, gains: np.ndarray, c: dict) -> np.ndarray:
        """uint8 background under the frame's light and tone; the last one is cached (a drive-by keeps
        its light for the whole approach)."""
        key = (id(bg), tuple(np.round(gains, 7)), c["exposure_ev"], c["gamma"],
               tuple(c[f] for f in effect_field_names()), int(c["response_id"]))
        if self._toned_key != key:
            self._toned = _tone(bg * gains, c)
            if int(c["response_id"]) >= 0:
                self._toned = _photo_response_lut(int(c["response_id"]))[np.arange(3), self._toned]
            self._toned_key = key
        return self._toned.copy()

    # ---- the frame -----------------------------------------------------------------------------------
    def render(self, c: dict) -> SimFrame:
        """Simulate one frame for a condition row ``c`` (field -> float, as ``Conditions`` holds)."""
        if (self.depths(c) < 0.05).any():
            raise PatchsimError(f"sign behind the camera (distance {c['distance_m']:.2f} m)")
        corners = self.corners(c)
        lo, hi = corners.min(0), corners.max(0)
        if hi[0] < -0.5 or lo[0] > self.w - 0.5 or hi[1] < -0.5 or lo[1] > self.h - 0.5:
            raise PatchsimError("sign wholly outside the frame")
        ambient_bg = (c["ambient"] + 0.5 * c["sun"]) * blackbody_gains(c["color_temp_k"])
        box = self.detector_box(corners, c)
        x0 = int(np.floor(min(lo[0], box[0]) - ROI_PAD) // 16 * 16)
        y0 = int(np.floor(min(lo[1], box[1]) - ROI_PAD) // 16 * 16)
        x1 = int(np.ceil((max(hi[0], box[0] + box[2]) + ROI_PAD) / 16) * 16)
        y1 = int(np.ceil((max(hi[1], box[1] + box[2]) + ROI_PAD) / 16) * 16)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        bg = self.background(int(c["background_seed"]))
        roi = bg[y0:y1, x0:x1] * ambient_bg
        out = self._toned_background(bg, ambient_bg, c)  # outside the ROI: light, exposure and tone only
        # post below the sign, down to the road (drawn first: the sign covers its top)
        post_h = c["vertical_m"] + self.scene.camera.height_m
        if self.scene.sign.post_width_m > 0:
            pw = self.scene.sign.post_width_m / 2
            quad = self.project(c, np.array([[-pw, 0, 0], [pw, 0, 0], [pw, post_h, 0], [-pw, post_h, 0]]))
            grey = np.full((1, 1, 3), 0.45, np.float32) * ambient_bg
            cv2.fillConvexPoly(roi, np.round((quad - [x0, y0]) * 16).astype(np.int32),
                               tuple(float(v) for v in grey[0, 0]), cv2.LINE_AA, shift=4)
            cv2.fillConvexPoly(out, np.round(quad * 16).astype(np.int32),
                               tuple(int(v) for v in _tone(grey, c)[0, 0]), cv2.LINE_AA, shift=4)
        # the face: pick the mip level whose size is closest above the projected size, warp it into the ROI
        side_px = float(np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[1])) / 2
        level = 0
        while level + 1 < len(self.mips) and self.mips[level + 1].shape[0] >= side_px:
            level += 1
        tex = self.lit_face(c, level)
        n = tex.shape[0]
        src = np.array([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]], np.float32)
        h = cv2.getPerspectiveTransform(src, (corners - [x0, y0]).astype(np.float32))
        warped = cv2.warpPerspective(tex, h, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        roi = warped[..., :3] + roi * (1 - warped[..., 3:])
        out[y0:y1, x0:x1] = self._camera(roi, c)
        return SimFrame(out, corners, box, (x0, y0, x1, y1))

    def _camera(self, lin: np.ndarray, c: dict) -> np.ndarray:
        """Blur, exposure, noise, tone and JPEG of a linear ROI -> uint8 sRGB."""
        cam = self.scene.camera
        coc = self.k[0, 0] * cam.aperture_mm * 1e-3 * abs(1 / c["distance_m"] - 1 / cam.focus_m)
        sigma = float(np.hypot(coc / 2, c["defocus_px"]))
        if sigma > 0.05:
            lin = cv2.GaussianBlur(lin, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        centre = np.array([[0.0, 0.0, 0.0]])
        move = self.project(c, centre, dz=c["speed_mps"] * c["exposure_s"]) - self.project(c, centre)
        length = float(np.linalg.norm(move))
        if length > 0.5:
            k = int(np.ceil(length)) | 1
            kern = np.zeros((k, k), np.float32)
            d = move[0] / length
            for t in np.linspace(-length / 2, length / 2, 4 * k):
                kern[int(round(k // 2 + t * d[1])), int(round(k // 2 + t * d[0]))] += 1
            lin = cv2.filter2D(lin, -1, kern / kern.sum(), borderType=cv2.BORDER_REPLICATE)
        if c["noise_std"] > 0:
            rng = np.random.default_rng(int(c["noise_seed"]) & 0xFFFFFFFFFFFF)
            x = lin * (2.0 ** c["exposure_ev"])
            noise = c["noise_std"] * np.sqrt(0.3 + 0.7 * np.clip(x, 0, None)) * rng.standard_normal(lin.shape, np.float32)
            lin = lin + noise / (2.0 ** c["exposure_ev"])
        u8 = _tone(lin, c)
        if int(c["response_id"]) >= 0:
            u8 = _photo_response_lut(int(c["response_id"]))[np.arange(3), u8]
        q = int(round(c["jpeg_quality"]))
        if q < 100:
            u8 = jpeg_round_trip(u8, q)
        return u8
