"""Scene types: the typed, frozen dataclasses a scene file loads into (see :mod:`patchsim.scene`).

Paths inside a scene are relative to the scene file. Units: metres, degrees, pixels, seconds, kelvin; sticker regions in sign-face millimetres with the
origin at the top-left corner of the face's bounding square, x right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


Range = tuple[float, float]
__all__ = ["FaceSource", "SignConfig", "StickerRegion", "StickerConfig", "CameraConfig", "DriveByConfig", "GridConfig",
           "PoseRanges", "LightingRanges", "EffectRanges", "RealismConfig", "CropConfig", "BackgroundConfig", "Scene",
           "Range", "PACKAGED_SCENES"]

PACKAGED_SCENES = Path(__file__).resolve().parents[1] / "scenes"


@dataclass(frozen=True)
class FaceSource:
    """Where the sign-face artwork comes from: ``procedural`` (the catalogue's drawing), ``rgba``
    (an RGBA image of the face's bounding square) or ``photo`` (a photo plus 4 face corners in pixels,
    order top-left, top-right, bottom-right, bottom-left of the bounding square)."""

    kind: str = "procedural"
    path: str | None = None
    corners: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class SignConfig:
    """The sign: catalogue class, artwork, bounding-square side ``size_m`` (metres), the height of its
    bottom edge above the road ``mount_height_m``, its lateral offset right of the camera's path
    ``lateral_m``, its yaw towards the road ``yaw_deg`` and the width of its post ``post_width_m``
    (0: no post drawn)."""

    class_name: str
    face: FaceSource
    size_m: float
    mount_height_m: float = 2.1
    lateral_m: float = 2.5
    yaw_deg: float = 0.0
    post_width_m: float = 0.06


@dataclass(frozen=True)
class StickerRegion:
    """A sticker piece: polygon vertices in sign-face millimetres (a rectangle is stored as 4 vertices)."""

    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class StickerConfig:
    """Sticker regions (polygons in face millimetres) and/or a mask image (white = sticker) covering the
    face's bounding square."""

    regions: tuple[StickerRegion, ...] = ()
    mask_path: str | None = None


@dataclass(frozen=True)
class CameraConfig:
    """Pinhole camera: image size in pixels, horizontal field of view in degrees, mounting height in
    metres, lens aperture diameter in millimetres and focus distance in metres (for defocus blur),
    supersampling factor for full frames."""

    width: int = 1280
    height: int = 720
    hfov_deg: float = 60.0
    height_m: float = 1.4
    aperture_mm: float = 2.0
    focus_m: float = 20.0
    supersample: int = 2

    @property
    def focal_px(self) -> float:
        """Focal length in pixels, from the horizontal field of view."""
        import math

        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2)


@dataclass(frozen=True)
class DriveByConfig:
    """Straight approach along the road: camera-to-sign forward distance from ``start_m`` down to
    ``end_m`` at ``speed_mps``, sampled at ``fps``; ``lane_offset_m`` shifts the camera right."""

    start_m: float = 40.0
    end_m: float = 5.0
    speed_mps: float = 10.0
    fps: float = 30.0
    lane_offset_m: float = 0.0


@dataclass(frozen=True)
class GridConfig:
    """Stationary protocol: every distance (m) x viewing angle (deg) x ambient light level."""

    distances_m: tuple[float, ...] = (1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 12.0)
    angles_deg: tuple[float, ...] = (0.0, 15.0, 30.0)
    ambient: tuple[float, ...] = (0.8,)


@dataclass(frozen=True)
class PoseRanges:
    """EOT ranges (lo, hi) of the sign pose in the camera frame: forward distance, lateral offset
    (right +), vertical offset of the sign centre above the camera (up +), in metres; yaw, pitch, roll
    in degrees; vehicle speed in m/s (motion blur)."""

    distance_m: Range = (5.0, 40.0)
    lateral_m: Range = (1.5, 3.0)
    vertical_m: Range = (0.5, 1.3)
    yaw_deg: Range = (-20.0, 20.0)
    pitch_deg: Range = (-5.0, 5.0)
    roll_deg: Range = (-5.0, 5.0)
    speed_mps: Range = (0.0, 15.0)


