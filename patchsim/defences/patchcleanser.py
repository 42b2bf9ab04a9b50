"""PatchCleanser (Xiang et al., USENIX Security 2022): double masking with certified robustness against
any patch up to a given size.

A mask set covers every possible ``p`` x ``p`` patch position with at least one mask (``k`` masks per
axis, stride ``s = ceil((n - p + 1) / k)``, mask side ``p + s - 1``). The first round classifies the
image under each mask; if they agree, that is the answer. Otherwise each disagreeing mask's prediction
is checked under a second mask (every mask); one whose second round agrees with it wins, else the
first-round majority. An input is *certified* for label ``y`` when every two-mask prediction (both
masks, every pair, a mask with itself included) is ``y``: then no patch inside one mask can change the
answer. Masks are grey (``fill``) squares; pixel coordinates as everywhere, ``(B, 3, H, W)`` in [0, 1]."""

from __future__ import annotations

import math

import torch
from torch import nn

from patchsim.defences.transforms import Defended
from patchsim.errors import PatchsimError


def mask_geometry(n: int, patch: int, per_axis: int) -> tuple[int, list[int]]:
    """Mask side and top-left offsets along one axis of length ``n`` for patches of ``patch`` pixels
    with ``per_axis`` masks: every window ``[a, a + patch)`` inside ``[0, n)`` lies inside one mask."""
    if not 1 <= patch <= n:
        raise PatchsimError(f"PatchCleanser: a {patch} px patch does not fit a {n} px image")
    stride = math.ceil((n - patch + 1) / per_axis)
    side = patch + stride - 1
    offsets = sorted({min(j * stride, max(0, n - side)) for j in range(per_axis)})
    return side, offsets


def mask_set(size_hw: tuple[int, int], patch_hw: tuple[int, int], per_axis: int) -> torch.Tensor:
    """Keep-masks ``(M, 1, H, W)`` float32: 0 inside mask ``i``, 1 elsewhere (M = offsets_y x offsets_x)."""
    (H, W), (ph, pw) = size_hw, patch_hw
    sh, oy = mask_geometry(H, ph, per_axis)
    sw, ox = mask_geometry(W, pw, per_axis)
    masks = torch.ones(len(oy) * len(ox), 1, H, W)
    for i, (y, x) in enumerate((y, x) for y in oy for x in ox):
        masks[i, :, y:y + sh, x:x + sw] = 0
    return masks


class PatchCleanser(Defended):
    """PatchCleanser around ``model`` for square patches of ``patch_frac`` of the input's area
    (side ``ceil(sqrt(patch_frac) * n - 0.01)`` pixels: ``patch_px``), ``per_axis`` masks per axis, masks filled with
    ``fill``. ``forward`` returns the double-masking decision as logits (log of a one-hot smoothed by
    1e-4: argmax is the decision); :meth:`certify` says which inputs are certifiably robust;
    :meth:`attack_forward` is the adaptive attack's path: the mean log-probabilities under
    ``attack_masks`` one- and two-mask versions drawn each call from a generator seeded with ``seed``
    (EOT over the defence's masks)."""

    def __init__(self, model: nn.Module, patch_frac: float = 0.1, per_axis: int = 6, fill: float = 0.5,
                 chunk: int = 2048, attack_masks: int = 2, seed: int = 0):
        super().__init__(model)
        if isinstance(patch_frac, bool) or not isinstance(patch_frac, (int, float)) or not 0 < patch_frac < 0.5:
            raise PatchsimError(f"PatchCleanser: patch_frac = {patch_frac!r} is invalid: a fraction of the input's "
                                "area in (0, 0.5)")
        if isinstance(per_axis, bool) or not isinstance(per_axis, int) or not 2 <= per_axis <= 16:
            raise PatchsimError(f"PatchCleanser: per_axis = {per_axis!r} is invalid: an integer in [2, 16]")
        h, w = self.input_size
        self.patch_frac, self.per_axis, self.fill = float(patch_frac), per_axis, float(fill)
        side = math.sqrt(patch_frac)  # pixels are whole: 0.01 px of slack keeps 0.0977 of 32 x 32 at 10 px, not 11
        self.patch_px = (min(h, math.ceil(side * h - 0.01)), min(w, math.ceil(side * w - 0.01)))
        self.register_buffer("masks", mask_set((h, w), self.patch_px, per_axis))
        self.chunk, self.attack_masks = int(chunk), int(attack_masks)
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def spec(self) -> str:
        return f"patchcleanser:{self.patch_frac:g}:{self.per_axis}"

    def _masked(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return x * keep + self.fill * (1 - keep)

    @torch.no_grad()
    def _predict(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Labels ``(B, M)`` of every image ``(B, 3, H, W)`` under every keep-mask ``(M, 1, H, W)``."""
        b, m = len(x), len(keep)
        flat = self._masked(x[:, None], keep[None]).flatten(0, 1)
        out = torch.cat([self.model(flat[i:i + self.chunk]).argmax(1) for i in range(0, len(flat), self.chunk)])
        return out.view(b, m)

    @torch.no_grad()
    def decide(self, x: torch.Tensor) -> torch.Tensor:
        """The double-masking decision ``(B,)`` int64 for images ``x``."""
        self.check_input(x)
        first = self._predict(x, self.masks)  # (B, M)
        majority = first.mode(1).values
        out = majority.clone()
        for b in torch.nonzero((first != majority[:, None]).any(1)).flatten().tolist():
            dis = torch.nonzero(first[b] != majority[b]).flatten()  # disagreeing masks, in mask order
            keep = (self.masks[dis][:, None] * self.masks[None]).flatten(0, 1)  # (D * M, 1, H, W)
            second = self._predict(x[b:b + 1], keep)[0].view(len(dis), -1)
            agree = (second == first[b, dis][:, None]).all(1)
            if bool(agree.any()):
                out[b] = first[b, dis[int(agree.int().argmax())]]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = len(self.classes)
        onehot = torch.nn.functional.one_hot(self.decide(x), k).float()
        return torch.log(onehot * (1 - 1e-4 * k) + 1e-4)

    @torch.no_grad()
    def certify(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-image bool ``(B,)``: is the decision on ``x`` certifiably ``y`` ``(B,)`` against every
        patch of up to ``patch_px`` pixels anywhere (every two-mask prediction equals ``y``)."""
        self.check_input(x)
        ok = (self._predict(x, self.masks) == y[:, None]).all(1)
        m = len(self.masks)
        pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
        keep = torch.stack([self.masks[i] * self.masks[j] for i, j in pairs])
        for b in torch.nonzero(ok).flatten().tolist():
            ok[b] = bool((self._predict(x[b:b + 1], keep)[0] == y[b]).all())
        return ok

    def attack_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        m = len(self.masks)
        i = torch.randint(m, (self.attack_masks,), generator=self.generator)
        j = torch.randint(m, (self.attack_masks,), generator=self.generator)
        keep = torch.cat([self.masks[i], self.masks[i] * self.masks[j]])  # (2A, 1, H, W)
        flat = self._masked(x[:, None], keep[None]).flatten(0, 1)
        logp = self.model(flat).log_softmax(1).view(len(x), len(keep), -1)
        return logp.mean(1)
