"""The sim-to-real table every attack reports: the same sticker scored four ways, side by side.

1. held-out renders: EOT conditions of a seed the optimiser never used, the optimiser's own renderer;
2. independent simulator: the scene's drive-by (or its grid) through the OpenCV camera simulator;
3. real photos raw: sticker.png pasted onto photographed signs as is (the old, optimistic way);
4. real photos relit: printed by the printer model, relit with each sign's light, blurred like the photo.

For a detector the renders are the windows it sees, the simulator's frames and the photos go through it
whole, and "fooled" is the attack's :class:`~patchsim.objectives.goals.DetectionGoal` (e.g. the stop sign not
detected at IoU >= 0.5).

Real photos are the scoring sets of :mod:`patchsim.realphoto.sources` (never the attacker photos); sets
whose data is absent are reported as such."""

from __future__ import annotations

import logging

import numpy as np
import torch

from patchsim.evaluate.records import PhotoSetScore, SimToReal
from patchsim.objectives.goals import Goal
from patchsim.realphoto.sources import NAMED
from patchsim.errors import PatchsimError
from patchsim.io.stickers import printed_rgba

log = logging.getLogger(__name__)

SCORING_SETS = tuple(k for k, v in NAMED.items() if v == "scoring")


def driveby_or_grid(scene, seed: int = 0):
    """(protocol, conditions) of the scene's drive-by, or its grid when it has no drive-by; None when it
    has neither."""
    from patchsim.render import sample_driveby, sample_grid

    g = torch.Generator().manual_seed(seed)
    if scene.driveby is not None:
        return "driveby", sample_driveby(scene, g)
    if scene.grid is not None:
        return "grid", sample_grid(scene, g)
    return None


def independent_success(scene, model, goal: Goal, sticker_rgba: np.ndarray, seed: int = 0) -> tuple[str, float] | None:
    """(protocol, fraction of frames fooled) in the independent simulator: the scene's drive-by, or its
    stationary grid when it has no drive-by (None when it has neither)."""
    from patchsim.evaluate.runner import EvalSettings, MetricsSink, bin_edges, drain, evaluate_frames

    seq = driveby_or_grid(scene, seed)
    if seq is None:
        return None
    protocol, cond = seq
    settings = EvalSettings(spatial_k=0, flow=False)
    frames = evaluate_frames(scene, model, goal, cond, sticker_rgba, settings, progress=False)
    (res,) = drain(frames, [MetricsSink(goal, settings, bin_edges(scene, protocol))])
    return protocol, res.metrics["attacked"].success


def independent_detection(scene, detector, goal, sticker_rgba: np.ndarray, seed: int = 0) -> tuple[str, float] | None:
    """For a detector: (protocol, fraction of frames fooled by ``goal``) over the scene's drive-by (or
    grid) in the independent simulator, full frames."""
    from patchsim.evaluate.detection import evaluate_detection_frames

    seq = driveby_or_grid(scene, seed)
    if seq is None:
        return None
    protocol, cond = seq
    fooled = [rec.attacked.fooled for rec, _ in evaluate_detection_frames(scene, detector, goal, cond, sticker_rgba,
                                                                           progress=False)]
    return protocol, float(np.mean(fooled))


def photo_success(source: str, sticker_rgba: np.ndarray, printed: np.ndarray, model, goal, sign: str,
                  margin: float, sheet=None) -> PhotoSetScore:
    """The score of one scoring set (only ``missing``, the reason, when its data is absent). For a
    detector (``goal`` a :class:`~patchsim.objectives.goals.DetectionGoal`) whole photos go through it and
    ``clean_correct`` counts the signs it detects clean. ``sheet``: a path for the classifier's contact
    sheet of the set (clean, raw, relit crops), or None."""
    from patchsim.evaluate.photos import PhotoScorer, summarise
    from patchsim.realphoto.sources import photo_source

    try:
        signs = photo_source(source)
    except PatchsimError as e:
        return PhotoSetScore(missing=str(e))
    if goal.detection:
        from patchsim.evaluate.photo_detector import score_detector_photos, summarise_detector_photos

        records, skipped = score_detector_photos(sticker_rgba, printed, model, goal, signs, sign, "validated", margin)
        s = summarise_detector_photos(records)
        return PhotoSetScore(signs=s["signs"], skipped=len(skipped), clean_correct=s["clean_detected"],
                             raw=s["raw_success"], relit=s["relit_success"], relit_asr=s["relit_asr"],
                             raw_fooled=s["raw_fooled"], relit_fooled=s["relit_fooled"],
                             relit_worst=s.get("relit_worst_success"), relit_best=s.get("relit_best_success"),
                             relit_worst_fooled=s.get("relit_worst_fooled"), relit_worst_model=s.get("relit_worst_model"),
                             relit_models=tuple(s.get("relit_models", ())))
    records, skipped, crops = PhotoScorer(sticker_rgba, printed, model, goal, sign, "validated", margin).score(signs)
    s = summarise(records, model.classes[goal.true_class])
    if sheet is not None and records:
        from patchsim.evaluate.photo_sheets import write_contact_sheet

        write_contact_sheet(sheet, records, crops, True, limit=24)
    return PhotoSetScore(signs=s["signs"], skipped=len(skipped), clean_correct=s["clean_correct"], raw=s["raw_success"],
                         relit=s["relit_success"], relit_asr=s["relit_asr"], raw_fooled=s["raw_fooled"],
                         relit_fooled=s["relit_fooled"], relit_worst=s.get("relit_worst_success"),
                         relit_best=s.get("relit_best_success"), relit_worst_fooled=s.get("relit_worst_fooled"),
                         relit_worst_model=s.get("relit_worst_model"), relit_models=tuple(s.get("relit_models", ())))


