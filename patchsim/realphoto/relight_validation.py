"""Relighting models judged on real pixels they were not fitted on.

A photographed stop sign shows two design colours, the red field and the white legend and border. Each
relighting model (:mod:`patchsim.realphoto.relight`) is fitted on one of them and asked to predict the
other: fit on the red field, predict the white; fit on the white, predict the red. The error is the
CIEDE2000 difference between the predicted colour and the median photographed colour of the held-out
pixels (eroded away from edges and blur). A sticker's colours are neither the sign's red nor its white:
a model that cannot carry one colour to the other will not carry the sign's light to a sticker either.
The in-sample error (the production fit on all the sign's pixels, both colours predicted) is kept
beside it.

Model choice uses the attacker photos only; the scoring photos get the same table as a check.

Colours are sRGB in [0, 1]; errors are CIEDE2000 (colour-science)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.realphoto.colour import ciede2000, srgb_to_lab
from patchsim.realphoto.placement import FacePyramid, _blur, sign_region, warp_face
from patchsim.realphoto.relight import METHODS, fit_relight
from patchsim.signs.catalogue import RED, WHITE

MIN_CLASS_PX = 12  # a design colour with fewer clean pixels than this in a photo is not judged
VALIDATION_FIT_PIXELS = 4000  # each fit sees a regular subsample of this many pixels


@dataclass(frozen=True)
class SignValidation:
    """One sign, one model: CIEDE2000 of the white predicted from a fit on the red field
    (``white_from_red``), the red from a fit on the white (``red_from_white``), and the in-sample
    errors of the fit on the whole sign (``fit_red``, ``fit_white``)."""

    source: str
    name: str
    method: str
    white_from_red: float
    red_from_white: float
    fit_red: float
    fit_white: float


def _subsample(a: np.ndarray, n: int = VALIDATION_FIT_PIXELS) -> np.ndarray:
    return a if len(a) <= n else a[(np.arange(n) * (len(a) / n)).astype(np.int64)]


def design_classes(ref: np.ndarray, inside: np.ndarray) -> dict[str, np.ndarray]:
    """Bool masks ``(h, w)`` where the design ``ref`` ``(h, w, 3)`` (warped and blurred like the photo)
    is still the catalogue red or white within 0.06 (no edge or blur mixing), inside the face."""
    return {name: (np.abs(ref - np.asarray(c, np.float32) / 255).max(-1) < 0.06) & inside
            for name, c in (("red", RED), ("white", WHITE))}


def validate_sign(photo: np.ndarray, img_from_face: np.ndarray, blur_px: float, face: FacePyramid,
                  methods=METHODS) -> dict[str, tuple[float, float, float, float]] | str:
    """{method: (white_from_red, red_from_white, fit_red, fit_white)} CIEDE2000 for one located sign
    (``photo`` uint8 ``(H, W, 3)``, ``img_from_face`` its homography, ``blur_px`` its fitted blur), or
    the reason it cannot be judged."""
    x0, y0, x1, y1 = sign_region(img_from_face, photo.shape[:2])
    obs = photo[y0:y1, x0:x1].astype(np.float32) / 255
    ref_rgba = warp_face(face, img_from_face, (x0, y0, x1, y1))
    alpha = ref_rgba[..., 3]
    inside = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ref = _blur(ref_rgba[..., :3] + obs * (1 - alpha[..., None]), blur_px)
    cls = design_classes(ref, inside)
    if min(int(m.sum()) for m in cls.values()) < MIN_CLASS_PX or inside.sum() < 60:
        return "too few clean red or white pixels"
    seen = {k: srgb_to_lab(np.median(obs[m], 0)) for k, m in cls.items()}
    design = {"red": np.asarray(RED, np.float32) / 255, "white": np.asarray(WHITE, np.float32) / 255}

    def err(fit, colour):
        return float(ciede2000(srgb_to_lab(fit(design[colour][None])[0]), seen[colour]))

    out = {}
    for m in methods:
        try:
            f_red = fit_relight(_subsample(ref[cls["red"]]), _subsample(obs[cls["red"]]), m)
            f_white = fit_relight(_subsample(ref[cls["white"]]), _subsample(obs[cls["white"]]), m)
            f_all = fit_relight(_subsample(ref[inside]), _subsample(obs[inside]), m)
        except PatchsimError as e:
            return str(e)
        out[m] = (err(f_red, "white"), err(f_white, "red"), err(f_all, "red"), err(f_all, "white"))
    return out


def summarise_validation(rows: list[SignValidation]) -> dict[str, dict[str, float]]:
    """Per method: signs, median and 90th percentile of the held-out errors (both directions pooled),
    each direction's median, and the in-sample median."""
    out = {}
    for m in [m for m in METHODS if m in {r.method for r in rows}]:
        rs = [r for r in rows if r.method == m]
        held = np.array([v for r in rs for v in (r.white_from_red, r.red_from_white)])
        fit = np.array([v for r in rs for v in (r.fit_red, r.fit_white)])
        out[m] = {"signs": len(rs), "held_out_median": float(np.median(held)),
                  "held_out_p90": float(np.percentile(held, 90)),
                  "white_from_red_median": float(np.median([r.white_from_red for r in rs])),
                  "red_from_white_median": float(np.median([r.red_from_white for r in rs])),
                  "in_sample_median": float(np.median(fit))}
    return out


