"""``patchsim score``: real photos or video of a printed sticker on a sign, scored exactly like the
simulation: locate the sign, cut the detector crop, classify, per-frame and temporal metrics, report."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file
from patchsim.evaluate.records import write_metrics
from patchsim.evaluate import real, report
from patchsim.evaluate.records import RealFrameRecord
from patchsim.objectives.goals import Goal
from patchsim.render.crop import detector_crop, square_box
from patchsim.io.images import read_image, write_png
from patchsim.defences import load_defended
from patchsim.io.images import VIDEO_SUFFIXES
from patchsim.io.outputs import writes_folder
from patchsim.realphoto.find_sign import load_corners, locate
from patchsim.device import resolve_device

log = logging.getLogger(__name__)


def frames_of(sources: list[str], allow_partial: bool = False):
    """(name, RGB frame) from image files, folders of images and video files, in the order given
    (``allow_partial``: a video cut short is scored on the frames it has)."""
    for s in sources:
        p = Path(s)
        if p.is_dir():
            yield from real.folder_frames(p)
        elif p.suffix.lower() in VIDEO_SUFFIXES:
            yield from ((f"{p.stem}:{i}", f) for i, f in real.video_frames(p, allow_partial))
        elif p.is_file():
            yield p.name, read_image(p)
        else:
            raise missing_file(s, "photo, folder or video")


@writes_folder("score", ("metrics.json", "frames.csv", "crops.png", "report.html"))
def run_score(sources: list[str], model_name: str, out: str | Path, sign: str = "stop", target=None,
              corners_file: str | None = None, weights: str | None = None, labels: str | None = None,
              margin: float = 0.1, fps: float | None = None, force: bool = False, device: str | None = "auto",
              find_with: str | None = None, find_with_labels: str | None = None, defence: str | None = None,
              allow_partial: bool = False) -> dict:
    """Score real footage; writes metrics.json, frames.csv, crops.png, filters.png and report.html.
    ``find_with``: a detector (see :func:`patchsim.models.detectors.load_detector`) finds the sign in each
    frame instead of the corners file, markers or the red octagon; a frame where it finds none counts as
    without a sign (for a detector pipeline, the sign was missed)."""

    model = load_defended(model_name, weights=weights, labels=labels, defence=defence).to(resolve_device(device))
    goal = Goal.from_classes(model.classes, sign, target, "--sign")
    finder = None
    if find_with:
        from patchsim.models.detectors import load_detector

        finder = load_detector(find_with, labels=find_with_labels).to(resolve_device(device))
        if sign not in finder.classes:
            raise PatchsimError(f"--find-with {find_with}: the detector has no class {sign!r}; its classes: {', '.join(finder.classes)}")
    corners = load_corners(corners_file) if corners_file else None
    if fps is None:
        vids = [s for s in sources if Path(s).suffix.lower() in VIDEO_SUFFIXES]
        fps = real.video_fps(vids[0]) if vids else None
    size = model.input_size[0]
    names, crops, methods, missing = [], [], [], []
    for name, img in frames_of(sources, allow_partial):
        c, how = locate_with(finder, img, sign) if finder is not None else locate(img, sign, name, corners)
        if c is None:
            missing.append(name)
            continue
        names.append(name)
        methods.append(how)
        crops.append(detector_crop(img, square_box(c, margin), size))
    if not crops:
        raise PatchsimError(f"the sign was found in none of the {len(missing)} frames; give --corners")
    records, metrics = real.sequence_from_crops(model, names, crops, goal, fps, located_by=methods)
    out = Path(out)
    summary = {"sources": sources, "model": model_name, "sign": sign,
               "target": model.classes[goal.target] if goal.target is not None else None, "fps": fps,
               "frames_scored": len(names), "frames_without_sign": missing, "metrics": {"real": metrics}}
    write_metrics(out / "metrics.json", summary)
    report.write_frames_csv(out / "frames.csv", [r.to_row() for r in records])
    _crop_sheet(out / "crops.png", crops, records)
    log.info("%d frames scored (%d without a sign): fooled %.1f%%", len(names), len(missing),
             100 * metrics.success)
    report.write_html(out / "report.html", f"patchsim score: {model_name}", ["crops.png"],
                      note=f"{len(names)} frames scored, {len(missing)} without a sign found.", metrics={"real": metrics})
    return summary


def locate_with(detector, img: np.ndarray, sign: str) -> tuple[np.ndarray | None, str]:
    """The best detection of class ``sign`` in ``img`` as 4 box corners ``(4, 2)`` (pixel centres at
    integers), or (None, "missed by the detector")."""
    dets = [d for d in detector.detect_images([img])[0] if d.label == sign]
    if not dets:
        return None, "missed by the detector"
    x1, y1, x2, y2 = (v - 0.5 for v in max(dets, key=lambda d: d.score).box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]), f"detector {detector.name}"


def _crop_sheet(path: Path, crops: list[np.ndarray], rows: list[RealFrameRecord], limit: int = 24) -> None:
    import cv2

    tiles = []
    for crop, r in list(zip(crops, rows))[:limit]:
        t = cv2.resize(crop, (96, 96), interpolation=cv2.INTER_NEAREST)
        bar = np.full((20, 96, 3), 255, np.uint8)
        colour = (200, 30, 30) if r.fooled else (20, 140, 40)
        cv2.putText(bar, f"{r.pred[:13]} {r.conf:.2f}", (2, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)
        tiles.append(np.concatenate([t, bar], 0))
    while len(tiles) % 8:
        tiles.append(np.full_like(tiles[0], 255))
    write_png(path, np.concatenate([np.concatenate(tiles[i:i + 8], 1) for i in range(0, len(tiles), 8)], 0))
