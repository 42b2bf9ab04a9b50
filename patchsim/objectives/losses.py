"""Attack objectives and sticker regularisers, each a small function.

Logits are ``(B, K)``; stickers ``(1, 3, N, N)`` sRGB in [0, 1]; masks ``(1, 1, N, N)`` in [0, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from patchsim.checks import check_shape
from patchsim.errors import PatchsimError
from patchsim.io.text import read_user_json

DEFAULT_PALETTE = Path(__file__).resolve().parents[1] / "data" / "palette_default.json"


def targeted_ce(logits: torch.Tensor, target: int) -> torch.Tensor:
    """Cross-entropy towards class ``target``, mean over the batch (lower = more target-like)."""
    check_shape(logits, ["B", "K"], "logits")
    return F.cross_entropy(logits, torch.full((logits.shape[0],), target, dtype=torch.long, device=logits.device))


def targeted_margin(logits: torch.Tensor, target: int, kappa: float = 5.0) -> torch.Tensor:
    """CW-style margin ``max(max_{j != t} z_j - z_t, -kappa)``, mean over the batch: pushes the target
    logit above every other by ``kappa``, then stops pulling."""
    check_shape(logits, ["B", "K"], "logits")
    z_t = logits[:, target]
    other = logits.clone()
    other[:, target] = float("-inf")
    return (other.max(1).values - z_t).clamp(min=-kappa).mean()


def untargeted_ce(logits: torch.Tensor, true_class: int) -> torch.Tensor:
    """Negative log of the probability of *not* being ``true_class``: ``-log(1 - p_true)``, mean."""
    check_shape(logits, ["B", "K"], "logits")
    p_true = logits.softmax(1)[:, true_class]
    return -torch.log1p(-p_true.clamp(max=1 - 1e-6)).mean()


def untargeted_margin(logits: torch.Tensor, true_class: int, kappa: float = 5.0) -> torch.Tensor:
    """``max(z_true - max_{j != true} z_j, -kappa)``, mean: pushes another class above the true one."""
    check_shape(logits, ["B", "K"], "logits")
    z = logits[:, true_class]
    other = logits.clone()
    other[:, true_class] = float("-inf")
    return (z - other.max(1).values).clamp(min=-kappa).mean()


def load_palette(path: str | Path | None = None) -> torch.Tensor:
    """Printable colours ``(P, 3)`` sRGB in [0, 1] from a JSON file with a ``colors`` list (default: the
    shipped consumer-inkjet palette)."""
    p = Path(path) if path else DEFAULT_PALETTE
    doc = read_user_json(p, "palette")
    try:
        colors = torch.tensor(doc["colors"], dtype=torch.float32)
    except (KeyError, ValueError, TypeError) as e:
        raise PatchsimError(f"cannot read palette {p}: {e}") from e
    if colors.dim() != 2 or colors.shape[1] != 3 or colors.shape[0] < 1:
        raise PatchsimError(f"palette {p}: 'colors' must be a list of [r, g, b], got shape {tuple(colors.shape)}")
    if not torch.isfinite(colors).all() or colors.min() < 0 or colors.max() > 1:
        raise PatchsimError(f"palette {p}: colours must be finite and in [0, 1]")
    return colors


def nps_loss(sticker: torch.Tensor, palette: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Non-printability score: mask-weighted mean over pixels of the Euclidean distance from each pixel's
    colour to the nearest printable colour. 0 when every masked pixel is a palette colour."""
    check_shape(sticker, ["B", 3, "N", "M"], "sticker")
    check_shape(palette, ["P", 3], "palette")
    px = sticker.permute(0, 2, 3, 1).reshape(-1, 3)
    d = torch.cdist(px, palette.to(px))  # (BNM, P)
    nearest = d.min(1).values.view(sticker.shape[0], 1, *sticker.shape[2:])
    w = mask.expand_as(nearest)
    return (nearest * w).sum() / w.sum().clamp(min=1e-8)


