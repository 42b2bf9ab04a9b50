"""A user's model factory for the bring-your-own tests (``byo_factory:tiny_net``)."""

from torch import nn


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
