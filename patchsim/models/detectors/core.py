"""The detector interface: dense differentiable candidates, decoded detections, box maths, letterboxing.

Every detector patchsim runs (the shipped ``sign-det``, ultralytics YOLO exports, torchvision detection
models) is a :class:`Detector`: a module taking ``(B, 3, H, W)`` float32 RGB in [0, 1] and returning
:class:`DenseDetections`, the candidate boxes with per-class scores *before* thresholding and NMS,
differentiable with respect to the input (losses take a max over them), plus the model's raw head
outputs. :meth:`Detector.detect` thresholds and runs class-aware NMS; :meth:`Detector.detect_images`
letterboxes uint8 images of any size and returns boxes in each image's own pixels.

Boxes are ``(x1, y1, x2, y2)`` in pixels with pixel edges at integers (a box covering pixel 0 alone is
``(0, 0, 1, 1)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.models.target import DETECTION_GOALS

LETTERBOX_GREY = 114 / 255  # the padding colour ultralytics uses


@dataclass(frozen=True)
class DenseDetections:
    """Candidates of a batch before thresholding: ``boxes`` float32 ``(B, N, 4)`` xyxy in input pixels,
    ``scores`` float32 ``(B, N, C)`` in [0, 1] (a class's confidence at that candidate; for YOLO the
    class probability, for CenterNet the heat-map value), ``raw`` the model's own head outputs."""

    boxes: torch.Tensor
    scores: torch.Tensor
    raw: Any = None


@dataclass(frozen=True)
class Detection:
    """One decoded detection: ``box`` (x1, y1, x2, y2) in the image's own pixels, ``score`` in [0, 1],
    ``label`` the class name. On disk through :func:`patchsim.records.to_data` (detections.json)."""

    box: tuple[float, float, float, float]
    score: float
    label: str