@dataclass(frozen=True)
class LightingRanges:
    """Lighting ranges (lo, hi): ambient level (x albedo), sun intensity, sun direction relative to the
    sign normal (azimuth, elevation in degrees), glare spot peak and radius (fraction of the face),
    cast-shadow strength (0..1) and edge softness (fraction of the face), colour temperature (K)."""

    ambient: Range = (0.5, 1.1)
    sun: Range = (0.0, 0.6)
    sun_azimuth_deg: Range = (-60.0, 60.0)
    sun_elevation_deg: Range = (10.0, 60.0)
    glare: Range = (0.0, 0.3)
    glare_radius: Range = (0.05, 0.25)
    shadow: Range = (0.0, 0.5)
    shadow_softness: Range = (0.02, 0.2)
    color_temp_k: Range = (4500.0, 7500.0)


@dataclass(frozen=True)
class EffectRanges:
    """Camera-effect ranges (lo, hi): exposure in EV stops, extra display gamma, sensor read-noise
    std (fraction of full scale), JPEG quality (1..100), extra defocus blur sigma in frame pixels,
    exposure time in seconds (motion blur), black level (flare and haze lifting the darks: output =
    black + (1 - black) * signal, fraction of full scale) and white-balance error (linear gains of the
    red and blue channels relative to green). The last three default to the identity; REAP-style
    ranges fitted to real photographed signs come from ``bench/fit_realism.py``."""

    exposure_ev: Range = (-0.5, 0.5)
    gamma: Range = (0.9, 1.1)
    noise_std: Range = (0.0, 0.02)
    jpeg_quality: Range = (60.0, 95.0)
    defocus_px: Range = (0.0, 1.0)
    exposure_s: Range = (0.001, 0.01)
    black_level: Range = (0.0, 0.0)
    wb_red: Range = (1.0, 1.0)
    wb_blue: Range = (1.0, 1.0)


@dataclass(frozen=True)
class RealismConfig:
    """``photo_responses``: the fraction of EOT / drive-by / grid draws that take the whole colour
    response (camera tone curve, white balance, light) of one of the attacker photos of real signs
    (:mod:`patchsim.render.photo_response`); 0 disables."""

    photo_responses: float = 0.0


@dataclass(frozen=True)
class CropConfig:
    """Classifier crop: output ``size`` (pixels, square), box ``margin`` around the sign (fraction of its
    size per side), centre ``jitter`` and ``scale_jitter`` (fractions) as a detector would give it, and
    the ``supersample`` factor."""

    size: int = 32
    margin: float = 0.1
    jitter: float = 0.05
    scale_jitter: float = 0.1
    supersample: int = 4


@dataclass(frozen=True)
class BackgroundConfig:
    """Background behind the sign: ``procedural`` (sky, foliage, road) or ``images`` (user photos,
    chosen per frame)."""

    kind: str = "procedural"
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scene:
    """A loaded, validated scene. ``path`` is the file it came from (None if built in code)."""

    name: str
    sign: SignConfig
    sticker: StickerConfig = field(default_factory=StickerConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    driveby: DriveByConfig | None = None
    grid: GridConfig | None = None
    eot: PoseRanges = field(default_factory=PoseRanges)
    lighting: LightingRanges = field(default_factory=LightingRanges)
    effects: EffectRanges = field(default_factory=EffectRanges)
    crop: CropConfig = field(default_factory=CropConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    realism: RealismConfig = field(default_factory=RealismConfig)
    path: str | None = None

    def resolve(self, p: str) -> Path:
        """Resolve a path written in the scene relative to the scene file's folder."""
        q = Path(p).expanduser()
        if q.is_absolute() or self.path is None:
            return q
        return Path(self.path).parent / q