def sheet_name(source: str) -> str:
    """The contact sheet file of a scoring set in an attack folder: photos_SOURCE.png."""
    return "photos_" + "".join(c if c.isalnum() else "_" for c in source) + ".png"


def sim_to_real(scene, model, goal, held_out_renders: float, sticker_rgba: np.ndarray, printer,
                sources=SCORING_SETS, sheets_dir=None) -> SimToReal:
    """The table for an attack's result. ``scene`` and ``model`` (a classifier or a detector) as
    attacked, ``goal`` what counts as fooled (a :class:`~patchsim.objectives.goals.Goal` or
    :class:`~patchsim.objectives.goals.DetectionGoal`), ``held_out_renders`` the success on held-out
    renders (the attack engine's :func:`patchsim.attack.eot.held_out_success`), ``sticker_rgba`` the
    exported sticker.png (uint8 RGBA ``(P, P, 4)`` over the face square), ``printer`` the attack's
    :class:`~patchsim.printing.printer.PrinterModel`; ``sheets_dir``: where to write each classifier
    set's contact sheet (:func:`sheet_name`), or None."""
    import cv2

    detector = goal.detection
    small = cv2.resize(sticker_rgba, (2048, 2048), interpolation=cv2.INTER_AREA) if sticker_rgba.shape[0] > 2048 \
        else sticker_rgba
    printed = printed_rgba(small, printer)
    ind = (independent_detection if detector else independent_success)(scene, model, goal, printed)
    if detector and goal.kind == "create":
        photos = {src: PhotoSetScore(missing="the photo sets show stop signs, not plain boards to stick a creation patch on")
                  for src in sources}
    else:
        photos = {src: photo_success(src, small, printed, model, goal, scene.sign.class_name, scene.crop.margin,
                                     None if sheets_dir is None or detector else sheets_dir / sheet_name(src))
                  for src in sources}
    return SimToReal(
        held_out_renders=held_out_renders, independent_protocol=ind[0] if ind else None,
        independent_simulator=ind[1] if ind else None, photos=photos,
        note=("held-out: 512 EOT renders of seed 424242; drive-by: independent simulator, printed sticker; "
              "photos: scoring sets only (never the optimiser's attacker photos); raw = sticker.png pasted "
              "as is, relit = printed, relit with each sign's light (the validated default; band worst-best over the "
              "relighting models that passed validation, docs/results/relight_validation.md) and blurred like the photo"))


def format_table(t: SimToReal) -> str:
    """The table as text lines for the log and the CLI."""
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines = [f"held-out renders {pct(t.held_out_renders)}, {t.independent_protocol or 'no drive-by or grid'} "
             f"(independent simulator) {pct(t.independent_simulator)}"]
    for src, r in t.photos.items():
        if r.missing is not None:
            lines.append(f"{src}: not scored ({r.missing})")
        else:
            band = f" ({pct(r.relit_worst)[:-1]}-{pct(r.relit_best)})" if r.relit_worst is not None else ""
            worst = f", worst plausible {pct(r.relit_worst)}" if r.relit_worst is not None else ""
            lines.append(f"{src}: {r.signs} signs, raw {pct(r.raw)}, relit {pct(r.relit)}{band}{worst}")
    return "\n".join(lines)
