"""What the engines ask of a model: the :class:`Target` interface shared by classifiers, detectors and
classifiers behind a defence, and the goal names each kind supports (defined here once).

The engines ask a target what it is (``is_detector``), what it reads (``classes``, ``input_size``), which
goals apply (``goals``) and how to differentiate through it (``attack_forward``: the model itself for
classifiers and detectors; a defence's adaptive-attack path, BPDA or EOT over its masks) instead of
testing its type."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from patchsim.errors import PatchsimError

CLASSIFIER_GOALS = ("targeted", "untargeted")  # a classifier's reading: the target class, or anything but the true one
DETECTION_GOALS = ("disappear", "misclassify", "create")  # what a detector attack aims at (objectives.goals.DetectionGoal)
TARGET_ATTRIBUTES = ("classes", "input_size", "is_detector", "goals", "attack_forward")


@runtime_checkable
class Target(Protocol):
    """A model the engines can attack and score. ``classes``: class names; ``input_size``: (H, W) pixels
    of the images it takes, ``(B, 3, H, W)`` float32 RGB in [0, 1]; ``is_detector``; ``goals``: the goal
    names that apply (:data:`CLASSIFIER_GOALS` or :data:`DETECTION_GOALS`); calling it gives logits
    ``(B, K)`` (a classifier) or dense detections (a detector); ``attack_forward`` is the differentiable
    path an attack optimises through."""

    classes: list[str]
    input_size: tuple[int, int]
    is_detector: bool
    goals: tuple[str, ...]

    def __call__(self, x: torch.Tensor): ...

    def attack_forward(self, x: torch.Tensor): ...


def check_target(model, what: str = "model") -> None:
    """A one-line error unless ``model`` offers the :class:`Target` interface (patchsim's loaders always
    return one; a bare ``nn.Module`` needs :class:`~patchsim.models.architectures.Classifier` around it)."""
    missing = [a for a in TARGET_ATTRIBUTES if not hasattr(model, a)]
    if missing:
        raise PatchsimError(f"{what} {type(model).__name__} is not a patchsim target: it lacks {', '.join(missing)} "
                            "(wrap a classifier network in patchsim.models.Classifier)")
