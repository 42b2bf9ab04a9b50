"""Real photos of signs to put stickers on: named sets from ``../shared/data`` and the user's folders.

Every photo set has a role. ``scoring`` sets are what a sticker is judged on; ``attacker`` sets may be
used to fit the optimiser's realism ranges or be mixed into its batches. The two never overlap, so no
figure is scored on photos the optimiser saw:

=========================  ==========  ===========================================================
source                     role        photos
=========================  ==========  ===========================================================
``rp2``                    scoring     RP2's 40 victim photos (``rp2/victims_256``)
``street:asadi``           scoring     144 web photos of street stop signs, annotated boxes
``street:praveen``         scoring     the 42 unaugmented test / valid photos of the praveen set
``street:praveen-train``   attacker    the praveen set's 145 train photos (Roboflow-augmented)
a folder                   scoring     its images; corners or boxes from an annotations file
=========================  ==========  ===========================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.io.images import IMAGE_SUFFIXES
from patchsim.io.text import read_user_json

NAMED = {"rp2": "scoring", "street:asadi": "scoring", "street:praveen": "scoring", "street:praveen-train": "attacker"}
ANNOTATION_FILES = ("annotations.json", "boxes.json", "corners.json")


@dataclass(frozen=True)
class SignPhoto:
    """One sign in one photo. ``path`` the image file; ``name`` unique in the set (file name, plus
    ``#k`` for the k-th sign of a photo with several); ``role`` scoring | attacker; ``box`` an
    annotated axis-aligned box (x1, y1, x2, y2) around the sign face, pixels; ``corners`` annotated
    face-square corners ((x, y) x 4: TL, TR, BR, BL), pixels."""

    source: str
    path: str
    name: str
    role: str
    box: tuple | None = None
    corners: tuple | None = None


def shared_data_root() -> Path:
    """``../shared/data`` beside the repository (or beside the working directory)."""
    here = Path(__file__).resolve().parents[3] / "shared" / "data"
    return here if here.exists() else Path.cwd().parent / "shared" / "data"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise PatchsimError(f"{what} not found at {path} (the shared real data, see ../shared/data/README.md)")
    return path


def _boxes_json(path: Path, folder: Path, source: str, role: str, splits: set | None = None) -> list[SignPhoto]:
    """Stop signs of a street-style ``boxes.json``: [{file, objects: [{name, box}], source_split}]."""
    entries = read_user_json(path, "annotations")
    if not isinstance(entries, list):
        raise PatchsimError(f"annotations {path}: expected a list of {{file, objects}} entries")
    out = []
    for e in entries:
        if splits is not None and e.get("source_split") not in splits:
            continue
        stops = [o for o in e.get("objects", []) if o.get("name") == "stop"]
        for k, o in enumerate(stops):
            box = tuple(float(v) for v in o["box"])
            if len(box) != 4 or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
                raise PatchsimError(f"annotations {path}: bad box {o['box']} for {e['file']}")
            name = e["file"] + (f"#{k}" if len(stops) > 1 else "")
            out.append(SignPhoto(source, str(folder / e["file"]), name, role, box=box))
    return out


def _corners_json(path: Path, files: list[Path], source: str) -> list[SignPhoto]:
    """A corners file: {file name: 4 [x, y] points}; photos without an entry are located automatically."""
    from patchsim.realphoto.find_sign import load_corners

    c = load_corners(path)
    if not isinstance(c, dict):
        raise PatchsimError(f"annotations {path}: a folder needs {{file name: 4 points}}, not one list for all")
    unknown = sorted(set(c) - {f.name for f in files})
    if unknown:
        raise PatchsimError(f"annotations {path}: no image named {unknown[0]!r} in the folder")
    return [SignPhoto(source, str(f), f.name, "scoring",
                      corners=tuple(map(tuple, c[f.name])) if f.name in c else None) for f in files]


def photo_source(spec: str, annotations: str | None = None) -> list[SignPhoto]:
    """The signs of a source: ``rp2``, ``street:asadi``, ``street:praveen``, ``street:praveen-train``, or
    a folder of photos (annotations: ``annotations`` if given, else an ``annotations.json``,
    ``boxes.json`` or ``corners.json`` inside it; either a street-style boxes list or a corners map)."""
    root = shared_data_root()
    if annotations is not None and (spec in NAMED or spec.startswith("street:")):
        raise PatchsimError(f"--annotations applies to a folder of photos; {spec!r} brings its own")
    if spec == "rp2":
        folder = _need(root / "rp2" / "victims_256", "RP2's victim photos")
        files = sorted(folder.glob("*.png"), key=lambda p: (len(p.stem), p.stem))
        return [SignPhoto(spec, str(f), f.name, "scoring") for f in files]
    if spec.startswith("street:"):
        if spec not in NAMED:
            raise PatchsimError(f"photo source {spec!r} is unknown; allowed: {', '.join(NAMED)} or a folder")
        name = spec.split(":")[1].replace("-train", "")
        folder = _need(root / "street" / name, f"street set {name}")
        splits = {"train"} if spec.endswith("-train") else ({"test", "valid"} if name == "praveen" else None)
        return _boxes_json(folder / "boxes.json", folder / "images", spec, NAMED[spec], splits)
    folder = Path(spec)
    if not folder.is_dir():
        raise PatchsimError(f"photo source {spec!r}: not a folder; allowed: {', '.join(NAMED)} or a folder of photos")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PatchsimError(f"photo source {spec}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
    ann = Path(annotations) if annotations else next((folder / a for a in ANNOTATION_FILES if (folder / a).is_file()), None)
    if ann is None:
        return [SignPhoto(spec, str(f), f.name, "scoring") for f in files]
    if not ann.is_file():
        raise PatchsimError(f"--annotations {annotations}: no such file")
    try:
        first = json.loads(ann.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PatchsimError(f"cannot read annotations {ann}: {e}") from e
    if isinstance(first, list) and (not first or isinstance(first[0], dict)):
        return _boxes_json(ann, folder, spec, "scoring")
    return _corners_json(ann, files, spec)
