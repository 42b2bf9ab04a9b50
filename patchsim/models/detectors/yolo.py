"""``sign-yolo``: a second detector family trained here from scratch, YOLO-style and anchor-free.

A CSP backbone (conv, batch norm, SiLU; C2f-like blocks that split the channels, run a chain of
bottlenecks on one half and concatenate every step, as ultralytics' YOLOv8), a spatial pyramid pool at
stride 32, a top-down and bottom-up path aggregation neck, and a decoupled head at strides 4, 8, 16 and 32
(separate box and class branches per level). Each cell of each level is a candidate: its box the
distances from the cell centre to the four sides (softplus, in strides), its class scores sigmoids.

The network returns ultralytics' layout, ``(B, 4 + nc, N)``: centre x, centre y, width, height in input
pixels, then the class scores in [0, 1]; so its ONNX export loads through the bring-your-own path
(:func:`patchsim.models.detectors.byo.load_ultralytics`) exactly as a YOLOv8 export does. Fully
convolutional: any input whose sides are multiples of 32.

Training (:func:`yolo_targets`, :func:`yolo_loss`): each box is given to the level whose size range
holds its longer side and to the cells of that level within 1.5 strides of its centre and inside it (the
nearest cell when none is); focal loss on the class scores, generalised IoU on the boxes."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.models.detectors.core import DenseDetections, Detector, cxcywh_to_xyxy, drop_contained
from patchsim.models.detectors.signdet import SIGN_DET_CLASSES

STRIDES = (4, 8, 16, 32)
LEVEL_MAX_PX = (24.0, 64.0, 160.0, math.inf)  # a box goes to the first level whose bound exceeds its longer side
CENTRE_RADIUS = 1.5  # strides: cells this near a box's centre (and inside it) predict it


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True))


class _Bottleneck(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_conv(c, c), _conv(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class C2f(nn.Module):
    """CSP block: a 1x1 conv splits the channels in two; ``n`` bottlenecks run on one half, and every
    intermediate output is concatenated with both halves before a 1x1 conv fuses them."""

    def __init__(self, cin: int, cout: int, n: int = 1):
        super().__init__()
        self.half = cout // 2
        self.split = _conv(cin, 2 * self.half, 1)
        self.blocks = nn.ModuleList(_Bottleneck(self.half) for _ in range(n))
        self.fuse = _conv((2 + n) * self.half, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.split(x).chunk(2, 1))
        for b in self.blocks:
            parts.append(b(parts[-1]))
        return self.fuse(torch.cat(parts, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools concatenated."""

    def __init__(self, c: int):
        super().__init__()
        self.reduce = _conv(c, c // 2, 1)
        self.fuse = _conv(c // 2 * 4, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.reduce(x)]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], 5, 1, 2))
        return self.fuse(torch.cat(y, 1))


class SignYoloNet(nn.Module):
    """The network: ``(B, 3, H, W)`` in [0, 1] -> ``(B, 4 + nc, N)`` (see the module docstring); with
    ``heads=True`` the per-level raw outputs instead: a list of (box ``(B, 4, h, w)`` softplus side
    distances in strides, class logits ``(B, nc, h, w)``), strides :data:`STRIDES`."""

    def __init__(self, num_classes: int, widths: Sequence[int] = (16, 24, 48, 96, 128), neck: int = 32):
        super().__init__()
        w = list(widths)
        self.stem = _conv(3, w[0], 3, 2)  # stride 2
        self.stages = nn.ModuleList([
            nn.Sequential(_conv(w[0], w[1], 3, 2), C2f(w[1], w[1], 1)),  # 4
            nn.Sequential(_conv(w[1], w[2], 3, 2), C2f(w[2], w[2], 2)),  # 8
            nn.Sequential(_conv(w[2], w[3], 3, 2), C2f(w[3], w[3], 2)),  # 16
            nn.Sequential(_conv(w[3], w[4], 3, 2), C2f(w[4], w[4], 1), SPPF(w[4])),  # 32
        ])
        self.lateral = nn.ModuleList(_conv(c, neck, 1) for c in w[1:])
        self.top_down = nn.ModuleList(C2f(2 * neck, neck, 1) for _ in range(3))
        self.down = nn.ModuleList(_conv(neck, neck, 3, 2) for _ in range(3))
        self.bottom_up = nn.ModuleList(C2f(2 * neck, neck, 1) for _ in range(3))
        self.box = nn.ModuleList(nn.Sequential(_conv(neck, neck), nn.Conv2d(neck, 4, 1)) for _ in STRIDES)
        self.cls = nn.ModuleList(nn.Sequential(_conv(neck, neck), nn.Conv2d(neck, num_classes, 1)) for _ in STRIDES)
        for c in self.cls:
            nn.init.constant_(c[-1].bias, -math.log(99.0))  # prior 1%: the focal loss starts stable
        for b in self.box:
            nn.init.constant_(b[-1].bias, 0.5)
        self.register_buffer("mean", torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))

    def heads(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        f = self.stem((x - self.mean) / self.std)
        feats = []
        for stage in self.stages:
            f = stage(f)
            feats.append(f)
        lat = [lt(fe) for lt, fe in zip(self.lateral, feats)]
        td = [lat[3]]  # top-down: stride 32 -> 4
        for i, lvl in enumerate((2, 1, 0)):
            up = F.interpolate(td[-1], size=lat[lvl].shape[-2:], mode="nearest")
            td.append(self.top_down[i](torch.cat([lat[lvl], up], 1)))
        outs = [td[3]]  # bottom-up: stride 4 -> 32
        for i, t in enumerate((td[2], td[1], td[0])):
            outs.append(self.bottom_up[i](torch.cat([t, self.down[i](outs[-1])], 1)))
        return [(F.softplus(b(o)), c(o)) for o, b, c in zip(outs, self.box, self.cls)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ultralytics_layout(self.heads(x))


def cell_centres(h: int, w: int, stride: int, like: torch.Tensor) -> torch.Tensor:
    """Centres ``(h * w, 2)`` (x, y) in input pixels of the cells of an ``h`` x ``w`` level of ``stride``."""
    ys, xs = torch.meshgrid(torch.arange(h, device=like.device, dtype=like.dtype),
                            torch.arange(w, device=like.device, dtype=like.dtype), indexing="ij")
    return torch.stack([(xs.flatten() + 0.5) * stride, (ys.flatten() + 0.5) * stride], 1)


def boxes_from_heads(heads: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """All levels' candidates: boxes ``(B, N, 4)`` xyxy input pixels and class logits ``(B, N, nc)``."""
    boxes, logits = [], []
    for (ltrb, cls), s in zip(heads, STRIDES):
        b, _, h, w = ltrb.shape
        c = cell_centres(h, w, s, ltrb)
        d = ltrb.flatten(2).transpose(1, 2) * s  # (B, hw, 4): left, top, right, bottom in pixels
        boxes.append(torch.cat([c - d[..., :2], c + d[..., 2:]], -1))
        logits.append(cls.flatten(2).transpose(1, 2))
    return torch.cat(boxes, 1), torch.cat(logits, 1)


def ultralytics_layout(heads: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``(B, 4 + nc, N)``: centre x, centre y, width, height (input pixels), then sigmoid class scores."""
    boxes, logits = boxes_from_heads(heads)
    cxcywh = torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], -1)
    return torch.cat([cxcywh, torch.sigmoid(logits)], -1).transpose(1, 2)


class SignYolo(Detector):
    """The shipped YOLO-style detector module (see the module docstring); inputs any multiple of 32 up
    to ``input_size``. Decoding: threshold, class-aware NMS 0.5, detections inside a larger one of their
    class dropped (as ``sign-det``)."""

    def __init__(self, classes: Sequence[str] = SIGN_DET_CLASSES, input_size: tuple[int, int] = (640, 640),
                 score_threshold: float = 0.3, name: str = "sign-yolo"):
        super().__init__(classes, input_size, name, score_threshold, iou_threshold=0.5, fixed_size=False, multiple=32)
        self.net = SignYoloNet(len(classes))

    def dense(self, x: torch.Tensor) -> DenseDetections:
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise PatchsimError(f"sign-yolo takes inputs whose sides are multiples of 32, got {x.shape[2]} x {x.shape[3]}")
        out = self.net(x)
        o = out.transpose(1, 2)
        return DenseDetections(cxcywh_to_xyxy(o[..., :4]), o[..., 4:], out)

    def detect(self, x, score_threshold=None, iou_threshold=None):
        return [drop_contained(*f) for f in super().detect(x, score_threshold, iou_threshold)]


# ---- training targets and loss -----------------------------------------------------------------------------
def yolo_targets(boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], image_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Training targets for a batch of ``image_hw`` images: per candidate (all levels, the order of
    :func:`boxes_from_heads`) ``label`` ``(B, N)`` int64 (-1: background) and ``box`` ``(B, N, 4)`` xyxy
    input pixels (zeros on background). ``boxes[i]`` ``(K, 4)`` xyxy pixels, ``labels[i]`` ``(K,)``."""
    h, w = image_hw
    levels = [(s, h // s, w // s) for s in STRIDES]
    n = sum(lh * lw for _, lh, lw in levels)
    lab = np.full((len(boxes), n), -1, np.int64)
    box = np.zeros((len(boxes), n, 4), np.float32)
    area = np.full((len(boxes), n), np.inf, np.float32)
    for i, (bx, lb) in enumerate(zip(boxes, labels)):
        for (x1, y1, x2, y2), c in zip(bx, lb):
            bw, bh = x2 - x1, y2 - y1
            if bw < 2 or bh < 2:
                continue
            lvl = next(k for k, m in enumerate(LEVEL_MAX_PX) if max(bw, bh) < m)
            s, lh, lw = levels[lvl]
            off = sum(a * b for _, a, b in levels[:lvl])
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            gx, gy = np.meshgrid((np.arange(lw) + 0.5) * s, (np.arange(lh) + 0.5) * s)
            near = (np.abs(gx - cx) <= CENTRE_RADIUS * s) & (np.abs(gy - cy) <= CENTRE_RADIUS * s)
            inside = (gx > x1) & (gx < x2) & (gy > y1) & (gy < y2)
            cells = np.flatnonzero(near & inside)
            if cells.size == 0:  # a box smaller than a cell: its nearest cell
                cells = np.array([int(np.clip(cy // s, 0, lh - 1)) * lw + int(np.clip(cx // s, 0, lw - 1))])
            idx = off + cells
            smaller = bw * bh < area[i, idx]  # a cell claimed twice predicts the smaller box
            idx = idx[smaller]
            lab[i, idx], box[i, idx], area[i, idx] = int(c), (x1, y1, x2, y2), bw * bh
    return {"label": torch.from_numpy(lab), "box": torch.from_numpy(box)}


def giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU ``(K,)`` of matched xyxy boxes ``a``, ``b`` ``(K, 4)``, in [-1, 1]."""
    lt, rb = torch.maximum(a[:, :2], b[:, :2]), torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1) + (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1) - inter
    hull = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0).prod(-1)
    iou = inter / union.clamp(min=1e-9)
    return iou - (hull - union) / hull.clamp(min=1e-9)


def yolo_loss(heads: list[tuple[torch.Tensor, torch.Tensor]], t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Sigmoid focal loss (alpha 0.25, gamma 2) on every candidate's class scores plus 2 x (1 - GIoU) on
    the positives' boxes, each over the number of positives. Returns the loss and its parts."""
    boxes, logits = boxes_from_heads(heads)
    lab = t["label"]
    pos = lab >= 0
    n = pos.sum().clamp(min=1).to(logits.dtype)
    onehot = F.one_hot(lab.clamp(min=0), logits.shape[-1]).to(logits.dtype) * pos[..., None].to(logits.dtype)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    p_t = p * onehot + (1 - p) * (1 - onehot)
    alpha = 0.25 * onehot + 0.75 * (1 - onehot)
    cls_loss = (alpha * (1 - p_t).pow(2) * ce).sum() / n
    box_loss = (1 - giou(boxes[pos], t["box"][pos])).sum() / n if bool(pos.any()) else boxes.sum() * 0
    total = cls_loss + 2.0 * box_loss
    return total, {"cls": float(cls_loss.detach()), "box": float(box_loss.detach())}
