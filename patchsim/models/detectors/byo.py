"""Bring your own detector: ultralytics YOLO exports (ONNX or TorchScript) and torchvision-style
detection models (``package.module:factory`` plus weights), each with a labels file.

* Ultralytics layout: the network returns ``(B, 4 + nc, N)``: centre x, centre y, width, height in input
  pixels, then the ``nc`` class scores in [0, 1] (YOLOv8 / 11 export). The YOLOv5 layout ``(B, N, 5 + nc)``
  (objectness, then class probabilities; score = objectness x class) is recognised too. ONNX files run
  through :class:`patchsim.models.onnx_torch.OnnxTorch` (differentiable); one with operators outside its
  set falls back to onnxruntime, for evaluation only.
* torchvision layout: in eval mode ``model(list of (3, H, W) tensors)`` returns one dict per image with
  ``boxes`` (K, 4) xyxy input pixels, ``scores`` (K,) and ``labels`` (K,) int indexing the labels file
  (torchvision's COCO models count the background as label 0: list it first). Lower the model's own
  score threshold (e.g. ``box_score_thresh=0.01``) so that attacks see weak detections too."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file
from patchsim.models.classes import read_labels
from patchsim.models.detectors.core import DenseDetections, Detector, cxcywh_to_xyxy


class UltralyticsDetector(Detector):
    """A network returning the ultralytics layout (see the module docstring)."""

    def __init__(self, net: nn.Module, classes: list[str], input_size: tuple[int, int], name: str,
                 score_threshold: float = 0.25, differentiable: bool = True, one_image: bool = False):
        super().__init__(classes, input_size, name, score_threshold, iou_threshold=0.7, fixed_size=True)
        self.net = net
        self.differentiable = differentiable
        self.one_image = one_image  # exported with a fixed batch of 1 (ultralytics' default): one image per call

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out[0] if isinstance(out, (tuple, list)) else out

    def dense(self, x: torch.Tensor) -> DenseDetections:
        out = torch.cat([self._run(x[i:i + 1]) for i in range(len(x))]) if self.one_image else self._run(x)
        nc = len(self.classes)
        if out.dim() != 3:
            raise PatchsimError(f"detector {self.name} returned shape {tuple(out.shape)}; expected (B, 4 + {nc}, N)")
        if out.shape[1] == 4 + nc:  # YOLOv8 / 11: (B, 4 + nc, N)
            o = out.transpose(1, 2)
            return DenseDetections(cxcywh_to_xyxy(o[..., :4]), o[..., 4:], out)
        if out.shape[2] == 5 + nc:  # YOLOv5: (B, N, 5 + nc)
            return DenseDetections(cxcywh_to_xyxy(out[..., :4]), out[..., 4:5] * out[..., 5:], out)
        raise PatchsimError(f"detector {self.name} returned shape {tuple(out.shape)}, which fits neither (B, 4 + nc, N) "
                            f"nor (B, N, 5 + nc) for the labels file's {nc} classes")


class TorchvisionDetector(Detector):
    """A torchvision-style detection model (see the module docstring). Candidates are the model's own
    post-processed detections, padded per batch (padding scores 0)."""

    def __init__(self, net: nn.Module, classes: list[str], input_size: tuple[int, int], name: str,
                 score_threshold: float = 0.5):
        super().__init__(classes, input_size, name, score_threshold, iou_threshold=0.5, fixed_size=False, multiple=32)
        self.net = net

    def dense(self, x: torch.Tensor) -> DenseDetections:
        outs = self.net(list(x))
        if not isinstance(outs, (list, tuple)) or len(outs) != len(x) or not all(
                isinstance(o, dict) and {"boxes", "scores", "labels"} <= set(o) for o in outs):
            raise PatchsimError(f"detector {self.name} must return one dict with boxes, scores and labels per image")
        n = max(1, max(len(o["scores"]) for o in outs))
        nc = len(self.classes)
        boxes = x.new_zeros(len(x), n, 4)
        scores = x.new_zeros(len(x), n, nc)
        for i, o in enumerate(outs):
            k = len(o["scores"])
            if k and int(o["labels"].max()) >= nc:
                raise PatchsimError(f"detector {self.name} returned label {int(o['labels'].max())} but the labels file "
                                    f"lists {nc} classes")
            boxes[i, :k] = o["boxes"]
            scores[i, :k] = F.one_hot(o["labels"].long(), nc).to(x.dtype) * o["scores"][:, None]
        return DenseDetections(boxes, scores, outs)


def _check_runs(det: Detector) -> Detector:
    h, w = det.input_size
    try:
        with torch.no_grad():
            det(torch.rand(1, 3, h, w))
    except PatchsimError:
        raise
    except Exception as e:  # noqa: BLE001 - report the user's model failing on a test input
        raise PatchsimError(f"detector {det.name} fails on a (1, 3, {h}, {w}) input: {type(e).__name__}: {e}") from e
    return det.eval()


def _labels(labels, name: str) -> list[str]:
    if labels is None:
        raise PatchsimError(f"detector {name}: --labels FILE is required (one class name per line)")
    return read_labels(labels)


def _onnx_input_shape(path: Path, given: tuple[int, int] | None) -> tuple[tuple[int, int], bool]:
    """The input (H, W) of an ONNX file (its static shape, else ``given``, else 640 x 640) and whether its
    batch is fixed at 1."""
    try:
        import onnx

        g = onnx.load(str(path), load_external_data=False).graph
    except ImportError as e:
        raise PatchsimError("ONNX models need the onnx package: pip install 'patchsim[onnx]'") from e
    except Exception as e:  # noqa: BLE001 - any decode failure, reported with the file
        raise PatchsimError(f"{path} is not a loadable ONNX model: {type(e).__name__}: {e}") from e
    inits = {i.name for i in g.initializer}
    dims = [d.dim_value for i in g.input if i.name not in inits for d in i.type.tensor_type.shape.dim]
    one = len(dims) == 4 and dims[0] == 1
    if len(dims) == 4 and dims[2] > 0 and dims[3] > 0:
        if given is not None and tuple(given) != (dims[2], dims[3]):
            raise PatchsimError(f"{path.name} takes {dims[2]} x {dims[3]} inputs; --input-size {given[0]} {given[1]} does not match")
        return (dims[2], dims[3]), one
    return (tuple(given) if given else (640, 640)), one


def load_ultralytics(path: str | Path, labels, input_size: tuple[int, int] | None = None,
                     score_threshold: float | None = None) -> UltralyticsDetector:
    """An ultralytics-layout detector from an ONNX (``.onnx``) or TorchScript (``.torchscript``, ``.pt``,
    ``.ts``) file."""
    p = Path(path)
    if not p.is_file():
        raise missing_file(p, "detector file")
    classes = _labels(labels, p.name)
    thr = 0.25 if score_threshold is None else score_threshold
    if p.suffix.lower() == ".onnx":
        from patchsim.models.onnx_torch import OnnxTorch

        size, one = _onnx_input_shape(p, input_size)
        try:
            net, diff = OnnxTorch(p), True
        except PatchsimError as e:
            if "cannot be differentiated" not in str(e):
                raise
            from patchsim.models.byo import OnnxNet

            net, diff = OnnxNet(p), False
        return _check_runs(UltralyticsDetector(net, classes, size, p.name, thr, diff, one_image=one))
    try:
        net = torch.jit.load(str(p), map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise PatchsimError(f"{p} is not a TorchScript model: {type(e).__name__}: {e}") from e
    return _check_runs(UltralyticsDetector(net, classes, tuple(input_size or (640, 640)), p.name, thr))


def load_torchvision(spec: str, weights, labels, input_size: tuple[int, int] | None = None,
                     score_threshold: float | None = None) -> TorchvisionDetector:
    """``package.module:factory`` returning a torchvision-style detection model (no downloads: the
    factory must not fetch weights), then ``weights`` loaded safely (safetensors, or a state_dict read
    with ``weights_only=True``)."""
    from patchsim.models.byo import build_from_factory

    net = build_from_factory(spec, weights)
    net.eval()
    thr = 0.5 if score_threshold is None else score_threshold
    return _check_runs(TorchvisionDetector(net, _labels(labels, spec), tuple(input_size or (640, 640)), spec, thr))
