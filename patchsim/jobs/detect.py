"""``patchsim detect MODEL IMAGE_OR_DIR... --out DIR``: detections of any detector on image files.

Writes ``detections.json`` (``{"schema_version": 2, "images": [{"file": NAME, "detections": [{"box": [x1,
y1, x2, y2], "score": S, "label": CLASS}]}]}``, boxes in each image's own pixels, best first; see
docs/file-formats.md) and ``annotated/STEM.jpg`` with the boxes drawn (``STEM_EXT.jpg`` when two inputs
share a stem, e.g. ``a.png`` and ``a.jpg``, so neither is written over the other)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file
from patchsim.io.images import IMAGE_SUFFIXES, atomic_write_bytes, image_files, image_size, read_image, write_jpeg
from patchsim.io.outputs import writes_folder
from patchsim.models.detectors.core import Detection
from patchsim.records import Schema, from_versioned, versioned_bytes
from patchsim.device import resolve_device

log = logging.getLogger(__name__)
MAX_IMAGES = 100_000


@dataclass(frozen=True)
class ImageDetections:
    """One image's detections: ``file`` (name as listed in detections.json) and its
    :class:`~patchsim.models.detectors.Detection` list."""

    file: str
    detections: tuple[Detection, ...]


@dataclass(frozen=True)
class DetectionsFile:
    """detections.json: every image's detections, in the order the images were given."""

    images: tuple[ImageDetections, ...]


def _from_v1(data: dict) -> dict:
    """detections.json version 1 (a bare list, each detection's class under ``class``) -> version 2."""
    entries = data.get("images")
    if not isinstance(entries, list):
        return data
    return {"images": [{**e, "detections": [{("label" if k == "class" else k): v for k, v in d.items()}
                                           for d in e.get("detections", [])]} if isinstance(e, dict) else e
                       for e in entries]}


DETECTIONS_SCHEMA = Schema("detections.json", 2, {1: _from_v1})


def read_detections(path: str | Path) -> list[ImageDetections]:
    """A ``detections.json`` back as records (equal to what was written); version 1 files (a bare
    list) are upgraded through :data:`DETECTIONS_SCHEMA`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise PatchsimError(f"cannot read detections file {path}: {e}") from e
    if isinstance(data, list):  # version 1 had no envelope
        data = {"images": data}
    return list(from_versioned(DetectionsFile, data, DETECTIONS_SCHEMA, str(path)).images)


def rounded(d: Detection) -> Detection:
    """``d`` as detections.json keeps it: box to 0.01 px, score to 1e-4."""
    return Detection(tuple(round(float(v), 2) for v in d.box), round(float(d.score), 4), d.label)


def collect_images(inputs: list[str]) -> list[Path]:
    """Image files named directly or found (not recursively) in folders, in the order given (folders
    sorted by name). Missing paths, folders without images and non-image files are one-line errors."""
    out: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += image_files(p)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise PatchsimError(f"{p} is not an image file; allowed: {', '.join(IMAGE_SUFFIXES)}")
            out.append(p)
        else:
            raise missing_file(p, "image or folder")
    if len(out) > MAX_IMAGES:
        raise PatchsimError(f"{len(out)} images given; at most {MAX_IMAGES} per run")
    names = [q.name for q in out]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise PatchsimError(f"two input images are both named {dup}: rename one (outputs are named after the file)")
    return out


def annotated_names(files: list[Path]) -> list[str]:
    """The annotated image's file name for each input: ``STEM.jpg``, or ``STEM_EXT.jpg`` for inputs whose
    stem another input shares (``a.png`` and ``a.jpg`` -> ``a_png.jpg``, ``a_jpg.jpg``); all distinct."""
    stems = [f.stem for f in files]
    names = [f"{f.stem}_{f.suffix[1:].lower()}.jpg" if stems.count(f.stem) > 1 else f"{f.stem}.jpg" for f in files]
    if len(set(names)) != len(names):  # e.g. a.png, a.jpg and a_png.jpg
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise PatchsimError(f"two input images would both be annotated as {dup}: rename one")
    return names


def draw_detections(img: np.ndarray, dets, colours: dict[str, tuple[int, int, int]] | None = None) -> np.ndarray:
    """A copy of uint8 RGB ``img`` with each detection's box and ``class score`` drawn."""
    out = img.copy()
    th = max(1, round(max(img.shape[:2]) / 640))
    for d in dets:
        x1, y1, x2, y2 = (int(round(v)) for v in d.box)
        col = (colours or {}).get(d.label, (230, 30, 30) if d.label == "stop" else (30, 200, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), col, th)
        text = f"{d.label} {d.score:.2f}"
        scale = 0.4 * th
        (tw, tht), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        y = max(tht + 2, y1)
        cv2.rectangle(out, (x1, y - tht - 3), (x1 + tw + 2, y), col, -1)
        cv2.putText(out, text, (x1 + 1, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


@writes_folder("detect", ("detections.json", "annotated"))
def detect_job(model: str, inputs: list[str], out: str | Path, weights: str | None = None, labels: str | None = None,
               input_size: tuple[int, int] | None = None, score_threshold: float | None = None, force: bool = False,
               device: str | None = "auto", batch: int = 8) -> list[ImageDetections]:
    """Run detector ``model`` (see :func:`patchsim.models.detectors.load_detector`) on ``inputs`` and write
    ``detections.json`` and ``annotated/`` to ``out``. Returns the records."""
    from patchsim.models.detectors import load_detector

    files = collect_images(inputs)
    shown = dict(zip(files, annotated_names(files)))  # distinct, said before any model runs
    for f in files:
        image_size(f)  # every header readable before any model runs
    dev = resolve_device(device)
    det = load_detector(model, weights, labels, input_size, score_threshold).to(dev)
    out = Path(out)
    records = []
    for i in range(0, len(files), batch):
        chunk = files[i:i + batch]
        imgs = [read_image(f) for f in chunk]
        for f, img, dets in zip(chunk, imgs, det.detect_images(imgs)):
            records.append(ImageDetections(f.name, tuple(rounded(d) for d in dets)))
            write_jpeg(out / "annotated" / shown[f], draw_detections(img, dets))
    atomic_write_bytes(out / "detections.json", versioned_bytes(DetectionsFile(tuple(records)), DETECTIONS_SCHEMA))
    n = sum(len(r.detections) for r in records)
    log.info("%s: %d detections in %d images -> %s", det.name, n, len(records), out)
    return records
