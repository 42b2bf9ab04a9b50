"""Tiny detectors in the layouts patchsim reads (built here, never downloaded)."""

import torch
from torch import nn


class FixedYolo(nn.Module):
    """Returns the same ultralytics-layout output (B, 4 + 2, 3) for any input: three candidates whose
    decoded boxes are known by hand (plus 0 x input so that the graph depends on the image)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("out", torch.tensor([
            [50.0, 51.0, 10.0],   # cx
            [40.0, 40.0, 10.0],   # cy
            [20.0, 20.0, 8.0],    # w
            [10.0, 10.0, 8.0],    # h
            [0.9, 0.8, 0.1],      # class 0
            [0.1, 0.05, 0.6],     # class 1
        ]))

    def forward(self, x):
        return self.out[None].expand(x.shape[0], -1, -1) + 0 * x.mean()


class TinyYolo(nn.Module):
    """A small trainable-shaped YOLOv8-layout head: stride 8 cells, ``(B, 4 + nc, N)`` with centre-xywh in
    input pixels and sigmoid class scores."""

    def __init__(self, nc: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.SiLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16),
                                  nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 4 + nc, 1))

    def forward(self, x):
        o = self.body(x)
        h, w = o.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
        cx = (xs + 0.5 + torch.tanh(o[:, 0])) * 8
        cy = (ys + 0.5 + torch.tanh(o[:, 1])) * 8
        bw = torch.exp(o[:, 2].clamp(-3, 3)) * 16
        bh = torch.exp(o[:, 3].clamp(-3, 3)) * 16
        return torch.cat([torch.stack([cx, cy, bw, bh], 1), torch.sigmoid(o[:, 4:])], 1).flatten(2)


class FixedTorchvision(nn.Module):
    """torchvision-style: a list of images in, one dict of boxes / scores / labels per image out; the
    scores depend on the image (its mean) so that gradients reach it."""

    def forward(self, images):
        out = []
        for im in images:
            s = im.mean()
            out.append({"boxes": torch.tensor([[10.0, 12.0, 30.0, 40.0], [5.0, 5.0, 9.0, 9.0]]),
                        "scores": torch.stack([s, 0.5 * s]), "labels": torch.tensor([1, 2])})
        return out


def fixed_torchvision():
    return FixedTorchvision()
