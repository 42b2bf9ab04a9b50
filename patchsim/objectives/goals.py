"""The protocol shared by the optimiser, the independent simulator and the photo scorer: what counts as
fooled (:class:`Goal` for classifiers, :class:`DetectionGoal` for detectors; the goal names are
:data:`patchsim.models.target.CLASSIFIER_GOALS` and ``DETECTION_GOALS``) and the classification of crops. The detector's box
and the crop it hands the classifier are :mod:`patchsim.render.crop`.

Crops are uint8 ``(S, S, 3)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from patchsim.device import model_device
from patchsim.errors import PatchsimError
from patchsim.models.target import CLASSIFIER_GOALS, DETECTION_GOALS


@dataclass(frozen=True)
class Goal:
    """What counts as fooled: predicted == ``target`` (targeted) or != ``true_class`` (untargeted)."""

    true_class: int
    target: int | None = None
    detection = False  # a classifier's goal (DetectionGoal: True)

    @property
    def kind(self) -> str:
        """"targeted" or "untargeted" (:data:`~patchsim.models.target.CLASSIFIER_GOALS`)."""
        return CLASSIFIER_GOALS[0] if self.target is not None else CLASSIFIER_GOALS[1]

    def fooled(self, pred):
        """Per-prediction bool for class ids ``pred`` ``(N,)``: a torch tensor in, a torch tensor out
        (the optimiser); anything else becomes a numpy array (the evaluators)."""
        if not isinstance(pred, torch.Tensor):
            pred = np.asarray(pred)
        return pred == self.target if self.target is not None else pred != self.true_class

    @classmethod
    def from_classes(cls, classes: list[str], true_class: str | int, target: str | int | None = None,
                     true_what: str = "true class") -> "Goal":
        """The goal for a model's ``classes``: ``true_class`` and ``target`` (None: untargeted) by name or
        index, each checked (a one-line error names the unknown class, the true one as ``true_what``)."""
        from patchsim.models.classes import resolve_class

        return cls(resolve_class(classes, true_class, true_what),
                   resolve_class(classes, target, "target") if target is not None else None)

    @classmethod
    def for_scene(cls, scene, classes: list[str], target: str | int | None = None,
                  true_class: str | int | None = None) -> "Goal":
        """The goal on ``scene``: its sign's class (or ``true_class`` when given) against ``target``."""
        if true_class is not None:
            return cls.from_classes(classes, true_class, target, "--true-class")
        return cls.from_classes(classes, scene.sign.class_name, target,
                                "the scene's sign class (pass --true-class to name another)")


@torch.no_grad()
def classify_crops(model, crops: list[np.ndarray]) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` float32 of uint8 ``(S, S, 3)`` crops already at the model's input
    size, computed on the model's device."""

    dev = model_device(model)
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)
    with torch.no_grad():
        return torch.cat([model(x[i:i + 256].to(dev).float() / 255).softmax(1).cpu()
                          for i in range(0, len(x), 256)]).numpy()


MATCH_IOU = 0.5  # a detection is "of the sign" when its box overlaps the sign's box by this much


@dataclass(frozen=True)
class DetectionGoal:
    """What counts as fooled for a detector, judged on one image's decoded detections against the sign's
    true box (IoU >= :data:`MATCH_IOU`, score >= ``score_threshold``):
    * ``disappear``: no detection of ``sign_class`` at the sign;
    * ``misclassify``: no detection of ``sign_class`` at the sign, and one of ``target`` there;
    * ``create``: a detection of ``target`` at the board (the patch makes a sign appear).
    """

    detection = True  # a detector's goal (Goal: False)
    kind: str
    sign_class: int
    target: int | None = None
    score_threshold: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in DETECTION_GOALS:
            raise PatchsimError(f"--goal {self.kind!r} is invalid for a detector: must be one of {', '.join(DETECTION_GOALS)}")
        if self.kind in ("misclassify", "create") and self.target is None:
            raise PatchsimError(f"--goal {self.kind} needs --target CLASS")
        if self.kind == "disappear" and self.target is not None:
            raise PatchsimError("--goal disappear takes no --target (use --goal misclassify for a target class)")

    @property
    def watched(self) -> int:
        """The class whose detection at the sign (or board) the evaluators report and track: the target
        for ``create``, else the sign's class."""
        return self.target if self.kind == "create" else self.sign_class

    def found(self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, sign_box: torch.Tensor,
              cls: int) -> bool:
        """Whether one image's detections (``boxes`` (K, 4) xyxy, ``scores`` (K,), ``labels`` (K,)) hold
        ``cls`` at ``sign_box`` (4,) with IoU >= :data:`MATCH_IOU` and score >= the threshold."""
        from patchsim.models.detectors.core import box_iou

        keep = (labels == cls) & (scores >= self.score_threshold)
        if not bool(keep.any()):
            return False
        return bool((box_iou(boxes[keep].float(), sign_box[None].float())[:, 0] >= MATCH_IOU).any())

    def fooled(self, found: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], sign_boxes: torch.Tensor) -> torch.Tensor:
        """Per-image bool ``(B,)`` for decoded detections ``found`` (per image: boxes, scores, labels) and
        the signs' true boxes ``(B, 4)`` xyxy in the same pixels."""
        out = []
        for (b, s, c), box in zip(found, sign_boxes):
            if self.kind == "create":
                out.append(self.found(b, s, c, box, self.target))
                continue
            gone = not self.found(b, s, c, box, self.sign_class)
            out.append(gone and (self.kind == "disappear" or self.found(b, s, c, box, self.target)))
        return torch.tensor(out, dtype=torch.bool)


def creation_classes(classes: list[str], target) -> tuple[int, int]:
    """(stand-in sign class, target) indices for the detector goal ``create``: the scene shows a board that
    is no class of the model, so the sign class is only a placeholder (the first class that is not the
    target; :class:`DetectionGoal` ignores it for ``create``) and the target is required."""
    from patchsim.models.classes import resolve_class

    if target is None:
        raise PatchsimError("--goal create needs --target CLASS (the class the patch should make the detector see)")
    t = resolve_class(classes, target, "target")
    return next(i for i in range(len(classes)) if i != t), t
