"""Scoring a sticker on real photos of signs: locate each sign (annotation, locator markers or the red
octagon with perspective), stick the printed sticker on it relit with the sign's own light, cut the
same detector crop as the simulator and classify clean, raw (sticker.png pasted as is, the old way)
and relit (printed, relit, blurred like the photo)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.imageio import read_image
from patchsim.photo.detect import corners_from_markers, find_stop_sign
from patchsim.photo.octagon import (FACE_CORNERS_UV, apply_homography, canonical_vertices, fit_stop_octagon,
                                    homography_from_corners)
from patchsim.photo.placement import (FacePyramid, SignLight, estimate_blur, fit_sign_light, place_sticker,
                                      place_sticker_lights, sign_region, warp_face)
from patchsim.photo.relight import identity
from patchsim.photo.sources import SignPhoto
from patchsim.protocol import Goal, classify_crops, detector_crop, square_box
from patchsim.signs import draw_face_array

MIN_SIGN_PX = 16  # a sign narrower than this in the photo is skipped (too few pixels to relight)
BOX_PAD = 0.25  # an annotated box is grown by this fraction per side before the octagon is searched in it
RUNS = ("clean", "raw", "relit")
VIEW_PX = 160  # the relit detector crop kept at this size for the contact sheet


@dataclass(frozen=True)
class PhotoRecord:
    """One sign in one photo, scored. ``located_by``: annotation | markers | octagon | box | octagon-box;
    ``corners``: face-square corners (TL, TR, BR, BL) as a flat list of 8 pixel coordinates;
    ``side_px``: mean face side in the photo; ``blur_px`` and ``relight`` (method, coefficients,
    residual): the sign's light under the default model; then per run (clean, raw, relit: the default
    relighting) the predicted class, its probability and whether it counts as fooled; ``band_*`` the
    relit run under every surviving relighting model (:mod:`patchsim.photo.relight_choice`)."""

    source: str
    name: str
    role: str
    located_by: str
    side_px: float
    corners: tuple
    blur_px: float
    relight_method: str
    relight_gain: tuple
    relight_offset: tuple
    relight_rmse: float
    clean_pred: str
    clean_conf: float
    clean_fooled: bool
    raw_pred: str
    raw_conf: float
    raw_fooled: bool
    relit_pred: str
    relit_conf: float
    relit_fooled: bool
    band_models: tuple = ()  # the surviving relighting models, default first
    band_preds: tuple = ()  # the relit prediction under each of them
    band_fooled: tuple = ()  # and whether it counts as fooled

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PhotoRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        if not required <= set(d) <= names:
            raise PatchsimError(f"photo record: expected keys {sorted(names)}, got {sorted(d)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def locate_sign(photo: np.ndarray, sp: SignPhoto) -> tuple[np.ndarray | None, str]:
    """(img_from_face homography, how) for the sign ``sp`` in ``photo``; (None, reason) if not found."""
    if sp.corners is not None:
        return homography_from_corners(np.asarray(sp.corners, np.float64)), "annotation"
    if sp.box is not None:
        x1, y1, x2, y2 = sp.box
        px, py = BOX_PAD * (x2 - x1), BOX_PAD * (y2 - y1)
        fit = fit_stop_octagon(photo, (int(x1 - px), int(y1 - py), int(np.ceil(x2 + px)), int(np.ceil(y2 + py))),
                               min_area_frac=0.2)
        if fit is not None and _inside_box(fit.corners, sp.box):
            return fit.img_from_face, "octagon"
        rect = np.array([[x1 - 0.5, y1 - 0.5], [x2 - 0.5, y1 - 0.5], [x2 - 0.5, y2 - 0.5], [x1 - 0.5, y2 - 0.5]])
        return homography_from_corners(rect), "box"
    c = corners_from_markers(photo)
    if c is not None:
        return homography_from_corners(c), "markers"
    fit = fit_stop_octagon(photo)
    if fit is not None:
        return fit.img_from_face, "octagon"
    c = find_stop_sign(photo)
    if c is not None:
        return homography_from_corners(c), "octagon-box"
    return None, "sign not found"


def _inside_box(corners: np.ndarray, box: tuple, tol: float = 0.25) -> bool:
    """Does the fitted face square agree with the annotated box (each edge within ``tol`` of its size)?"""
    x1, y1, x2, y2 = box
    lo, hi = corners.min(0), corners.max(0)
    w, h = x2 - x1, y2 - y1
    return (abs(lo[0] - x1) < tol * w and abs(hi[0] - x2) < tol * w and abs(lo[1] - y1) < tol * h
            and abs(hi[1] - y2) < tol * h)


def sign_blur(photo: np.ndarray, img_from_face: np.ndarray, face: FacePyramid, sign: str) -> float:
    """The blur (Gaussian sigma, photo pixels) of the sign at ``img_from_face`` in ``photo``, judged
    along the red octagon's outline for a stop sign (:func:`patchsim.photo.placement.estimate_blur`)."""
    x0, y0, x1, y1 = sign_region(img_from_face, photo.shape[:2])
    edge = apply_homography(img_from_face, canonical_vertices()) - [x0, y0] if sign == "stop" else None
    return estimate_blur(photo[y0:y1, x0:x1], warp_face(face, img_from_face, (x0, y0, x1, y1)), edge)


