"""Scoring a detector sticker on real photos: each sign located and relit as for classifiers
(:func:`patchsim.evaluate.photos.view_sign`), the printed sticker stuck on it, and the whole photo run
through the detector, clean, raw (sticker.png pasted as is) and relit. A sign counts as detected when a
detection of its class overlaps its box (the annotated box, else the located face's box) by IoU >= 0.5
with a score at the detector's threshold; fooled as the :class:`~patchsim.objectives.goals.DetectionGoal` says."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from patchsim.models.detectors.core import detections_as_tensors
from patchsim.evaluate.photos import RUNS, relit_band
from patchsim.realphoto.views import model_light, view_sign
from patchsim.realphoto.placement import FacePyramid, place_sticker, place_sticker_lights
from patchsim.realphoto.sources import SignPhoto
from patchsim.objectives.goals import DetectionGoal
from patchsim.signs import draw_face_array


@dataclass(frozen=True)
class DetectorPhotoRecord:
    """One sign in one photo: where it came from, how it was located, its size (px), its box (x1, y1, x2,
    y2) and per run (clean, raw, relit: the default relighting) whether the sign's class was detected at it
    and whether the goal counts the run as fooled; ``band_models`` / ``band_fooled``: the relit run under
    every surviving relighting model (:mod:`patchsim.realphoto.relight_choice`), default first."""

    source: str
    name: str
    role: str
    located_by: str
    side_px: float
    box: tuple
    clean_detected: bool
    clean_fooled: bool
    raw_detected: bool
    raw_fooled: bool
    relit_detected: bool
    relit_fooled: bool
    band_models: tuple = ()
    band_fooled: tuple = ()


def sign_box(sp: SignPhoto, corners: np.ndarray) -> tuple[float, float, float, float]:
    """The sign's box xyxy (pixel edges): the annotated box when there is one, else the located face's."""
    if sp.box is not None:
        return tuple(float(v) for v in sp.box)
    return (*(corners.min(0) + 0.5).tolist(), *(corners.max(0) + 0.5).tolist())


def score_detector_photos(sticker_rgba: np.ndarray, printed_rgba: np.ndarray, detector, goal: DetectionGoal,
                          signs: list[SignPhoto], sign: str = "stop", relight: str | None = "validated",
                          margin: float = 0.1) -> tuple[list[DetectorPhotoRecord], list[tuple[str, str]]]:
    """Records of every usable sign and the skipped ones ``[(name, reason)]``. ``sticker_rgba`` is
    sticker.png (colours sent to the printer), ``printed_rgba`` the same as printed; ``relight``
    ``validated`` (the default model, and the band over the surviving ones) or one model."""
    from patchsim.realphoto.relight_choice import band_models

    relight, models = band_models(relight)
    raw, printed = FacePyramid(sticker_rgba), FacePyramid(printed_rgba)
    face = FacePyramid(draw_face_array(sign, 1024))
    records, skipped = [], []
    for sp in signs:
        v = view_sign(sp, face, sign, relight, margin)
        if isinstance(v, str):
            skipped.append((sp.name, v))
            continue
        lights = [v.light] + [model_light(sp, v, face, sign, m) for m in models[1:]]
        images = [v.photo, place_sticker(v.photo, v.img_from_face, raw)]
        images += place_sticker_lights(v.photo, v.img_from_face, printed, lights)
        box = sign_box(sp, v.corners)
        t_box = torch.tensor(box, dtype=torch.float32)
        per, band = {}, []
        for k, dets in enumerate(detector.detect_images(images)):
            t = detections_as_tensors(dets, detector.classes)
            fooled = bool(goal.fooled([t], t_box[None])[0])
            if k < len(RUNS):
                per[f"{RUNS[k]}_detected"] = goal.found(*t, t_box, goal.sign_class)
                per[f"{RUNS[k]}_fooled"] = fooled
            if k >= len(RUNS) - 1:  # the relit run and the other models' relit runs
                band.append(fooled)
        records.append(DetectorPhotoRecord(sp.source, sp.name, sp.role, v.located_by, round(v.side_px, 1),
                                           tuple(round(x, 2) for x in box), **per, band_models=models,
                                           band_fooled=tuple(band)))
    return records, skipped


def summarise_detector_photos(records: list[DetectorPhotoRecord]) -> dict:
    """Counts and rates: signs, detected clean, fooled raw / relit (fractions of signs), and REAP's ASR
    relit: of the signs detected clean, the fraction the relit sticker fools."""
    n = len(records)
    ok = [r for r in records if r.clean_detected]
    out = {"signs": n, "clean_detected": len(ok)}
    for run in RUNS:
        fooled = sum(getattr(r, f"{run}_fooled") for r in records)
        out[f"{run}_fooled"] = fooled
        out[f"{run}_success"] = fooled / n if n else None
        out[f"{run}_asr"] = (sum(getattr(r, f"{run}_fooled") for r in ok) / len(ok)) if ok else None
    if records and records[0].band_models:
        out.update(relit_band(records, ok))
    return out
