"""Target classifiers: shipped GTSRB models, RP2's LISA-CNN, and bring-your-own loaders.

``load(name_or_path, weights=None)`` returns a :class:`Classifier` in eval mode taking ``(B, 3, H, W)``
RGB in [0, 1] and returning logits, with ``classes`` and ``input_size`` attributes."""

from __future__ import annotations

from pathlib import Path

from patchsim.errors import PatchsimError
from patchsim.models.architectures import Classifier
from patchsim.models.classes import resolve_class
from patchsim.models.detectors import SHIPPED_DETECTORS
from patchsim.models.ensemble import Ensemble, ensemble_names
from patchsim.models.registry import SHIPPED, ModelSpec, card, fingerprint, freeze, load_shipped

__all__ = ["CODE_SUFFIXES", "Classifier", "ModelSpec", "SHIPPED", "card", "check_recorded_model", "fingerprint", "freeze", "model_file",
           "get_model_spec", "is_detector", "list_models", "load", "load_model", "resolve_class", "runs_code"]

MODELS: dict[str, ModelSpec] = {**SHIPPED, **SHIPPED_DETECTORS}  # every shipped model, classifiers then detectors


def list_models(kind: str | None = None) -> list[str]:
    """Names of the shipped models, classifiers first; ``kind`` (classifier | detector) keeps one kind."""
    if kind not in (None, "classifier", "detector"):
        raise PatchsimError(f"model kind {kind!r} is invalid; allowed: classifier, detector")
    return [n for n, s in MODELS.items() if kind is None or s.kind == kind]


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of shipped model ``name``; an unknown name is a one-line error listing them."""
    if name not in MODELS:
        raise PatchsimError(f"unknown model {name!r}; shipped models: {', '.join(MODELS)}")
    return MODELS[name]


CODE_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript")  # TorchScript: a program, not just weights


def model_file(name_or_path: str | Path) -> str | None:
    """``--model`` as a file the run reads (a TorchScript or ONNX file, something with a suffix), or None
    for a shipped name or a ``package.module:factory``: what an output must never overwrite."""
    return str(name_or_path) if Path(str(name_or_path)).suffix and str(name_or_path) not in MODELS else None


def runs_code(name_or_path: str | Path) -> bool:
    """Whether loading ``name_or_path`` as a model runs code from outside patchsim: a
    ``package.module:factory`` (imported and called) or a TorchScript file (a serialised program). Shipped
    names, ONNX files and weights files do not."""
    s = str(name_or_path)
    if s in MODELS:
        return False
    if ":" in s and not Path(s).exists():
        return True
    return Path(s).suffix.lower() in CODE_SUFFIXES


def check_recorded_model(name: str, where: str, trusted: bool) -> None:
    """A model reference read from a record on disk (``where``: the file) is loaded only when it runs no
    code (:func:`runs_code`), or the user said so (``trusted``: ``--trust-model-code``, or the same
    reference given on the command line). Otherwise a one-line error naming both ways."""
    if runs_code(name) and not trusted:
        raise PatchsimError(f"{where} names the model {name!r}, which runs code when loaded (a module:factory or a "
                            f"TorchScript file); a record on disk never runs code on its own: pass --model {name} "
                            "yourself, or add --trust-model-code")


def is_detector(name_or_path: str | Path, flagged: bool = False) -> bool:
    """Whether ``--model`` is a detector: a shipped detector's name, or a file / factory the user marked
    with ``--detector`` (``flagged``)."""
    spec = MODELS.get(str(name_or_path))
    return flagged or (spec is not None and spec.kind == "detector")


def load_model(name_or_path: str | Path, weights: str | Path | None = None, labels: str | Path | None = None,
               detector: bool = False, input_size: tuple[int, int] | None = None):
    """A classifier (:func:`load`) or, for a detector (:func:`is_detector`), a
    :class:`~patchsim.models.detectors.Detector` (:func:`~patchsim.models.detectors.load_detector`).
    (:func:`patchsim.defences.load_defended` puts a classifier behind a defence.)"""
    names = ensemble_names(str(name_or_path)) if not Path(str(name_or_path)).exists() else None
    if names is not None:
        if weights is not None or labels is not None:  # never silently ignored
            raise PatchsimError(f"--weights / --labels: {name_or_path} is an ensemble; its models are named, not given files")
        return Ensemble([load_model(n, detector=detector, input_size=input_size) for n in names], names)
    if is_detector(name_or_path, detector):
        from patchsim.models.detectors import load_detector

        return load_detector(name_or_path, weights, labels, input_size)
    return load(name_or_path, weights, labels, input_size or (32, 32))


def load(name_or_path: str | Path, weights: str | Path | None = None, labels: str | Path | None = None,
         input_size: tuple[int, int] = (32, 32)) -> Classifier:
    """Load a classifier.

    Args:
        name_or_path: a shipped model name (``gtsrb-cnn``, ``gtsrb-resnet``, ``lisa-cnn``), a TorchScript
            file (``.pt``/``.pth``/``.ts``), an ONNX file (``.onnx``), or ``package.module:factory``.
        weights: weights file for a shipped architecture or a factory (safetensors, npz, torch state_dict).
        labels: labels file (one class name per line) for your own models.
        input_size: (H, W) your own model expects.
    """
    s = str(name_or_path)
    if s in SHIPPED:
        if labels is not None:  # never silently ignored
            raise PatchsimError(f"--labels {labels}: {s} is a shipped model with its own classes; --labels applies to "
                                "your own model (TorchScript, ONNX or package.module:factory)")
        return load_shipped(s, weights)
    from patchsim.models import byo

    if ":" in s and not Path(s).exists():
        return byo.load_factory(s, weights, labels, input_size)
    p = Path(s)
    if weights is not None and p.suffix.lower() in (".onnx", ".pt", ".pth", ".ts", ".jit"):
        raise PatchsimError(f"--weights {weights}: {p.name} carries its own weights; --weights applies to a shipped "
                            "architecture or a package.module:factory")
    if p.suffix.lower() == ".onnx":
        return byo.load_onnx(p, labels, input_size)
    if p.suffix.lower() in (".pt", ".pth", ".ts", ".jit"):
        return byo.load_torchscript(p, labels, input_size)
    raise PatchsimError(f"unknown model {s!r}: give a shipped name ({', '.join(SHIPPED)}), a TorchScript "
                        "(.pt/.ts) or ONNX (.onnx) file, or package.module:factory")
