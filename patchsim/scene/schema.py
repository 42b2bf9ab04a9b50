"""Validation of scene YAML data into :mod:`patchsim.scene.types` dataclasses, and back.

Each error names the file, the dotted field path, the bad value and what is allowed."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from patchsim.errors import SceneError
from patchsim.scene.types import (
    BackgroundConfig,
    CameraConfig,
    CropConfig,
    DetectorSetting,
    DriveByConfig,
    EffectRanges,
    FaceSource,
    GridConfig,
    LightingRanges,
    PoseRanges,
    Scene,
    SignConfig,
    StickerConfig,
    RealismConfig,
    StickerRegion,
)
from patchsim.checks import shorten

INF = math.inf

# Allowed (lo, hi) for every numeric field, by dataclass and field name: read from the fields' metadata
# (:func:`patchsim.scene.types.bounded`), where each bound is written once.
BOUNDS: dict[type, dict[str, tuple[float, float]]] = {
    cls: {f.name: f.metadata["bounds"] for f in dataclasses.fields(cls) if "bounds" in f.metadata}
    for cls in (PoseRanges, LightingRanges, EffectRanges, CameraConfig, DriveByConfig, RealismConfig, CropConfig,
                SignConfig)
}
INT_FIELDS = {"width", "height", "supersample", "size"}
MAX_FRAME_PIXELS = 3840 * 2160 * 4  # camera width x height x supersample^2: a 4K frame supersampled 2x


class _Ctx:
    def __init__(self, file: str):
        self.file = file

    def fail(self, path: str, value: Any, allowed: str) -> SceneError:
        return SceneError(f"{self.file}: field '{path}' = {shorten(value)} is invalid: {allowed}")

    def mapping(self, data: Any, path: str, allowed: set[str]) -> dict:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.fail(path, data, "must be a mapping")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(f"{path}.{unknown[0]}" if path else unknown[0], data[unknown[0]],
                            f"unknown key; allowed keys: {', '.join(sorted(allowed))}")
        return data

    def number(self, value: Any, path: str, lo: float, hi: float, integer: bool = False) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if integer:
            ok = ok and float(value).is_integer()
        kind = "an integer" if integer else "a finite number"
        if not ok or not (lo <= value <= hi):
            raise self.fail(path, value, f"must be {kind} in [{lo:g}, {hi:g}]")
        return int(value) if integer else float(value)

    def range(self, value: Any, path: str, lo: float, hi: float) -> tuple[float, float]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            v = self.number(value, path, lo, hi)
            return (v, v)
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(path, value, f"must be a number or a [lo, hi] pair within [{lo:g}, {hi:g}]")
        a = self.number(value[0], f"{path}[0]", lo, hi)
        b = self.number(value[1], f"{path}[1]", lo, hi)
        if a > b:
            raise self.fail(path, value, "lo must not exceed hi")
        return (a, b)

    def numbers(self, value: Any, path: str, lo: float, hi: float) -> tuple[float, ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise self.fail(path, value, "must be a non-empty list of numbers")
        return tuple(self.number(v, f"{path}[{i}]", lo, hi) for i, v in enumerate(value))

    def string(self, value: Any, path: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, value, "must be a non-empty string")
        if choices is not None and value not in choices:
            raise self.fail(path, value, f"must be one of: {', '.join(choices)}")
        return value


def _plain(ctx: _Ctx, cls: type, data: Any, path: str, ranges: bool = False, **extra: Any):
    """Parse a dataclass whose fields are all numbers (or (lo, hi) ranges when ``ranges``)."""
    names = {f.name for f in dataclasses.fields(cls)} - set(extra) - {"class_name", "face"}
    d = ctx.mapping(data, path, names)
    bounds = BOUNDS[cls]
    kw = dict(extra)
    for k, v in d.items():
        lo, hi = bounds[k]
        p = f"{path}.{k}"
        kw[k] = ctx.range(v, p, lo, hi) if ranges else ctx.number(v, p, lo, hi, integer=k in INT_FIELDS)
    return cls(**kw)


def _point(ctx: _Ctx, v: Any, path: str) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ctx.fail(path, v, "must be an [x, y] pair")
    return (ctx.number(v[0], f"{path}[0]", -INF, INF), ctx.number(v[1], f"{path}[1]", -INF, INF))


def _face(ctx: _Ctx, data: Any, path: str) -> FaceSource:
    if data is None or data == "procedural":
        return FaceSource()
    d = ctx.mapping(data, path, {"kind", "path", "corners"})
    kind = ctx.string(d.get("kind"), f"{path}.kind", ("procedural", "rgba", "photo"))
    if kind == "procedural":
        return FaceSource()
    file = ctx.string(d.get("path"), f"{path}.path")
    corners = None
    if kind == "photo":
        c = d.get("corners")
        if not isinstance(c, (list, tuple)) or len(c) != 4:
            raise ctx.fail(f"{path}.corners", c, "must be 4 [x, y] pixel points: top-left, top-right, "
                                                    "bottom-right, bottom-left")
        corners = tuple(_point(ctx, p, f"{path}.corners[{i}]") for i, p in enumerate(c))
        # the quadrilateral TL, TR, BR, BL must be convex, in that order, and enclose a real area
        cross = [(corners[(i + 1) % 4][0] - corners[i][0]) * (corners[(i + 2) % 4][1] - corners[(i + 1) % 4][1])
                 - (corners[(i + 1) % 4][1] - corners[i][1]) * (corners[(i + 2) % 4][0] - corners[(i + 1) % 4][0])
                 for i in range(4)]
        area = 0.5 * abs(sum(corners[i][0] * corners[(i + 1) % 4][1] - corners[(i + 1) % 4][0] * corners[i][1]
                             for i in range(4)))
        if not (all(x > 0 for x in cross) or all(x < 0 for x in cross)) or area < 64:
            raise ctx.fail(f"{path}.corners", c, "must be a convex quadrilateral of at least 64 square pixels, "
                                                 "corners in order top-left, top-right, bottom-right, bottom-left")
    elif "corners" in d:
        raise ctx.fail(f"{path}.corners", d["corners"], "only allowed with kind: photo")
    return FaceSource(kind=kind, path=file, corners=corners)


def _sign(ctx: _Ctx, data: Any) -> SignConfig:
    from patchsim.signs import SIGNS

    d = ctx.mapping(data, "sign", {"class", "face", "size_m", "mount_height_m", "lateral_m", "yaw_deg",
                                   "post_width_m"})
    if "class" not in d:
        raise ctx.fail("sign.class", None, f"required; one of: {', '.join(sorted(SIGNS))}")
    cls = ctx.string(d["class"], "sign.class", tuple(sorted(SIGNS)))
    rest = {k: v for k, v in d.items() if k not in ("class", "face")}
    rest.setdefault("size_m", SIGNS[cls].size_m)
    return _plain(ctx, SignConfig, rest, "sign", class_name=cls, face=_face(ctx, d.get("face"), "sign.face"))


def _sticker(ctx: _Ctx, data: Any, size_m: float, where: str = "sticker") -> StickerConfig:
    d = ctx.mapping(data, where, {"regions", "mask"})
    regions = []
    raw = d.get("regions", [])
    if not isinstance(raw, list):
        raise ctx.fail(f"{where}.regions", raw, "must be a list of {rect: [x, y, w, h]} or {polygon: [[x, y], ...]}")
    side = size_m * 1000.0
    for i, r in enumerate(raw):
        p = f"{where}.regions[{i}]"
        r = ctx.mapping(r, p, {"rect", "polygon"})
        if len(r) != 1:
            raise ctx.fail(p, r, "must have exactly one of: rect, polygon")
        if "rect" in r:
            v = r["rect"]
            if not isinstance(v, (list, tuple)) or len(v) != 4:
                raise ctx.fail(f"{p}.rect", v, "must be [x_mm, y_mm, width_mm, height_mm]")
            x, y = (ctx.number(v[k], f"{p}.rect[{k}]", 0, side) for k in (0, 1))
            w, h = (ctx.number(v[k], f"{p}.rect[{k}]", 1e-3, side) for k in (2, 3))
            if x + w > side + 1e-6 or y + h > side + 1e-6:
                raise ctx.fail(f"{p}.rect", v, f"must lie inside the face's {side:g} mm bounding square")
            pts = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        else:
            v = r["polygon"]
            if not isinstance(v, (list, tuple)) or len(v) < 3:
                raise ctx.fail(f"{p}.polygon", v, "must be a list of at least 3 [x_mm, y_mm] points")
            pts = tuple(_point(ctx, q, f"{p}.polygon[{k}]") for k, q in enumerate(v))
            for k, (x, y) in enumerate(pts):
                if not (-1e-6 <= x <= side + 1e-6 and -1e-6 <= y <= side + 1e-6):  # the rect check's tolerance
                    raise ctx.fail(f"{p}.polygon[{k}]", list(v[k]), f"must lie inside [0, {side:g}] mm")
        regions.append(StickerRegion(points=pts))
    mask = ctx.string(d["mask"], f"{where}.mask") if "mask" in d else None
    if not regions and mask is None:
        raise ctx.fail(where, data, "needs at least one region or a mask image")
    return StickerConfig(regions=tuple(regions), mask_path=mask)


def _grid(ctx: _Ctx, data: Any) -> GridConfig:
    d = ctx.mapping(data, "grid", {"distances_m", "angles_deg", "ambient"})
    kw = {}
    for k, (lo, hi) in dict(distances_m=(0.3, 500), angles_deg=(-85, 85), ambient=(0, 10)).items():
        if k in d:
            kw[k] = ctx.numbers(d[k], f"grid.{k}", lo, hi)
    return GridConfig(**kw)


def _background(ctx: _Ctx, data: Any) -> BackgroundConfig:
    d = ctx.mapping(data, "background", {"kind", "images"})
    kind = ctx.string(d.get("kind", "procedural"), "background.kind", ("procedural", "images"))
    images = d.get("images", [])
    if not isinstance(images, list) or not all(isinstance(s, str) and s for s in images):
        raise ctx.fail("background.images", images, "must be a list of image paths")
    if kind == "images" and not images:
        raise ctx.fail("background.images", images, "must list at least one image when kind is images")
    return BackgroundConfig(kind=kind, images=tuple(images))


TOP_KEYS = {"name", "sign", "sticker", "camera", "driveby", "grid", "eot", "lighting", "camera_effects",
            "crop", "background", "realism", "detector"}


def _detector(ctx: _Ctx, data: Any, size_m: float, eot: dict) -> DetectorSetting:
    """``detector: {sticker: {...}, eot: {...}}``: a detector attack's layout and pose ranges; ``eot``
    names only the ranges that differ from the scene's ``eot`` (``eot`` here: the scene's, as written)."""
    d = ctx.mapping(data, "detector", {"sticker", "eot"})
    if not d:
        raise ctx.fail("detector", data, "must set sticker or eot (or be left out)")
    sticker = _sticker(ctx, d["sticker"], size_m, "detector.sticker") if "sticker" in d else None
    if "eot" not in d:
        return DetectorSetting(sticker=sticker)
    ctx.mapping(d["eot"], "detector.eot", {f.name for f in dataclasses.fields(PoseRanges)})
    ranges = _plain(ctx, PoseRanges, {**(eot or {}), **d["eot"]}, "detector.eot", ranges=True)
    return DetectorSetting(sticker=sticker, eot=ranges)


def parse_scene(data: Any, file: str = "<scene>") -> Scene:
    """Validate parsed YAML ``data`` and build a :class:`Scene`. Raises SceneError on any bad field."""
    ctx = _Ctx(file)
    if not isinstance(data, dict):
        raise SceneError(f"{file}: a scene file must hold a mapping at top level, got {type(data).__name__}")
    d = ctx.mapping(data, "", TOP_KEYS)
    sign = _sign(ctx, d.get("sign"))
    driveby = _plain(ctx, DriveByConfig, d["driveby"], "driveby") if "driveby" in d else None
    if driveby is not None and driveby.end_m >= driveby.start_m:
        raise ctx.fail("driveby.end_m", driveby.end_m, f"must be less than start_m ({driveby.start_m:g})")
    name = ctx.string(d.get("name", "scene"), "name")
    scene = Scene(
        name=name,
        sign=sign,
        sticker=_sticker(ctx, d.get("sticker"), sign.size_m),
        camera=_plain(ctx, CameraConfig, d.get("camera"), "camera"),
        driveby=driveby,
        grid=_grid(ctx, d["grid"]) if "grid" in d else None,
        eot=_plain(ctx, PoseRanges, d.get("eot"), "eot", ranges=True),
        lighting=_plain(ctx, LightingRanges, d.get("lighting"), "lighting", ranges=True),
        effects=_plain(ctx, EffectRanges, d.get("camera_effects"), "camera_effects", ranges=True),
        crop=_plain(ctx, CropConfig, d.get("crop"), "crop"),
        background=_background(ctx, d.get("background")),
        realism=_plain(ctx, RealismConfig, d.get("realism"), "realism"),
        detector=_detector(ctx, d["detector"], sign.size_m, d.get("eot") or {}) if "detector" in d else None,
        path=file,
    )
    cam = scene.camera
    px = cam.width * cam.height * cam.supersample ** 2
    if px > MAX_FRAME_PIXELS:
        raise ctx.fail("camera", f"{cam.width} x {cam.height} x {cam.supersample}^2 = {px} px",
                       f"a frame may render at most {MAX_FRAME_PIXELS} pixels (width x height x supersample^2)")
    return scene


def scene_to_data(scene: Scene) -> dict[str, Any]:
    """The scene in the YAML file's own form (keys as a scene file spells them, ranges as [lo, hi],
    rectangles as polygons): ``parse_scene(scene_to_data(s), s.path) == s``, through YAML text too. Paths
    inside stay as written; ``s.path`` (absolute) resolves them."""

    def plain(obj, ranges: bool = False) -> dict:
        return {f.name: (list(getattr(obj, f.name)) if ranges else getattr(obj, f.name))
                for f in dataclasses.fields(obj)}

    s = scene.sign
    face: Any = "procedural"
    if s.face.kind != "procedural":
        face = {"kind": s.face.kind, "path": s.face.path}
        if s.face.corners is not None:
            face["corners"] = [list(c) for c in s.face.corners]
    sticker = _sticker_data(scene.sticker)
    out: dict[str, Any] = {
        "name": scene.name,
        "sign": {"class": s.class_name, "face": face, **{k: v for k, v in plain(s).items()
                                                          if k not in ("class_name", "face")}},
        "sticker": sticker,
        "camera": plain(scene.camera),
        "eot": plain(scene.eot, ranges=True),
        "lighting": plain(scene.lighting, ranges=True),
        "camera_effects": plain(scene.effects, ranges=True),
        "crop": plain(scene.crop),
        "background": {"kind": scene.background.kind, "images": list(scene.background.images)},
        "realism": plain(scene.realism),
    }
    if scene.driveby is not None:
        out["driveby"] = plain(scene.driveby)
    if scene.grid is not None:
        out["grid"] = {k: list(v) for k, v in plain(scene.grid).items()}
    if scene.detector is not None:
        det: dict[str, Any] = {}
        if scene.detector.sticker is not None:
            det["sticker"] = _sticker_data(scene.detector.sticker)
        if scene.detector.eot is not None:
            det["eot"] = plain(scene.detector.eot, ranges=True)
        out["detector"] = det
    return out


def _sticker_data(sticker: StickerConfig) -> dict[str, Any]:
    """A sticker layout in the scene file's form (rectangles as polygons)."""
    out: dict[str, Any] = {"regions": [{"polygon": [list(p) for p in r.points]} for r in sticker.regions]}
    if sticker.mask_path is not None:
        out["mask"] = sticker.mask_path
    return out