def sign_light(photo: np.ndarray, img_from_face: np.ndarray, face: FacePyramid, sign: str, method: str,
               blur_px: float | None = None):
    """The light of the sign at ``img_from_face`` in ``photo`` (a
    :class:`patchsim.photo.placement.SignLight`) against the designed ``face`` of ``sign``, fitted by
    ``method`` at blur ``blur_px`` (None: estimated first, :func:`sign_blur`)."""
    if blur_px is None:
        blur_px = sign_blur(photo, img_from_face, face, sign)
    x0, y0, x1, y1 = sign_region(img_from_face, photo.shape[:2])
    return fit_sign_light(photo[y0:y1, x0:x1], warp_face(face, img_from_face, (x0, y0, x1, y1)), blur_px, method)


def face_side_px(img_from_face: np.ndarray) -> float:
    """Mean side (pixels) of the face square in the photo."""
    c = apply_homography(img_from_face, FACE_CORNERS_UV)
    return float(np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[3] - c[0])) / 2


@dataclass(frozen=True)
class SignView:
    """One located sign in a photo, ready for a sticker: ``photo`` uint8 ``(H, W, 3)``,
    ``img_from_face`` homography, ``located_by``, ``corners`` ``(4, 2)`` px, ``side_px``, ``light`` (a
    :class:`patchsim.photo.placement.SignLight`) and the detector ``box`` (left, top, side) px."""

    photo: np.ndarray
    img_from_face: np.ndarray
    located_by: str
    corners: np.ndarray
    side_px: float
    light: object
    box: tuple


def view_sign(sp: SignPhoto, face: FacePyramid, sign: str, relight: str, margin: float) -> SignView | str:
    """Read the photo of ``sp``, locate the sign, check its size, fit its light with ``relight`` and cut
    the detector box: a :class:`SignView`, or the reason it cannot be used. Shared by the photo scorer
    and the optimiser's real-photo batches. The location and each model's light do not depend on any
    sticker and are kept in :mod:`patchsim.photo.view_cache` between runs (the location once for all
    relighting models, with the blur: neither depends on the relighting model)."""
    from patchsim.photo.view_cache import load_view, store_view, view_key

    photo = read_image(sp.path)
    where_key = view_key(sp, f"{sign}@{face.levels[0].shape[0]}", "@where")
    where = load_view(where_key)
    if isinstance(where, str):
        return where
    if where is None:
        h, how = locate_sign(photo, sp)
        if h is None:
            store_view(where_key, how)
            return how
        side = face_side_px(h)
        if side < MIN_SIGN_PX:
            reason = f"sign {side:.0f} px across, under {MIN_SIGN_PX} px"
            store_view(where_key, reason)
            return reason
        blur = sign_blur(photo, h, face, sign)
        store_view(where_key, (h, how, SignLight(identity(), blur)))  # the location, and the blur with no light
    else:
        h, how, carrier = where
        blur = carrier.blur_px
    light = _cached_light(sp, photo, h, how, face, sign, relight, blur)
    side = face_side_px(h)
    corners = apply_homography(h, FACE_CORNERS_UV)
    return SignView(photo, h, how, corners, side, light, square_box(corners, margin))


