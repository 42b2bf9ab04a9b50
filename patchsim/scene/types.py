"""Scene types: the typed, frozen dataclasses a scene file loads into (see :mod:`patchsim.scene`).

Paths inside a scene are relative to the scene file. Units: metres, degrees, pixels, seconds, kelvin; sticker regions in sign-face millimetres with the
origin at the top-left corner of the face's bounding square, x right, y down.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from patchsim.effects import effects_in


Range = tuple[float, float]
__all__ = ["FaceSource", "SignConfig", "StickerRegion", "StickerConfig", "CameraConfig", "DriveByConfig", "GridConfig",
           "PoseRanges", "LightingRanges", "EffectRanges", "RealismConfig", "CropConfig", "BackgroundConfig", "Scene",
           "Range", "PACKAGED_SCENES"]

PACKAGED_SCENES = Path(__file__).resolve().parents[1] / "scenes"

INF = math.inf


def bounded(default, lo: float, hi: float):
    """A scene field with its allowed closed range ``[lo, hi]`` in its metadata (for a range field, both
    ends must lie in it): the one place a scene bound is written, read by :mod:`patchsim.scene.schema`.
    ``default`` may be ``dataclasses.MISSING`` for a required field."""
    return field(default=default, metadata={"bounds": (lo, hi)})


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
    size_m: float = bounded(dataclasses.MISSING, 0.05, 10)
    mount_height_m: float = bounded(2.1, -5, 20)
    lateral_m: float = bounded(2.5, -50, 50)
    yaw_deg: float = bounded(0.0, -85, 85)
    post_width_m: float = bounded(0.06, 0, 1)


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

    width: int = bounded(1280, 16, 8192)
    height: int = bounded(720, 16, 8192)
    hfov_deg: float = bounded(60.0, 1, 170)
    height_m: float = bounded(1.4, 0, 20)
    aperture_mm: float = bounded(2.0, 0, 100)
    focus_m: float = bounded(20.0, 0.1, INF)
    supersample: int = bounded(2, 1, 8)

    @property
    def focal_px(self) -> float:
        """Focal length in pixels, from the horizontal field of view."""
        import math

        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2)


@dataclass(frozen=True)
class DriveByConfig:
    """Straight approach along the road: camera-to-sign forward distance from ``start_m`` down to
    ``end_m`` at ``speed_mps``, sampled at ``fps``; ``lane_offset_m`` shifts the camera right."""

    start_m: float = bounded(40.0, 0.5, 1000)
    end_m: float = bounded(5.0, 0.3, 1000)
    speed_mps: float = bounded(10.0, 0.01, 80)
    fps: float = bounded(30.0, 0.1, 1000)
    lane_offset_m: float = bounded(0.0, -20, 20)


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

    distance_m: Range = bounded((5.0, 40.0), 0.3, 500)
    lateral_m: Range = bounded((1.5, 3.0), -50, 50)
    vertical_m: Range = bounded((0.5, 1.3), -20, 20)
    yaw_deg: Range = bounded((-20.0, 20.0), -85, 85)
    pitch_deg: Range = bounded((-5.0, 5.0), -85, 85)
    roll_deg: Range = bounded((-5.0, 5.0), -180, 180)
    speed_mps: Range = bounded((0.0, 15.0), 0, 80)


@dataclass(frozen=True)
class LightingRanges:
    """Lighting ranges (lo, hi): ambient level (x albedo), sun intensity, sun direction relative to the
    sign normal (azimuth, elevation in degrees), glare spot peak and radius (fraction of the face),
    cast-shadow strength (0..1) and edge softness (fraction of the face), colour temperature (K)."""

    ambient: Range = bounded((0.5, 1.1), 0, 10)
    sun: Range = bounded((0.0, 0.6), 0, 10)
    sun_azimuth_deg: Range = bounded((-60.0, 60.0), -90, 90)
    sun_elevation_deg: Range = bounded((10.0, 60.0), -90, 90)
    glare: Range = bounded((0.0, 0.3), 0, 5)
    glare_radius: Range = bounded((0.05, 0.25), 0.005, 2)
    shadow: Range = bounded((0.0, 0.5), 0, 1)
    shadow_softness: Range = bounded((0.02, 0.2), 0.001, 1)
    color_temp_k: Range = bounded((4500.0, 7500.0), 1500, 15000)


@dataclass(frozen=True)
class _CameraEffectRanges:
    """Camera-effect ranges (lo, hi): exposure in EV stops, extra display gamma, sensor read-noise
    std (fraction of full scale), JPEG quality (1..100), extra defocus blur sigma in frame pixels,
    exposure time in seconds (motion blur), then every registered effect of the ``camera_effects``
    section (:mod:`patchsim.effects`). REAP-style ranges
    fitted to real photographed signs come from ``bench/fit_realism.py``."""

    exposure_ev: Range = bounded((-0.5, 0.5), -5, 5)
    gamma: Range = bounded((0.9, 1.1), 0.2, 5)
    noise_std: Range = bounded((0.0, 0.02), 0, 0.5)
    jpeg_quality: Range = bounded((60.0, 95.0), 1, 100)
    defocus_px: Range = bounded((0.0, 1.0), 0, 20)
    exposure_s: Range = bounded((0.001, 0.01), 0, 0.5)


def _with_effects(base: type, name: str, section: str) -> type:
    """``base`` with one range field per field of every registered effect of scene ``section``
    (:mod:`patchsim.effects`), appended in registry order, bounds in the field metadata."""
    extra = [(f.name, Range, bounded(f.default, *f.bounds)) for e in effects_in(section) for f in e.fields]
    cls = dataclasses.make_dataclass(name, extra, bases=(base,), frozen=True)
    cls.__module__, cls.__qualname__ = __name__, name
    cls.__doc__ = base.__doc__ + "".join(f"\n    {e.name}: {e.doc}." for e in effects_in(section))
    return cls


EffectRanges = _with_effects(_CameraEffectRanges, "EffectRanges", "camera_effects")


@dataclass(frozen=True)
class RealismConfig:
    """``photo_responses``: the fraction of EOT / drive-by / grid draws that take the whole colour
    response (camera tone curve, white balance, light) of one of the attacker photos of real signs
    (:mod:`patchsim.render.photo_response`); 0 disables."""

    photo_responses: float = bounded(0.0, 0, 1)


@dataclass(frozen=True)
class CropConfig:
    """Classifier crop: output ``size`` (pixels, square), box ``margin`` around the sign (fraction of its
    size per side), centre ``jitter`` and ``scale_jitter`` (fractions) as a detector would give it, and
    the ``supersample`` factor."""

    size: int = bounded(32, 8, 1024)
    margin: float = bounded(0.1, 0, 2)
    jitter: float = bounded(0.05, 0, 0.5)
    scale_jitter: float = bounded(0.1, 0, 0.9)
    supersample: int = bounded(4, 1, 8)


@dataclass(frozen=True)
class BackgroundConfig:
    """Background behind the sign: ``procedural`` (sky, foliage, road) or ``images`` (user photos,
    chosen per frame)."""

    kind: str = "procedural"
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectorSetting:
    """What an attack on a detector uses instead of the scene's own ``sticker`` layout and ``eot`` pose
    ranges (each None: the scene's). A detector decides on whole frames far out, where a braking car
    must already know the sign, so its layout and its distances differ from a classifier's."""

    sticker: StickerConfig | None = None
    eot: PoseRanges | None = None


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
    detector: DetectorSetting | None = None
    path: str | None = None

    def for_detector(self) -> "Scene":
        """The scene a detector attack optimises on: :attr:`detector`'s sticker layout and pose ranges in
        place of the scene's own (the scene itself when it has none), with no ``detector`` section left,
        so a record of it says what was used."""
        if self.detector is None:
            return self
        d = self.detector
        return dataclasses.replace(self, sticker=d.sticker or self.sticker, eot=d.eot or self.eot, detector=None)

    def resolve(self, p: str) -> Path:
        """Resolve a path written in the scene relative to the scene file's folder."""
        q = Path(p).expanduser()
        if q.is_absolute() or self.path is None:
            return q
        return Path(self.path).parent / q
