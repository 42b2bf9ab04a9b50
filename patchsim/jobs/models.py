"""Implementations of ``patchsim models``, ``patchsim classify`` and ``patchsim train``."""

from __future__ import annotations

import torch

from patchsim.io.images import read_image, resize, to_tensor
from patchsim.models import card, get_model_spec, list_models, load
from patchsim.models.detectors import detector_card
from patchsim.device import resolve_device


def models_table() -> str:
    """A table of the shipped models (:func:`patchsim.models.list_models`): name, classes, the headline
    figure of its model card, description."""
    lines = []
    w = max(len(n) for n in list_models())
    for name in list_models():
        spec = get_model_spec(name)
        if spec.kind == "classifier":
            c = card(name)
            fig = f"{100 * c['test_acc']:.2f}% GTSRB test" if "test_acc" in c else "weights from --weights"
        else:
            c = detector_card(name)
            s = (c.get("street") or {}).get("asadi")
            at = s["by_threshold"].get(f"{c['score_threshold']:.2f}") if s and "score_threshold" in c else None
            fig = (f"stop recall {100 * at['recall']:.1f}% on street photos" if at else
                   "not trained yet" if not c else "no street figures in its card")
        lines.append(f"{name:{w}s} {len(spec.classes):3d} classes  {fig:24s} {spec.description}")
        lines.append("    classes: " + ", ".join(spec.classes))
    return "\n".join(lines)


def load_input_image(path: str, size: tuple[int, int]) -> torch.Tensor:
    """An image file resized (area interpolation) to the model input: ``(3, H, W)`` float in [0, 1]."""
    h, w = size
    return to_tensor(resize(read_image(path), w, h))


def classify(model_name: str, images: list[str], weights: str | None = None, labels: str | None = None,
             top: int = 3, device: str | None = "auto") -> list[tuple[str, list[tuple[str, float]]]]:
    """Top-``top`` (class, probability) for each image file, the model on ``device``."""

    dev = resolve_device(device)
    model = load(model_name, weights=weights, labels=labels).to(dev)
    batch = torch.stack([load_input_image(p, model.input_size) for p in images])
    with torch.no_grad():
        prob = model(batch.to(dev)).softmax(1).cpu()
    k = min(top, prob.shape[1])
    values, idx = prob.topk(k, 1)
    return [(p, [(model.classes[int(i)], float(v)) for v, i in zip(values[j], idx[j])]) for j, p in enumerate(images)]
