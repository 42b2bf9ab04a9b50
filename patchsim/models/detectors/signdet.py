"""``sign-det``: a small one-stage, CenterNet-style road-sign detector trained here from scratch.

A plain conv backbone (strides 2 to 32), a feature pyramid merged down to stride 4, and three heads at
stride 4: a per-class centre heat map (sigmoid), the box size (log pixels) and the sub-cell centre
offset. Candidates are every stride-4 cell: its box from the size and offset heads, its scores the heat
map. Fully convolutional: any input whose sides are multiples of 32."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from patchsim.models.detectors.core import DenseDetections, Detector
from patchsim.errors import PatchsimError

STRIDE = 4
SIZE_UNIT = 16.0  # box side = SIZE_UNIT * exp(size head), pixels
HALF_SCALE_MIN_PX = 64.0  # the half-scale pass reports boxes at least this wide and high (full-scale pixels)
SIGN_DET_CLASSES = ("stop", "yield", "no_entry", "priority_road", "speed_limit", "other_sign")


def _conv(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SignDetNet(nn.Module):
    """The network: ``(B, 3, H, W)`` in [0, 1] -> heat-map logits ``(B, C, H/4, W/4)``, size ``(B, 2, H/4,
    W/4)`` (log of width and height over :data:`SIZE_UNIT`), offset ``(B, 2, H/4, W/4)`` (cells)."""

    def __init__(self, num_classes: int, widths: Sequence[int] = (24, 32, 64, 96, 128), neck: int = 48, head: int = 32):
        super().__init__()
        w = list(widths)
        self.stages = nn.ModuleList([
            _conv(3, w[0], 2),
            nn.Sequential(_conv(w[0], w[1], 2), _conv(w[1], w[1])),
            nn.Sequential(_conv(w[1], w[2], 2), _conv(w[2], w[2])),
            nn.Sequential(_conv(w[2], w[3], 2), _conv(w[3], w[3]), _conv(w[3], w[3])),
            nn.Sequential(_conv(w[3], w[4], 2), _conv(w[4], w[4]), _conv(w[4], w[4])),
        ])
        self.lateral = nn.ModuleList([nn.Conv2d(c, neck, 1) for c in w[1:]])  # strides 4, 8, 16, 32
        self.smooth = _conv(neck, head)
        self.trunk = _conv(head, head)
        self.heat = nn.Conv2d(head, num_classes, 1)
        self.size = nn.Conv2d(head, 2, 1)
        self.offset = nn.Conv2d(head, 2, 1)
        nn.init.constant_(self.heat.bias, -4.6)  # prior 1%: the focal loss starts stable
        self.register_buffer("mean", torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = (x - self.mean) / self.std
        feats = []
        for i, stage in enumerate(self.stages):
            f = stage(f)
            if i >= 1:
                feats.append(f)
        top = self.lateral[3](feats[3])
        for lvl in (2, 1, 0):
            top = self.lateral[lvl](feats[lvl]) + F.interpolate(top, size=feats[lvl].shape[-2:], mode="nearest")
        t = self.trunk(self.smooth(top))
        return self.heat(t), self.size(t).clamp(-4, 4), self.offset(t)


def dense_from_heads(heat: torch.Tensor, size: torch.Tensor, offset: torch.Tensor) -> DenseDetections:
    """Candidates of every stride-4 cell: boxes ``(B, H*W, 4)`` in input pixels, scores ``(B, H*W, C)``."""
    b, c, h, w = heat.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=heat.device, dtype=heat.dtype),
                            torch.arange(w, device=heat.device, dtype=heat.dtype), indexing="ij")
    cx = (xs + 0.5 + offset[:, 0]) * STRIDE
    cy = (ys + 0.5 + offset[:, 1]) * STRIDE
    bw, bh = SIZE_UNIT * size[:, 0].exp(), SIZE_UNIT * size[:, 1].exp()
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(b, h * w, 4)
    scores = torch.sigmoid(heat).flatten(2).transpose(1, 2)
    return DenseDetections(boxes, scores, (heat, size, offset))


class SignDet(Detector):
    """The shipped detector module (see the module docstring); inputs any multiple of 32 up to
    ``input_size``. It looks at every image twice: at full scale, and at half scale for signs at least
    :data:`HALF_SCALE_MIN_PX` across (large signs fill the half-scale view the way training frames did);
    the candidates of both are pooled. Decoding keeps heat-map peaks (3 x 3 local maxima), runs NMS, and
    drops a detection lying inside a larger one of its class (a sign's bolts or legend read as a small sign)."""

    def __init__(self, classes: Sequence[str] = SIGN_DET_CLASSES, input_size: tuple[int, int] = (640, 640),
                 score_threshold: float = 0.3, name: str = "sign-det", scales: tuple[float, ...] = (1.0, 0.5)):
        super().__init__(classes, input_size, name, score_threshold, iou_threshold=0.5, fixed_size=False, multiple=32)
        self.net = SignDetNet(len(classes))
        self.scales = scales

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise PatchsimError(f"sign-det takes inputs whose sides are multiples of 32, got {x.shape[2]} x {x.shape[3]}")

    def _dense_at(self, x: torch.Tensor, scale: float, peaks: bool) -> DenseDetections:
        """Candidates of one scale, boxes in the full-scale input's pixels; at scales below 1 only boxes
        of at least HALF_SCALE_MIN_PX keep their scores."""
        from patchsim.models.detectors.core import pad_to_multiple

        xs = x if scale == 1.0 else pad_to_multiple(F.avg_pool2d(x, round(1 / scale)), 32)
        heat, size, offset = self.net(xs)
        if peaks:
            heat = heat.masked_fill(heat != F.max_pool2d(heat, 3, 1, 1), -30.0)
        d = dense_from_heads(heat, size, offset)
        if scale == 1.0:
            return d
        boxes = d.boxes / scale
        big = ((boxes[..., 2:] - boxes[..., :2]).amin(-1) >= HALF_SCALE_MIN_PX).to(d.scores.dtype)
        return DenseDetections(boxes, d.scores * big[..., None], d.raw)

    def _pooled(self, x: torch.Tensor, peaks: bool) -> DenseDetections:
        parts = [self._dense_at(x, s, peaks) for s in self.scales]
        return DenseDetections(torch.cat([p.boxes for p in parts], 1), torch.cat([p.scores for p in parts], 1),
                               tuple(p.raw for p in parts))

    def dense(self, x: torch.Tensor) -> DenseDetections:
        self._check(x)
        return self._pooled(x, peaks=False)

    def detect(self, x, score_threshold=None, iou_threshold=None):
        from patchsim.models.detectors.core import decode, drop_contained

        self._check(x)
        with torch.no_grad():
            dense = self._pooled(x, peaks=True)
        thr = self.score_threshold if score_threshold is None else score_threshold
        found = decode(dense, thr, self.iou_threshold if iou_threshold is None else iou_threshold)
        return [drop_contained(*f) for f in found]


# ---- training targets and loss -----------------------------------------------------------------------------
def gaussian_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius (cells) within which a shifted box still overlaps the true one by ``min_overlap``."""
    a1, b1, c1 = 1, h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4, 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode_targets(boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], num_classes: int,
                   out_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Training targets for a batch: ``heat`` ``(B, C, h, w)`` Gaussian peaks, ``size`` / ``offset``
    ``(B, 2, h, w)`` and ``mask`` ``(B, 1, h, w)`` (1 at each box's centre cell). ``boxes[i]`` is
    ``(K, 4)`` xyxy input pixels, ``labels[i]`` ``(K,)`` class ids."""
    bsz, (h, w) = len(boxes), out_hw
    heat = np.zeros((bsz, num_classes, h, w), np.float32)
    size = np.zeros((bsz, 2, h, w), np.float32)
    offset = np.zeros((bsz, 2, h, w), np.float32)
    mask = np.zeros((bsz, 1, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i, (bx, lb) in enumerate(zip(boxes, labels)):
        for (x1, y1, x2, y2), c in zip(bx, lb):
            bw, bh = x2 - x1, y2 - y1
            if bw < 2 or bh < 2:
                continue
            cx, cy = (x1 + x2) / 2 / STRIDE - 0.5, (y1 + y2) / 2 / STRIDE - 0.5
            ix, iy = int(np.clip(round(cx), 0, w - 1)), int(np.clip(round(cy), 0, h - 1))
            sigma = max(0.0, gaussian_radius(bh / STRIDE, bw / STRIDE)) / 3 + 0.35
            g = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma ** 2))
            heat[i, int(c)] = np.maximum(heat[i, int(c)], g)
            size[i, :, iy, ix] = np.log(bw / SIZE_UNIT), np.log(bh / SIZE_UNIT)
            offset[i, :, iy, ix] = cx - ix, cy - iy
            mask[i, 0, iy, ix] = 1
    return {k: torch.from_numpy(v) for k, v in dict(heat=heat, size=size, offset=offset, mask=mask).items()}


def centernet_loss(heat_logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor,
                   t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Penalty-reduced focal loss on the heat map (alpha 2, beta 4) plus L1 on size and offset at the
    centre cells, each normalised by the number of objects. Returns the loss and its parts."""
    p = torch.sigmoid(heat_logits).clamp(1e-4, 1 - 1e-4)
    pos = t["heat"].eq(1).float()
    neg_w = (1 - t["heat"]).pow(4)
    pos_loss = -(torch.log(p) * (1 - p).pow(2) * pos).sum()
    neg_loss = -(torch.log(1 - p) * p.pow(2) * neg_w * (1 - pos)).sum()
    n = pos.sum().clamp(min=1)
    m = t["mask"]
    n_m = m.sum().clamp(min=1)
    l_size = (F.l1_loss(size, t["size"], reduction="none") * m).sum() / n_m
    l_off = (F.l1_loss(offset, t["offset"], reduction="none") * m).sum() / n_m
    heat_loss = (pos_loss + neg_loss) / n
    total = heat_loss + l_size + l_off
    return total, {"heat": float(heat_loss.detach()), "size": float(l_size.detach()), "offset": float(l_off.detach())}