def tv_loss(sticker: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Total variation inside the mask: mean absolute difference between neighbouring pixels (both in
    the mask), so the sticker stays smooth enough to print and to survive blur."""
    check_shape(sticker, ["B", 3, "N", "M"], "sticker")
    dx = (sticker[..., :, 1:] - sticker[..., :, :-1]).abs() * (mask[..., :, 1:] * mask[..., :, :-1])
    dy = (sticker[..., 1:, :] - sticker[..., :-1, :]).abs() * (mask[..., 1:, :] * mask[..., :-1, :])
    return (dx.sum() + dy.sum()) / (3 * mask.sum().clamp(min=1e-8))


def l2_loss(sticker: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean squared distance of the sticker from the clean face colours."""
    check_shape(sticker, ["B", 3, "N", "M"], "sticker")
    return (((sticker - clean) ** 2) * mask).sum() / (3 * mask.sum().clamp(min=1e-8))


def l1_loss(sticker: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean absolute distance of the sticker from the clean face colours (RP2's sparsity term)."""
    check_shape(sticker, ["B", 3, "N", "M"], "sticker")
    return ((sticker - clean).abs() * mask).sum() / (3 * mask.sum().clamp(min=1e-8))


# ---- detector objectives: candidates (B, N, 4) xyxy and scores (B, N, C), sign boxes (B, 4) -----------------
def near_sign(boxes: torch.Tensor, sign_boxes: torch.Tensor, grow: float = 0.5, min_iou: float = 0.1) -> torch.Tensor:
    """Which candidates ``(B, N)`` bool speak about the sign: their centre lies in its box grown by
    ``grow`` of its size per side, or their box overlaps it by IoU >= ``min_iou`` (computed without
    gradients: an attack cannot escape by moving boxes)."""
    from patchsim.models.detectors.core import box_iou

    b = boxes.detach()
    c = (b[..., :2] + b[..., 2:]) / 2
    lo, hi = sign_boxes[:, None, :2], sign_boxes[:, None, 2:]
    pad = (hi - lo) * grow
    inside = ((c >= lo - pad) & (c <= hi + pad)).all(-1)
    iou = torch.stack([box_iou(bi, si[None])[:, 0] for bi, si in zip(b, sign_boxes)])
    return inside | (iou >= min_iou)


def max_score_near(scores: torch.Tensor, near: torch.Tensor, cls: int) -> torch.Tensor:
    """Per image ``(B,)``: the highest score of class ``cls`` among the candidates ``near`` the sign (0
    where there are none)."""
    return (scores[..., cls] * near.to(scores.dtype)).amax(1)


SCORE_EPS = 1e-6  # scores are clamped to [eps, 1 - eps] before their logit


def score_hinge(scores: torch.Tensor, bound: float, down: bool) -> torch.Tensor:
    """Per image ``(B,)``: how far ``scores`` ``(B,)`` in [0, 1] lie on the wrong side of ``bound``, in
    logits (``logit(s) - logit(bound)`` when pushing ``down``, the reverse when pushing up; 0 once past
    it). A detector's confident score sits where the sigmoid is flat; in logits its gradient does not
    vanish, and a frame already past the bound stops pulling, so the step goes to frames still found
    (the far ones, which decide the tracker)."""
    z = torch.logit(scores.clamp(SCORE_EPS, 1 - SCORE_EPS)) - math.log(bound / (1 - bound))
    return (z if down else -z).clamp(min=0)


def distance_weights(distance_m: torch.Tensor, power: float) -> torch.Tensor:
    """Per-view weights ``(B,)`` float32 >= 1 from views' distances ``distance_m`` ``(B,)`` (metres, > 0):
    ``(distance / nearest) ** power``; ``power`` 0 gives equal weights. Far views are where a tracker
    confirms a sign, so a detector attack aimed at the tracker weighs them up."""
    if power < 0:
        raise PatchsimError(f"far_weight = {power!r} is invalid: must be >= 0")
    d = distance_m.float()
    if d.ndim != 1 or not bool((d > 0).all()):
        raise PatchsimError("distance weights need a (B,) tensor of distances > 0 m")
    return (d / d.min()) ** power


def detector_loss(kind: str, scores: torch.Tensor, near: torch.Tensor, sign_class: int, target: int | None,
                  threshold: float = 0.3, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The detector objective ``kind`` on candidates' ``scores`` ``(B, N, C)`` in [0, 1] with ``near``
    ``(B, N)`` (:func:`near_sign`): ``disappear`` pushes the sign class's best score near the sign below
    half the detector's score ``threshold``; ``misclassify`` that, and the target's best score there
    above twice the threshold (at most 0.9); ``create`` the target's alone. Each as a logit hinge
    (:func:`score_hinge`), a weighted mean over the batch (``weights`` ``(B,)`` >= 0; None: equal).
    Lower is better for the attacker; 0 when every image is past its bounds."""
    if kind not in ("disappear", "misclassify", "create"):
        raise PatchsimError(f"unknown detector objective {kind!r}")
    low, high = threshold / 2, min(2 * threshold, 0.9)
    per = torch.zeros(scores.shape[0], dtype=scores.dtype, device=scores.device)
    if kind in ("disappear", "misclassify"):
        per = per + score_hinge(max_score_near(scores, near, sign_class), low, down=True)
    if kind in ("misclassify", "create"):
        per = per + score_hinge(max_score_near(scores, near, target), high, down=False)
    if weights is None:
        return per.mean()
    w = weights.to(per)
    return (per * w).sum() / w.sum().clamp(min=1e-12)
