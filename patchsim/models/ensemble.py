"""Several classifiers as one target (``--model a,b,...``): a sticker optimised against all of them at
once, the usual way to make it transfer to a model the attacker never saw (Liu et al., ICLR 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.models.target import CLASSIFIER_GOALS


class Ensemble(nn.Module):
    """Classifiers ``members`` sharing one class list, read as one: the output is the mean of the
    members' log-probabilities ``(B, K)`` (the log of their geometric-mean vote, up to a constant), so a
    loss on it pulls every member. Input ``(B, 3, H, W)`` float RGB in [0, 1] at the largest member's
    ``input_size``; smaller members see it area-resampled to theirs."""

    is_detector = False
    goals = CLASSIFIER_GOALS

    def __init__(self, members: Sequence[nn.Module], names: Sequence[str]):
        super().__init__()
        if len(members) < 2:
            raise PatchsimError("an ensemble needs at least 2 models")
        for m, n in zip(members, names):
            if m.is_detector:
                raise PatchsimError(f"--model: {n} is a detector; an ensemble takes classifiers")
            if list(m.classes) != list(members[0].classes):
                raise PatchsimError(f"--model: {n}'s classes differ from {names[0]}'s; an ensemble's models must "
                                    "share one class list")
        self.members = nn.ModuleList(members)
        self.classes = list(members[0].classes)
        self.input_size = max((tuple(m.input_size) for m in members), key=lambda s: s[0] * s[1])
        self.name = ",".join(names)
        self.card = {"ensemble": list(names)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mean(x, lambda m, y: m(y))

    def attack_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attack's differentiable path: each member's own (a defended member's adaptive path)."""
        return self._mean(x, lambda m, y: m.attack_forward(y))

    def _mean(self, x: torch.Tensor, call) -> torch.Tensor:
        out = 0.0
        for m in self.members:
            y = x if tuple(x.shape[-2:]) == tuple(m.input_size) else F.interpolate(x, size=m.input_size, mode="area")
            out = out + F.log_softmax(call(m, y).float(), 1)
        return out / len(self.members)


def ensemble_names(spec: str) -> list[str] | None:
    """The model names of an ensemble spec ``"a,b,..."`` (None when ``spec`` names one model); empty or
    repeated names are refused."""
    if "," not in spec:
        return None
    names = [n.strip() for n in spec.split(",")]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise PatchsimError(f"--model {spec!r} is invalid: an ensemble is distinct model names separated by commas")
    return names
