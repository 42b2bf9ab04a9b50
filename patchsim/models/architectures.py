"""Classifier architectures and the :class:`Classifier` wrapper (input checks, normalisation, classes).

Every model takes ``(B, 3, H, W)`` float32 RGB in [0, 1] at its ``input_size`` and returns logits
``(B, num_classes)``."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from patchsim.checks import check_shape
from patchsim.errors import ShapeError
from patchsim.models.target import CLASSIFIER_GOALS


class GtsrbCNN(nn.Module):
    """RP2's GTSRB-CNN: the multi-scale CNN of Yadav (after Sermanet & LeCun): three 5x5 conv stages
    (32, 64, 128 filters, each ReLU + 2x2 max-pool) whose outputs are all pooled to 4x4 and concatenated
    into a fully connected classifier (hidden width ``hidden``)."""

    def __init__(self, num_classes: int = 43, hidden: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.conv3 = nn.Conv2d(64, 128, 5, padding=2)
        self.fc1 = nn.Linear(32 * 16 + 64 * 16 + 128 * 16, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.max_pool2d(F.relu(self.conv1(x)), 2)
        b = F.max_pool2d(F.relu(self.conv2(a)), 2)
        c = F.max_pool2d(F.relu(self.conv3(b)), 2)
        feats = [F.adaptive_max_pool2d(t, 4).flatten(1) for t in (a, b, c)]
        return self.fc2(self.drop(F.relu(self.fc1(torch.cat(feats, 1)))))


class LisaCNN(nn.Module):
    """RP2's LISA-CNN: conv 64x8x8 stride 2 pad 3, conv 128x6x6 stride 2, conv 128x5x5, each ReLU,
    flatten (C, H, W) to 512, linear to ``num_classes``. Input 32x32 in [0, 1], no normalisation."""

    def __init__(self, num_classes: int = 18):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 8, stride=2, padding=3)
        self.conv2 = nn.Conv2d(64, 128, 6, stride=2)
        self.conv3 = nn.Conv2d(128, 128, 5)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.fc(x.flatten(1))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.skip(x))


class GtsrbResNet(nn.Module):
    """A small residual network for 32x32 signs: 3x3 stem (``widths[0]`` channels), stages of
    ``blocks[i]`` basic blocks with ``widths[i]`` channels (strides 1, 2, 2), global average pooling,
    linear."""

    def __init__(self, num_classes: int = 43, widths: Sequence[int] = (24, 48, 96), blocks: Sequence[int] = (1, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(blocks[i]):
                layers.append(_Block(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


class Classifier(nn.Module):
    """Wraps a network: checks input ``(B, 3, H, W)`` float in [0, 1] at ``input_size``, applies the
    network's normalisation ``(x - mean) / std`` and returns logits ``(B, len(classes))``.

    Attributes: ``classes`` (list of names), ``input_size`` ((H, W)), ``name``, ``card`` (dict). A
    :class:`~patchsim.models.target.Target`: an attack differentiates through the model itself."""

    is_detector = False
    goals = CLASSIFIER_GOALS

    def __init__(self, net: nn.Module, classes: Sequence[str], input_size: tuple[int, int] = (32, 32),
                 mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0),
                 name: str = "model", card: dict | None = None):
        super().__init__()
        self.net = net
        self.classes = list(classes)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.name = name
        self.card = dict(card or {})
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ShapeError unless ``x`` is ``(B, 3, H, W)`` floating point at the model's input size."""
        h, w = self.input_size
        check_shape(x, ["B", 3, h, w], f"{self.name} input")
        if not x.is_floating_point():
            raise ShapeError(f"{self.name} input: expected float RGB in [0, 1], got {x.dtype}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.net((x - self.mean) / self.std)

    def attack_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attack's differentiable path: the classifier itself."""
        return self(x)