def _cached_light(sp: SignPhoto, photo: np.ndarray, h: np.ndarray, how: str, face: FacePyramid, sign: str,
                  relight: str, blur: float):
    """The sign's light under ``relight`` at ``blur``, from the view cache or fitted and stored."""
    from patchsim.photo.view_cache import load_view, store_view, view_key

    key = view_key(sp, f"{sign}@{face.levels[0].shape[0]}", relight)
    cached = load_view(key)
    if isinstance(cached, tuple):
        return cached[2]
    light = sign_light(photo, h, face, sign, relight, blur)
    store_view(key, (h, how, light))
    return light


def model_light(sp: SignPhoto, view: SignView, face: FacePyramid, sign: str, relight: str):
    """The light of an already viewed sign (:func:`view_sign`) under another relighting model: the
    same photo, location and blur, the model's own fit (cached like :func:`view_sign`'s)."""
    return _cached_light(sp, view.photo, view.img_from_face, view.located_by, face, sign, relight, view.light.blur_px)


class PhotoScorer:
    """Scores one sticker on real photos. ``sticker_rgba`` uint8 ``(P, P, 4)``: sticker.png (the
    colours sent to the printer); ``printed_rgba``: the same as printed (see
    :func:`patchsim.sticker_io.printed_rgba`); ``model`` a classifier; ``goal`` what counts as fooled;
    ``sign`` the catalogue sign whose designed face is the relighting reference; ``relight`` None or
    ``"validated"`` (the validated default, with the band over the surviving models) or one named
    model (:mod:`patchsim.photo.relight`); ``margin`` the detector box margin (as the scene's crop)."""

    def __init__(self, sticker_rgba: np.ndarray | None, printed_rgba: np.ndarray | None, model, goal: Goal,
                 sign: str = "stop", relight: str | None = None, margin: float = 0.1):
        from patchsim.photo.relight_choice import band_models

        self.relight, self.models = band_models(relight)
        self.raw = FacePyramid(sticker_rgba) if sticker_rgba is not None else None
        self.printed = FacePyramid(printed_rgba) if printed_rgba is not None else None
        self.face = FacePyramid(draw_face_array(sign, 1024))
        self.model, self.goal, self.margin, self.sign = model, goal, margin, sign
        self.size = model.input_size[0]

    def crops(self, sp: SignPhoto) -> tuple[dict, dict[str, np.ndarray]] | tuple[None, str]:
        """({field: value} of the record without predictions, {run: crop uint8 (S, S, 3)}) for one sign,
        or (None, reason) when it cannot be scored."""
        v = view_sign(sp, self.face, self.sign, self.relight, self.margin)
        if isinstance(v, str):
            return None, v
        photo, h, light, box, corners = v.photo, v.img_from_face, v.light, v.box, v.corners
        out = {"clean": detector_crop(photo, box, self.size)}
        relit = photo
        if self.raw is not None:
            out["raw"] = detector_crop(place_sticker(photo, h, self.raw), box, self.size)
            # the same sign under every surviving relighting model, the default first
            lights = [light] + [model_light(sp, v, self.face, self.sign, m) for m in self.models[1:]]
            placed = place_sticker_lights(photo, h, self.printed, lights)
            relit = placed[0]
            out["relit"] = detector_crop(relit, box, self.size)
            for m, img in zip(self.models[1:], placed[1:]):
                out[f"relit:{m}"] = detector_crop(img, box, self.size)
        out["view"] = detector_crop(relit, box, VIEW_PX)
        fields = dict(source=sp.source, name=sp.name, role=sp.role, located_by=v.located_by, side_px=round(v.side_px, 1),
                      corners=tuple(round(float(v), 2) for v in corners.ravel()), blur_px=light.blur_px,
                      relight_method=light.relight.method,
                      relight_gain=tuple(round(float(v), 4) for v in light.relight.gain),
                      relight_offset=tuple(round(float(v), 4) for v in light.relight.offset),
                      relight_rmse=round(light.relight.rmse, 4))
        return fields, out

    def score(self, signs: list[SignPhoto], progress: bool = False):
        """Score every sign: (records, skipped [(name, reason)], crops {run: [crop]} in record order, with
        ``view``: the relit detector crop at ``VIEW_PX``)."""
        from tqdm import tqdm

        extra = tuple(f"relit:{m}" for m in self.models[1:]) if self.raw is not None else ()
        fields, crops, skipped = [], {r: [] for r in RUNS + extra + ("view",)}, []
        for sp in tqdm(signs, desc="photos", disable=not progress or None):
            f, c = self.crops(sp)
            if f is None:
                skipped.append((sp.name, c))
                continue
            fields.append(f)
            for r in RUNS + extra + ("view",):
                crops[r].append(c.get(r, c["clean"]))
        records = []
        if fields:
            probs = {r: classify_crops(self.model, crops[r]) for r in RUNS + extra}
            for i, f in enumerate(fields):
                per = {}
                for r in RUNS:
                    k = int(probs[r][i].argmax())
                    per.update({f"{r}_pred": self.model.classes[k], f"{r}_conf": round(float(probs[r][i, k]), 4),
                                f"{r}_fooled": bool(self.goal.fooled(np.array([k]))[0])})
                if self.raw is not None:
                    ks = [int(probs[r][i].argmax()) for r in ("relit",) + extra]
                    per.update(band_models=self.models, band_preds=tuple(self.model.classes[k] for k in ks),
                               band_fooled=tuple(bool(self.goal.fooled(np.array([k]))[0]) for k in ks))
                records.append(PhotoRecord(**f, **per))
        return records, skipped, crops


