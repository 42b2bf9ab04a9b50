"""Bring your own model: TorchScript files, ``package.module:factory`` plus weights, and ONNX files
(evaluation only, through onnxruntime). Each comes with a labels file (one class name per line).

The user's network must take ``(B, 3, H, W)`` RGB in [0, 1] (any normalisation inside it) and return
logits ``(B, num_classes)``."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file
from patchsim.models.architectures import Classifier
from patchsim.models.classes import read_labels
from patchsim.models.registry import load_state, load_strict


def _wrap(net: nn.Module, labels: str | Path | None, input_size: tuple[int, int], name: str) -> Classifier:
    if labels is None:
        raise PatchsimError(f"model {name}: a labels file is required (one class name per line)")
    classes = read_labels(labels)
    model = Classifier(net, classes, input_size, name=name).eval()
    with torch.no_grad():
        try:
            out = model(torch.rand(1, 3, *input_size))
        except PatchsimError:
            raise
        except Exception as e:  # noqa: BLE001 - report the user's model failing on a test input
            raise PatchsimError(f"model {name} fails on a (1, 3, {input_size[0]}, {input_size[1]}) input: {e}") from e
    if out.dim() != 2 or out.shape[1] != len(classes):
        raise PatchsimError(f"model {name} returns shape {tuple(out.shape)} but the labels file lists "
                            f"{len(classes)} classes")
    return model


def load_torchscript(path: str | Path, labels: str | Path | None, input_size: tuple[int, int] = (32, 32)) -> Classifier:
    """A TorchScript file (``torch.jit.save``); TorchScript archives hold code but no pickled Python objects."""
    p = Path(path)
    if not p.is_file():
        raise missing_file(p, "model file")
    try:
        net = torch.jit.load(str(p), map_location="cpu")
    except Exception as e:  # noqa: BLE001
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise PatchsimError(f"{p} is not a TorchScript model: {first}") from None
    return _wrap(net, labels, input_size, p.name)


def load_factory(spec: str, weights: str | Path | None, labels: str | Path | None,
                 input_size: tuple[int, int] = (32, 32)) -> Classifier:
    """``package.module:factory``: call the factory (no arguments) for an ``nn.Module``, then load
    ``weights`` (safetensors, npz, or a state_dict read with ``weights_only=True``)."""
    return _wrap(build_from_factory(spec, weights), labels, input_size, spec)


def build_from_factory(spec: str, weights: str | Path | None) -> nn.Module:
    """Call the factory of ``package.module:factory`` (no arguments) for an ``nn.Module`` and load
    ``weights`` into it strictly (safetensors, npz, or a state_dict read with ``weights_only=True``)."""
    mod_name, _, fn_name = spec.partition(":")
    if not mod_name or not fn_name:
        raise PatchsimError(f"expected 'package.module:factory', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise PatchsimError(f"cannot import factory {spec!r}: {e}") from e
    net = factory()
    if not isinstance(net, nn.Module):
        raise PatchsimError(f"factory {spec!r} returned {type(net).__name__}, not an nn.Module")
    if weights is not None:
        load_strict(net, load_state(weights), weights, spec)
    return net


class OnnxNet(nn.Module):
    """Runs an ONNX model through onnxruntime (CPU). Not differentiable: evaluation only."""

    def __init__(self, path: Path):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise PatchsimError("ONNX models need onnxruntime: pip install 'patchsim[onnx]'") from e
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise PatchsimError(f"{path} is not a loadable ONNX model: {e}") from e
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            raise PatchsimError("ONNX models are for evaluation only: they give no gradients")
        out = self.session.run(None, {self.input_name: x.detach().cpu().numpy().astype("float32")})[0]
        return torch.from_numpy(out)


def load_onnx(path: str | Path, labels: str | Path | None, input_size: tuple[int, int] = (32, 32)) -> Classifier:
    """An ONNX file, evaluated through onnxruntime (optional extra ``onnx``)."""
    p = Path(path)
    if not p.is_file():
        raise missing_file(p, "model file")
    return _wrap(OnnxNet(p), labels, input_size, p.name)