# ---- box maths (tensor in, tensor out) --------------------------------------------------------------------
def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix ``(N, M)`` of xyxy boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)`` (pixels)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    """Centre-size boxes ``(..., 4)`` to corner boxes ``(..., 4)`` (same units)."""
    c, s = b[..., :2], b[..., 2:] / 2
    return torch.cat([c - s, c + s], -1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-aware greedy non-maximum suppression: indices (int64, by descending score) of the kept boxes
    among ``boxes`` ``(K, 4)`` xyxy, ``scores`` ``(K,)``, ``labels`` ``(K,)`` int. A box is dropped when
    it overlaps a kept box of the same label with IoU > ``iou_threshold``."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    b = boxes[order].float()
    shift = (b.max() + 1) * labels[order].to(b.dtype)[:, None]  # boxes of other classes never overlap
    iou = box_iou(b + shift, b + shift)
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    iou = iou.cpu()
    keep_cpu = keep.cpu()
    for i in range(len(order)):
        if keep_cpu[i]:
            keep_cpu[i + 1:] &= iou[i, i + 1:] <= iou_threshold
    return order[keep_cpu.to(boxes.device)]


def decode(dense: DenseDetections, score_threshold: float, iou_threshold: float,
           max_candidates: int = 1000, max_detections: int = 300) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Threshold and NMS a batch of candidates: per image ``(boxes (K, 4), scores (K,), labels (K,))``,
    best first, in input pixels. Each candidate counts once per class whose score passes the threshold."""
    out = []
    for boxes, scores in zip(dense.boxes.detach(), dense.scores.detach()):
        idx, cls = (scores >= score_threshold).nonzero(as_tuple=True)
        s = scores[idx, cls]
        if len(s) > max_candidates:
            top = s.topk(max_candidates).indices
            idx, cls, s = idx[top], cls[top], s[top]
        keep = nms(boxes[idx], s, cls, iou_threshold)[:max_detections]
        out.append((boxes[idx][keep], s[keep], cls[keep]))
    return out


def drop_contained(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                   inside: float = 0.7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Drop detections (``boxes`` (K, 4) xyxy, best first) lying ``inside`` or more (fraction of their
    own area) within a larger detection of the same label: a sign's parts read as a small sign."""
    if len(boxes) < 2:
        return boxes, scores, labels
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(-1)
    within = inter / area[:, None].clamp(min=1e-9)  # [i, j]: the share of box i inside box j
    bigger = area[None, :] > 2 * area[:, None]
    same = labels[:, None] == labels[None, :]
    drop = ((within >= inside) & bigger & same).any(1)
    return boxes[~drop], scores[~drop], labels[~drop]


# ---- letterboxing -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the detector's input: input = image * ``scale`` placed at
    (``pad_x``, ``pad_y``); ``size`` is the input (H, W)."""

    scale: float
    pad_x: int
    pad_y: int
    size: tuple[int, int]

    def boxes_to_image(self, boxes: torch.Tensor) -> torch.Tensor:
        """Input-pixel boxes ``(K, 4)`` -> the original image's pixels."""
        off = boxes.new_tensor([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        return (boxes - off) / self.scale


def letterbox_size(h: int, w: int, input_size: tuple[int, int], fixed: bool, multiple: int) -> tuple[float, tuple[int, int]]:
    """Scale and input size (H, W) for an ``h`` x ``w`` image: fitted inside ``input_size`` keeping its
    aspect; a ``fixed`` input keeps ``input_size``, else it shrinks to the scaled image rounded up to
    ``multiple`` pixels."""
    scale = min(input_size[0] / h, input_size[1] / w)
    if fixed:
        return scale, input_size
    sh, sw = round(h * scale), round(w * scale)
    return scale, (-(-sh // multiple) * multiple, -(-sw // multiple) * multiple)


def letterbox(img: np.ndarray, input_size: tuple[int, int], fixed: bool, multiple: int = 32) -> tuple[torch.Tensor, Letterbox]:
    """A uint8 RGB image ``(H, W, 3)`` fitted into the detector's input: float32 ``(3, H', W')`` in [0, 1]
    padded with grey at the bottom and right, and the :class:`Letterbox` that maps boxes back."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise PatchsimError(f"detector images must be uint8 RGB (H, W, 3), got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    scale, size = letterbox_size(h, w, input_size, fixed, multiple)
    sh, sw = min(size[0], round(h * scale)), min(size[1], round(w * scale))
    resized = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x = torch.full((3, *size), LETTERBOX_GREY)
    x[:, :sh, :sw] = torch.from_numpy(resized).permute(2, 0, 1).float() / 255
    return x, Letterbox(scale, 0, 0, size)


class Detector(nn.Module):
    """Base of every detector. Subclasses implement :meth:`dense`; ``classes`` are the class names,
    ``input_size`` (H, W) the input images are fitted into, ``fixed_size`` whether the network needs
    exactly that size (else any multiple of ``multiple`` pixels up to it), ``score_threshold`` and
    ``iou_threshold`` the decoding defaults. A :class:`~patchsim.models.target.Target`: an attack
    differentiates through the dense candidates."""

    is_detector = True
    goals = DETECTION_GOALS

    def __init__(self, classes: Sequence[str], input_size: tuple[int, int], name: str, score_threshold: float = 0.3,
                 iou_threshold: float = 0.5, fixed_size: bool = True, multiple: int = 32):
        super().__init__()
        if len(classes) == 0 or len(set(classes)) != len(classes):
            raise PatchsimError(f"detector {name}: classes must be non-empty and unique, got {list(classes)}")
        self.classes = list(classes)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.name = name
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.fixed_size = fixed_size
        self.multiple = multiple
        self.card: dict = {}

    def dense(self, x: torch.Tensor) -> DenseDetections:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> DenseDetections:
        """Candidates for ``x`` ``(B, 3, H, W)`` float32 RGB in [0, 1] (see :class:`DenseDetections`)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise PatchsimError(f"detector {self.name} expects (B, 3, H, W) images, got {tuple(x.shape)}")
        if self.fixed_size and tuple(x.shape[2:]) != self.input_size:
            raise PatchsimError(f"detector {self.name} takes {self.input_size[0]} x {self.input_size[1]} inputs, "
                                f"got {x.shape[2]} x {x.shape[3]}")
        return self.dense(x)

    def attack_forward(self, x: torch.Tensor) -> DenseDetections:
        """The attack's differentiable path: the dense candidates themselves."""
        return self(x)

    def detect(self, x: torch.Tensor, score_threshold: float | None = None,
               iou_threshold: float | None = None) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Decoded detections of a batch in input pixels (see :func:`decode`); no gradients."""
        with torch.no_grad():
            dense = self(x)
        thr = self.score_threshold if score_threshold is None else score_threshold
        return decode(dense, thr, self.iou_threshold if iou_threshold is None else iou_threshold)

    def detect_images(self, images: Sequence[np.ndarray], score_threshold: float | None = None,
                      batch: int = 8) -> list[list[Detection]]:
        """Detections for uint8 RGB images ``(H, W, 3)`` of any size, boxes in each image's pixels."""
        dev = next((p.device for p in self.parameters()), torch.device("cpu"))
        out: list[list[Detection]] = []
        for i in range(0, len(images), batch):
            items = [letterbox(im, self.input_size, self.fixed_size, self.multiple) for im in images[i:i + batch]]
            groups: dict[tuple[int, int], list[int]] = {}
            for j, (x, _) in enumerate(items):
                groups.setdefault(tuple(x.shape[1:]), []).append(j)
            found: dict[int, list[Detection]] = {}
            for js in groups.values():
                xb = torch.stack([items[j][0] for j in js]).to(dev)
                for j, (b, s, c) in zip(js, self.detect(xb, score_threshold)):
                    b = items[j][1].boxes_to_image(b.cpu())
                    h, w = images[i + j].shape[:2]
                    b = torch.stack([b[:, 0].clamp(0, w), b[:, 1].clamp(0, h), b[:, 2].clamp(0, w), b[:, 3].clamp(0, h)], 1)
                    found[j] = [Detection(tuple(float(v) for v in bb), float(ss), self.classes[int(cc)])
                                for bb, ss, cc in zip(b, s.cpu(), c.cpu())]
            out += [found[j] for j in range(len(items))]
        return out


def detections_as_tensors(dets: Sequence[Detection], classes: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decoded :class:`Detection` records back as ``(boxes (K, 4) xyxy, scores (K,), labels (K,) int64)``,
    labels indexing ``classes``: the form :class:`patchsim.objectives.goals.DetectionGoal` judges."""
    return (torch.tensor([d.box for d in dets], dtype=torch.float32).reshape(-1, 4),
            torch.tensor([d.score for d in dets], dtype=torch.float32),
            torch.tensor([classes.index(d.label) for d in dets], dtype=torch.long))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` on the bottom and right with letterbox grey up to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), value=LETTERBOX_GREY) if ph or pw else x
