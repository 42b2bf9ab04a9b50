"""Scoring a sticker on real photos of signs: locate each sign (annotation, locator markers or the red
octagon with perspective), stick the printed sticker on it relit with the sign's own light, cut the
same detector crop as the simulator and classify clean, raw (sticker.png pasted as is, the old way)
and relit (printed, relit, blurred like the photo)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from patchsim.objectives.goals import Goal, classify_crops
from patchsim.realphoto.placement import FacePyramid, place_sticker, place_sticker_lights
from patchsim.realphoto.sources import SignPhoto
from patchsim.realphoto.views import model_light, view_sign
from patchsim.render.crop import detector_crop
from patchsim.signs import draw_face_array

RUNS = ("clean", "raw", "relit")
VIEW_PX = 160  # the relit detector crop kept at this size for the contact sheet


@dataclass(frozen=True)
class PhotoRecord:
    """One sign in one photo, scored. ``located_by``: annotation | markers | octagon | box | octagon-box;
    ``corners``: face-square corners (TL, TR, BR, BL) as a flat list of 8 pixel coordinates;
    ``side_px``: mean face side in the photo; ``blur_px`` and ``relight`` (method, coefficients,
    residual): the sign's light under the default model; then per run (clean, raw, relit: the default
    relighting) the predicted class, its probability and whether it counts as fooled; ``band_*`` the
    relit run under every surviving relighting model (:mod:`patchsim.realphoto.relight_choice`)."""

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

    def to_row(self) -> dict:
        """The photos.csv row: every field, tuples as Python writes them."""
        return dataclasses.asdict(self)

class PhotoScorer:
    """Scores one sticker on real photos. ``sticker_rgba`` uint8 ``(P, P, 4)``: sticker.png (the
    colours sent to the printer); ``printed_rgba``: the same as printed (see
    :func:`patchsim.io.stickers.printed_rgba`); ``model`` a classifier; ``goal`` what counts as fooled;
    ``sign`` the catalogue sign whose designed face is the relighting reference; ``relight`` None or
    ``"validated"`` (the validated default, with the band over the surviving models) or one named
    model (:mod:`patchsim.realphoto.relight`); ``margin`` the detector box margin (as the scene's crop)."""

    def __init__(self, sticker_rgba: np.ndarray | None, printed_rgba: np.ndarray | None, model, goal: Goal,
                 sign: str = "stop", relight: str | None = None, margin: float = 0.1):
        from patchsim.realphoto.relight_choice import band_models

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