def choose_models(summary: dict[str, dict[str, float]], slack: float = 1.5, key: str = "held_out_median"
                  ) -> tuple[str, tuple[str, ...]]:
    """(default, survivors) from an attacker-photo summary ({model: {key: error}}): the default has the
    lowest ``key`` error; a model survives when its error is within ``slack`` times the default's."""
    if not summary:
        raise PatchsimError("no relighting model was validated")
    best = min(summary, key=lambda m: summary[m][key])
    return best, tuple(m for m in METHODS if m in summary and summary[m][key] <= slack * summary[best][key])


@dataclass(frozen=True)
class RegionValidation:
    """One marked region of standard sheeting colour near a photographed stop sign, one model: the
    CIEDE2000 between the colour the sign's fitted relighting predicts for the family's nominal colour
    and the region's median photographed colour."""

    source: str
    file: str
    family: str
    method: str
    error: float


def region_errors(photo: np.ndarray, lights: dict, regions: list[dict]) -> dict[str, list[float]]:
    """{method: [CIEDE2000 per region]} for ``regions`` ({family, polygon}) of ``photo`` (uint8) under
    each fitted relighting of the stop sign beside them (``lights`` {method: Relight}); a region whose
    pixels cannot be read is left out (its entry is nan)."""
    from patchsim.realphoto.relight_regions import design_srgb, region_colour

    out = {m: [] for m in lights}
    for r in regions:
        seen = region_colour(photo, np.asarray(r["polygon"], np.float64), r["family"])
        design = design_srgb(r["family"]).astype(np.float32)
        for m, fit in lights.items():
            out[m].append(float("nan") if seen is None else
                          float(ciede2000(srgb_to_lab(fit(design[None])[0]), srgb_to_lab(seen))))
    return out


def summarise_regions(rows: list[RegionValidation]) -> dict[str, dict]:
    """Per method: regions, pooled median and 90th percentile, and the same per colour family."""
    out = {}
    for m in [m for m in METHODS if m in {r.method for r in rows}]:
        rs = [r for r in rows if r.method == m and np.isfinite(r.error)]
        e = np.array([r.error for r in rs])
        fam = {}
        for f in sorted({r.family for r in rs}):
            ef = np.array([r.error for r in rs if r.family == f])
            fam[f] = {"regions": len(ef), "median": float(np.median(ef)), "p90": float(np.percentile(ef, 90))}
        out[m] = {"regions": len(rs), "median": float(np.median(e)) if len(e) else float("nan"),
                  "p90": float(np.percentile(e, 90)) if len(e) else float("nan"), "families": fam}
    return out
