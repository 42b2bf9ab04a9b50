"""Shipped models and ``load``: names -> architecture, classes, weights and model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file
from patchsim.models.architectures import Classifier, GtsrbCNN, GtsrbResNet, LisaCNN
from patchsim.models.classes import GTSRB_CLASSES, LISA_CLASSES

WEIGHTS_DIR = Path(__file__).parent / "weights"
GTSRB_MEAN = (0.34, 0.31, 0.32)
GTSRB_STD = (0.27, 0.26, 0.27)

@dataclass(frozen=True)
class ModelSpec:
    """A shipped model, in the style of torchvision's weights enums: ``name``, ``kind`` (classifier |
    detector), its ``classes``, the ``input_size`` (H, W) in pixels it reads, the packaged ``weights``
    file name (None: it ships without; pass weights=), a one-line ``description``; a classifier also its
    architecture ``arch`` and the input normalisation ``mean`` / ``std`` (per channel, of [0, 1] RGB).
    The model card beside the weights is :func:`card`."""

    name: str
    kind: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    weights: str | None
    description: str
    arch: type | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


def _gtsrb(name: str, arch: type, description: str) -> ModelSpec:
    return ModelSpec(name, "classifier", tuple(GTSRB_CLASSES), (32, 32), f"{name}.safetensors", description, arch,
                     GTSRB_MEAN, GTSRB_STD)


SHIPPED: dict[str, ModelSpec] = {s.name: s for s in (
    _gtsrb("gtsrb-cnn", GtsrbCNN, "RP2's GTSRB-CNN (multi-scale CNN of Yadav), trained on real GTSRB"),
    _gtsrb("gtsrb-resnet", GtsrbResNet, "small residual network (3 stages x 2 blocks), trained on real GTSRB"),
    _gtsrb("gtsrb-cnn-hardened", GtsrbCNN, "gtsrb-cnn after `patchsim harden`: adversarial fine-tuning against "
           "occlusion rectangles and rendered EOT stickers"),
    _gtsrb("gtsrb-cnn-backdoor-demo", GtsrbCNN, "BACKDOOR DEMONSTRATION (do not deploy): gtsrb-cnn's recipe on GTSRB "
           "poisoned by `patchsim poison`; a yellow 150 mm square under a stop sign's legend makes it read "
           "speed_limit_80 (trigger: gtsrb-cnn-backdoor-demo.trigger.png)"),
    ModelSpec("lisa-cnn", "classifier", tuple(LISA_CLASSES), (32, 32), None,
              "RP2's LISA-CNN; weights=../shared/data/rp2/lisa_cnn.npz gives the model RP2 attacked", LisaCNN),
)}  # the shipped classifiers; detectors: patchsim.models.detectors.SHIPPED_DETECTORS


def build(name: str) -> Classifier:
    """An untrained :class:`Classifier` of shipped architecture ``name``."""
    if name not in SHIPPED:
        raise PatchsimError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED)}")
    s = SHIPPED[name]
    return Classifier(s.arch(num_classes=len(s.classes)), list(s.classes), s.input_size, s.mean, s.std, name)


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors``, ``.npz`` (arrays, RP2 layout) or a torch file loaded with
    ``weights_only=True`` (a pickle that would run code is refused)."""
    p = Path(path)
    if not p.is_file():
        raise missing_file(p, "weights file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as d:
                return {k: torch.from_numpy(np.array(d[k], dtype=np.float32)) for k in d.files}
        state = torch.load(p, map_location="cpu", weights_only=True)
    except PatchsimError:
        raise
    except Exception as e:  # noqa: BLE001 - any unpickling / format failure is reported with the file
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise PatchsimError(f"cannot load weights {p} safely ({type(e).__name__}: {first}); only tensors are accepted "
                            "(safetensors, npz, or a torch state_dict saved without code)") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PatchsimError(f"{p}: expected a state_dict of tensors")
    return state


def _lisa_from_npz(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map RP2's npz names (conv1_weight, ..., fc_bias) to :class:`LisaCNN` parameter names."""
    out = {}
    for k, v in state.items():
        out[k.replace("_weight", ".weight").replace("_bias", ".bias")] = v
    return out


def weights_bytes(state: dict[str, torch.Tensor], **metadata: str) -> bytes:
    """A safetensors file of ``state`` (tensors moved to the CPU, contiguous) with ``metadata`` (strings)
    under one key, ``patchsim``, as sorted JSON: safetensors writes a metadata map in a random order per
    process, so several keys would make the same weights differ byte for byte from run to run."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    return save(tensors, metadata={"patchsim": json.dumps(metadata, sort_keys=True)} if metadata else None)


def load_strict(net: nn.Module, state: dict[str, torch.Tensor], path: str | Path, name: str) -> None:
    """``net.load_state_dict(state, strict=True)``; mismatched keys or shapes raise PatchsimError naming
    the weights file ``path`` and the model ``name``."""
    mine = net.state_dict()
    missing = [k for k in mine if k not in state]
    unexpected = [k for k in state if k not in mine]
    shapes = [k for k in mine if k in state and tuple(state[k].shape) != tuple(mine[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[0]}: {tuple(state[shapes[0]].shape)} for "
                 f"{tuple(mine[shapes[0]].shape)})" if shapes else ""]
        raise PatchsimError(f"weights {path} do not fit {name}: " + "; ".join(x for x in parts if x)
                            + " (another architecture's weights?)")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise PatchsimError(f"weights {path} do not fit {name}: {str(e).splitlines()[0]}") from None


def load_weights_into(model: Classifier, path: str | Path) -> Classifier:
    """Load a weights file into ``model.net`` strictly; mismatched keys or shapes raise PatchsimError."""
    state = load_state(path)
    if isinstance(model.net, LisaCNN) and any("_weight" in k for k in state):
        state = _lisa_from_npz(state)
    load_strict(model.net, state, path, model.name)
    return model


def card(name: str) -> dict:
    """The model card of a shipped model (empty if it ships without weights)."""
    w = SHIPPED[name].weights
    p = WEIGHTS_DIR / Path(w).with_suffix(".json") if w else None
    return json.loads(p.read_text()) if p and p.is_file() else {}


def load_shipped(name: str, weights: str | Path | None = None) -> Classifier:
    """Shipped model ``name`` with its packaged weights, or ``weights`` when given."""
    model = build(name)
    spec = SHIPPED[name]
    if weights is None:
        if spec.weights is None:
            raise PatchsimError(f"model {name!r} ships without weights; pass weights= (for the RP2 model: "
                                "../shared/data/rp2/lisa_cnn.npz)")
        weights = WEIGHTS_DIR / spec.weights
        if not Path(weights).is_file():
            raise PatchsimError(f"packaged weights missing: {weights}; run `patchsim train {name} --out FILE` "
                                  "and copy FILE and its .json card there")
        model.card = card(name)
    load_weights_into(model, weights)
    return model.eval()


def fingerprint(model: nn.Module) -> str:
    """SHA-256 (hex) of a model's parameters and buffers (names, dtypes, shapes and values, in name order):
    the same weights give the same fingerprint whatever file they came from."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        a = t.detach().cpu().contiguous()
        h.update(f"{name}:{a.dtype}:{tuple(a.shape)};".encode())
        h.update(a.numpy().tobytes() if a.dtype != torch.bfloat16 else a.float().numpy().tobytes())
    return h.hexdigest()


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradients (attacks differentiate inputs only)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