def summarise(records: list[PhotoRecord], true_name: str, runs: tuple = RUNS) -> dict:
    """Success of each of ``runs`` over all scored signs, and REAP's attack success rate: of the signs
    the model reads right when clean, the fraction the sticker fools."""
    n = len(records)
    ok = [r for r in records if r.clean_pred == true_name]
    out = {"signs": n, "clean_correct": len(ok)}
    for run in runs:
        out[f"{run}_fooled"] = sum(getattr(r, f"{run}_fooled") for r in records)
        out[f"{run}_success"] = out[f"{run}_fooled"] / n if n else None
        out[f"{run}_asr"] = (sum(getattr(r, f"{run}_fooled") for r in ok) / len(ok)) if ok else None
    if "relit" in runs and records and records[0].band_models:
        out.update(relit_band(records, ok))
    return out


def relit_band(records: list[PhotoRecord], ok: list[PhotoRecord]) -> dict:
    """The relit figures over every surviving relighting model: per model fooled / success / ASR, and
    the band: ``relit_worst_*`` (the headline: the least the sticker keeps under a plausible light
    model), ``relit_default_*``, ``relit_best_*``, with the models that give the worst and best."""
    models = records[0].band_models
    n = len(records)
    per = {}
    for j, m in enumerate(models):
        fooled = sum(r.band_fooled[j] for r in records)
        per[m] = {"fooled": fooled, "success": fooled / n,
                  "asr": (sum(r.band_fooled[j] for r in ok) / len(ok)) if ok else None}
    worst = min(models, key=lambda m: (per[m]["success"], m != models[0]))
    best = max(models, key=lambda m: (per[m]["success"], m == models[0]))
    out = {"relit_models": list(models), "relit_by_model": per, "relit_worst_model": worst, "relit_best_model": best}
    for tag, m in (("worst", worst), ("default", models[0]), ("best", best)):
        out.update({f"relit_{tag}_fooled": per[m]["fooled"], f"relit_{tag}_success": per[m]["success"],
                    f"relit_{tag}_asr": per[m]["asr"]})
    return out


def band_text(s: dict, key: str = "success") -> str:
    """"57.1% (54.0-81.0%)": the default relit figure with the band over the surviving models."""
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    if "relit_worst_success" not in s:
        return pct(s.get(f"relit_{key}"))
    lo, mid, hi = (s[f"relit_{t}_{key}"] for t in ("worst", "default", "best"))
    return f"{pct(mid)} ({pct(lo)[:-1]}-{pct(hi)})" if None not in (lo, hi) else pct(mid)
