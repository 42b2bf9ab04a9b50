"""Input-transform defences that keep the classifier interface: :class:`JpegDefence` and
:class:`MedianDefence`, and :class:`Defended`, the base they share with
:class:`~patchsim.defences.PatchCleanser`.

A defended model takes ``(B, 3, H, W)`` float32 RGB in [0, 1] at the wrapped model's input size and
returns ``(B, K)`` logits over the same ``classes``. ``forward`` is the defence exactly as deployed (what
every evaluator scores); ``attack_forward`` is the differentiable path an adaptive attack optimises
through (Athalye et al., ICML 2018): the same function where it is differentiable, BPDA (the true
transform forward, a differentiable approximation backward) where it is not."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.io.images import jpeg_round_trip
from patchsim.models.target import CLASSIFIER_GOALS


class Defended(nn.Module):
    """Base of the defence wrappers: holds ``model`` and mirrors its ``classes``, ``input_size``,
    ``card``; ``name`` is ``"{model}+{defence}"``. Subclasses define ``defend`` (images -> images) or
    override ``forward``. A :class:`~patchsim.models.target.Target` whose ``attack_forward`` is the
    adaptive attack's path."""

    kind = "defence"
    is_detector = False  # defences wrap classifiers
    goals = CLASSIFIER_GOALS

    def __init__(self, model: nn.Module):
        super().__init__()
        if not hasattr(model, "classes") or not hasattr(model, "input_size"):
            raise PatchsimError("a defence wraps a classifier with classes and input_size (patchsim.models.load)")
        self.model = model
        self.classes = list(model.classes)
        self.input_size = tuple(model.input_size)
        self.card = dict(getattr(model, "card", {}))

    @property
    def name(self) -> str:
        return f"{getattr(self.model, 'name', 'model')}+{self.spec}"

    @property
    def spec(self) -> str:
        """The ``--defence`` text that builds this wrapper again."""
        raise NotImplementedError

    def check_input(self, x: torch.Tensor) -> None:
        """The wrapped model's input check, where it has one."""
        if hasattr(self.model, "check_input"):
            self.model.check_input(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.model(self.defend(x))

    def attack_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logits for adaptive attacks (default: :meth:`forward`)."""
        return self.forward(x)


def jpeg_uint8(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Real baseline JPEG (OpenCV / libjpeg, 4:2:0) of ``x`` ``(B, 3, H, W)`` in [0, 1] at ``quality``
    (1-100), decoded back to float32 in [0, 1] on ``x``'s device: the values are those of the 8-bit image."""
    a = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([jpeg_round_trip(np.ascontiguousarray(img), quality) for img in a])
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).float() / 255


class _Bpda(torch.autograd.Function):
    """Forward: ``exact(x)``; backward: the gradient of ``approx`` at ``x`` (identity when None)."""

    @staticmethod
    def forward(ctx, x, exact, approx):
        ctx.save_for_backward(x)
        ctx.approx = approx
        return exact(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        if ctx.approx is None:
            return grad, None, None
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            y = ctx.approx(xx)
            g, = torch.autograd.grad(y, xx, grad)
        return g, None, None


class JpegDefence(Defended):
    """JPEG compression of the input at ``quality`` before the model (Dziugaite et al. 2016; Das et al.
    2017). ``forward`` runs the real codec; ``attack_forward`` is BPDA: the real codec forward, the
    gradient of the differentiable codec (``backward="approx"``, kornia's DCT-quantisation with smooth
    rounding) or of the identity (``backward="identity"``) backward."""

    def __init__(self, model: nn.Module, quality: int = 75, backward: str = "approx"):
        super().__init__(model)
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise PatchsimError(f"JPEG defence: quality = {quality!r} is invalid: an integer in [1, 100]")
        if backward not in ("approx", "identity"):
            raise PatchsimError(f"JPEG defence: backward = {backward!r} is invalid: approx or identity")
        self.quality, self.backward = quality, backward

    @property
    def spec(self) -> str:
        return f"jpeg:{self.quality}"

    def defend(self, x: torch.Tensor) -> torch.Tensor:
        return jpeg_uint8(x, self.quality)

    def _approx(self, x: torch.Tensor) -> torch.Tensor:
        from patchsim.render.camera import jpeg

        return jpeg(x, torch.full((len(x),), float(self.quality), device=x.device))

    def attack_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        approx = self._approx if self.backward == "approx" else None
        return self.model(_Bpda.apply(x, self.defend, approx))


class MedianDefence(Defended):
    """Median filtering of the input (``kernel`` x ``kernel``, reflected borders; Xu et al. 2018,
    feature squeezing) before the model. Differentiable almost everywhere (the gradient reaches the
    median pixel), so the adaptive attack goes straight through it."""

    def __init__(self, model: nn.Module, kernel: int = 3):
        super().__init__(model)
        if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 3 or kernel % 2 == 0 or kernel > 15:
            raise PatchsimError(f"median defence: kernel = {kernel!r} is invalid: an odd integer in [3, 15]")
        self.kernel = kernel

    @property
    def spec(self) -> str:
        return f"median:{self.kernel}"

    def defend(self, x: torch.Tensor) -> torch.Tensor:
        return median_filter(x, self.kernel)


def median_filter(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Per-channel ``kernel`` x ``kernel`` median of ``(B, C, H, W)`` with reflected borders (same shape)."""
    p = kernel // 2
    xp = torch.nn.functional.pad(x, (p, p, p, p), mode="reflect")
    patches = xp.unfold(2, kernel, 1).unfold(3, kernel, 1)  # (B, C, H, W, k, k)
    return patches.reshape(*x.shape, kernel * kernel).median(-1).values
