"""Object detectors: the shipped ``sign-det`` and ``sign-yolo`` and bring-your-own YOLO / torchvision models.

``load_detector(name_or_path, ...)`` returns a :class:`Detector` in eval mode: it takes ``(B, 3, H, W)``
float32 RGB in [0, 1] and returns :class:`DenseDetections` (differentiable candidates and raw head
outputs); ``detect`` decodes them (threshold, NMS) and ``detect_images`` handles uint8 images of any size."""

from __future__ import annotations

import json
from pathlib import Path

from patchsim.errors import PatchsimError
from patchsim.models.detectors.core import DenseDetections, Detection, Detector, box_iou, decode, nms
from patchsim.models.detectors.signdet import SIGN_DET_CLASSES, SignDet
from patchsim.models.detectors.yolo import SignYolo
from patchsim.models.registry import ModelSpec

SHIPPED_DETECTORS: dict[str, ModelSpec] = {
    "sign-det": ModelSpec("sign-det", "detector", SIGN_DET_CLASSES, (640, 640), "sign-det.safetensors",
                          "detector trained here from scratch (CenterNet-style, synthesised frames)"),
    "sign-yolo": ModelSpec("sign-yolo", "detector", SIGN_DET_CLASSES, (640, 640), "sign-yolo.safetensors",
                           "detector trained here from scratch (YOLO-style anchor-free: CSP backbone, PAN neck, "
                           "decoupled head, ultralytics output layout; synthesised frames)"),
}


def build_shipped(name: str, input_size: tuple[int, int] | None = None, score_threshold: float = 0.3) -> Detector:
    """An untrained shipped detector ``name`` (its module with random weights)."""
    size = tuple(input_size or SHIPPED_DETECTORS[name].input_size)
    return (SignDet if name == "sign-det" else SignYolo)(input_size=size, score_threshold=score_threshold)

__all__ = ["DenseDetections", "Detection", "Detector", "SHIPPED_DETECTORS", "box_iou", "decode", "detector_card",
           "load_detector", "nms"]


def load_detector(name_or_path: str | Path, weights: str | Path | None = None, labels: str | Path | None = None,
                  input_size: tuple[int, int] | None = None, score_threshold: float | None = None) -> Detector:
    """Load a detector.

    Args:
        name_or_path: ``sign-det`` or ``sign-yolo`` (shipped), an ultralytics YOLO export (``.onnx``, ``.torchscript``,
            ``.pt``, ``.ts``), or ``package.module:factory`` for a torchvision-style model.
        weights: weights for a shipped detector (default: the packaged file) or the factory's model.
        labels: labels file (one class name per line) for your own detectors.
        input_size: (H, W) the images are fitted into (ONNX files with a static shape give their own).
        score_threshold: detection threshold in [0, 1] (default: the model's own).
    """
    if score_threshold is not None and not 0.0 <= float(score_threshold) <= 1.0:
        raise PatchsimError(f"--score-threshold {score_threshold} is invalid: must be in [0, 1]")
    if input_size is not None and (len(input_size) != 2 or min(input_size) < 32 or max(input_size) > 4096):
        raise PatchsimError(f"--input-size {input_size} is invalid: give H W, each in [32, 4096]")
    s = str(name_or_path)
    if s in SHIPPED_DETECTORS:
        if labels is not None:  # never silently ignored
            raise PatchsimError(f"--labels {labels}: {s} is a shipped detector with its own classes; --labels applies "
                                "to your own detector")
        return load_shipped(s, weights, input_size, score_threshold)
    from patchsim.models.detectors import byo

    if ":" in s and not Path(s).exists():
        return byo.load_torchvision(s, weights, labels, input_size, score_threshold)
    p = Path(s)
    if p.suffix.lower() in (".onnx", ".torchscript", ".pt", ".ts", ".jit"):
        if weights is not None:
            raise PatchsimError(f"--weights {weights}: {p.name} carries its own weights; --weights applies to a shipped detector "
                                "or a package.module:factory")
        return byo.load_ultralytics(p, labels, input_size, score_threshold)
    raise PatchsimError(f"unknown detector {s!r}: give {', '.join(SHIPPED_DETECTORS)}, an ultralytics export "
                        "(.onnx / .torchscript), or package.module:factory for a torchvision-style model")


def detector_card(name: str) -> dict:
    """The model card of a shipped detector (empty when its weights are not packaged)."""
    from patchsim.models.registry import WEIGHTS_DIR

    p = (WEIGHTS_DIR / SHIPPED_DETECTORS[name].weights).with_suffix(".json")
    return json.loads(p.read_text()) if p.is_file() else {}


def load_shipped(name: str, weights: str | Path | None = None, input_size: tuple[int, int] | None = None,
                 score_threshold: float | None = None) -> Detector:
    """The shipped detector ``name`` with its packaged weights (or ``weights``) and model card."""
    from patchsim.models.registry import WEIGHTS_DIR, load_state, load_strict

    card = {}
    if weights is None:
        weights = WEIGHTS_DIR / SHIPPED_DETECTORS[name].weights
        if not Path(weights).is_file():
            raise PatchsimError(f"packaged weights missing: {weights}; run `patchsim train-detector --model {name} --out FILE` "
                                "and copy FILE and its .json card there")
        card = detector_card(name)
    thr = score_threshold if score_threshold is not None else card.get("score_threshold", 0.3)
    det = build_shipped(name, input_size, thr)
    load_strict(det.net, load_state(weights), weights, name)
    det.card = card
    return det.eval()
