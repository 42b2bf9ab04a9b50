"""A bank of persistent adversarial stickers on rendered signs, for adversarial fine-tuning.

Each entry is a sign from the catalogue, a rectangular sticker layout on its face (area drawn up to the
scene's sticker area), a goal (a random target class, or untargeted) and the sticker's unconstrained
parameters. Every time an entry is used it is attacked for a few more signed-gradient steps through
patchsim's renderer under the scene's EOT ranges, against the model as it is now, so the stickers the
model trains on keep getting stronger while it learns (like "free" adversarial training, with the
physical renderer in the loop). Entries are replaced now and then so layouts and targets keep varying."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from patchsim.objectives import losses
from patchsim.render import draw_visible
from patchsim.errors import PatchsimError
from patchsim.models.classes import resolve_class
from patchsim.render import Renderer
from patchsim.scene import Scene
from patchsim.signs import SIGNS, draw_face, shape_mask


@dataclass
class BankEntry:
    """One sticker: ``sign`` (catalogue name), ``true_class`` / ``target`` (model class indices; target
    None: untargeted), ``rect`` (u0, v0, u1, v1) in face units [0, 1], ``params`` ``(1, 3, N, N)``
    unconstrained (colours = the printer's parametrisation of their sigmoid) and ``uses``; ``start``: the
    catalogue sign whose face the sticker started from (a semantic sticker: that face's fragment under the
    rectangle), or None for random colours."""

    sign: str
    true_class: int
    target: int | None
    rect: tuple[float, float, float, float]
    params: torch.Tensor
    uses: int = 0
    start: str | None = None


def semantic_params(sign: str, n: int) -> torch.Tensor:
    """Bank parameters ``(1, 3, n, n)`` whose sticker is catalogue ``sign``'s face (``n`` px across its
    bounding square; transparent corners white): the logit of its colours, kept within [0.02, 0.98] so
    the attack steps can still move them. The printer's parametrisation is applied on top, as for any entry."""
    face = draw_face(sign, n)
    rgb = face[:3] * face[3:] + (1 - face[3:])
    return torch.logit(rgb.clamp(0.02, 0.98))[None]


class StickerBank:
    """``size`` entries over the catalogue signs that ``classes`` knows, rendered with ``scene``'s camera,
    ranges and crop (``face_resolution`` sticker pixels, ``printer``). ``max_area``: the largest sticker
    as a fraction of the face's bounding square (e.g. the scene's own sticker area); ``min_area`` the
    smallest. ``semantic_fraction`` in [0, 1]: the share of new entries that start from another catalogue
    sign's face instead of random colours (semantic stickers: a fragment of, e.g., no_entry's face under the
    rectangle, which gradient attacks from random colours miss). All draws use the CPU generator passed in;
    with ``semantic_fraction`` 0 the draws are those of a bank without it."""

    def __init__(self, scene: Scene, classes: list[str], size: int, max_area: float, g: torch.Generator,
                 face_resolution: int = 64, printer=None, device: torch.device | str = "cpu",
                 min_area: float = 0.03, renew_every: int = 20, semantic_fraction: float = 0.0):
        if not 0 < min_area <= max_area < 1:
            raise PatchsimError(f"sticker areas must satisfy 0 < min_area <= max_area < 1, got {min_area}, {max_area}")
        if not 0.0 <= semantic_fraction <= 1.0:
            raise PatchsimError(f"semantic_fraction = {semantic_fraction!r} is invalid: must be in [0, 1]")
        self.semantic_fraction = float(semantic_fraction)
        self.scene, self.classes, self.device = scene, list(classes), torch.device(device)
        self.min_area, self.max_area, self.renew_every = float(min_area), float(max_area), int(renew_every)
        self.signs = [s.name for s in SIGNS.values() if s.gtsrb_id is not None and s.name in self.classes]
        if not self.signs:
            raise PatchsimError(f"no catalogue sign is a class of this model (catalogue: {', '.join(SIGNS)})")
        self.n = int(face_resolution)
        self.scenes, self.renderers, self.silhouettes = {}, {}, {}
        for name in self.signs:
            sign = dataclasses.replace(scene.sign, class_name=name, size_m=SIGNS[name].size_m)
            sc = dataclasses.replace(scene, sign=sign, sticker=dataclasses.replace(scene.sticker, regions=(), mask_path=None))
            self.scenes[name] = sc
            self.renderers[name] = Renderer.from_scene(sc, face_resolution=self.n, printer=printer).to(self.device)
            self.silhouettes[name] = shape_mask(name, self.n)[None].to(self.device)
        self.entries = [self._new_entry(g) for _ in range(int(size))]

    def _new_entry(self, g: torch.Generator) -> BankEntry:
        sign = self.signs[int(torch.randint(len(self.signs), (1,), generator=g))]
        true = resolve_class(self.classes, sign)
        area = self.min_area + (self.max_area - self.min_area) * float(torch.rand(1, generator=g))
        aspect = float(torch.exp((torch.rand(1, generator=g) - 0.5) * 1.4))  # w / h in [0.5, 2]
        w, h = min(0.95, (area * aspect) ** 0.5), min(0.95, (area / aspect) ** 0.5)
        u0 = 0.05 + (0.9 - w) * float(torch.rand(1, generator=g)) if w < 0.9 else 0.025
        v0 = 0.05 + (0.9 - h) * float(torch.rand(1, generator=g)) if h < 0.9 else 0.025
        target = None
        if float(torch.rand(1, generator=g)) < 0.5:
            target = int(torch.randint(len(self.classes) - 1, (1,), generator=g))
            target += int(target >= true)
        params = torch.randn(1, 3, self.n, self.n, generator=g) * 0.5
        start = None
        if self.semantic_fraction > 0 and float(torch.rand(1, generator=g)) < self.semantic_fraction:
            others = [s for s in SIGNS if s != sign]
            start = others[int(torch.randint(len(others), (1,), generator=g))]
            params = semantic_params(start, self.n)
        return BankEntry(sign, true, target, (u0, v0, u0 + w, v0 + h), params.to(self.device), start=start)

    def mask(self, e: BankEntry) -> torch.Tensor:
        """The entry's sticker coverage ``(1, 1, N, N)``: its rectangle clipped to the sign's silhouette."""
        c = (torch.arange(self.n, device=self.device) + 0.5) / self.n
        u0, v0, u1, v1 = e.rect
        inside = ((c[None, :] >= u0) & (c[None, :] < u1) & (c[:, None] >= v0) & (c[:, None] < v1)).float()
        return inside[None, None] * self.silhouettes[e.sign]

    def crops(self, model, index: int, n_cond: int, steps: int, step_size: float, g: torch.Generator,
              kappa: float = 5.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attack entry ``index`` for ``steps`` more signed-gradient steps of ``step_size`` (parameter units)
        on ``n_cond`` fresh EOT conditions against ``model`` (logits from ``(B, 3, S, S)`` crops; used as it
        is, its parameters get no gradient), then return (adversarial crops, clean crops of the same
        conditions, labels ``(n_cond,)``), crops ``(n_cond, 3, S, S)`` at the scene's crop size."""
        e = self.entries[index]
        if e.uses >= self.renew_every:
            e = self.entries[index] = self._new_entry(g)
        e.uses += 1
        r = self.renderers[e.sign].with_sticker_mask(self.mask(e))
        cond = draw_visible(self.scenes[e.sign], r, n_cond, g).to(self.device)
        w = e.params
        for _ in range(steps):
            with torch.enable_grad():
                w = w.detach().requires_grad_(True)
                logits = model(r.render_crops(cond, r.printer.parametrise(torch.sigmoid(w))).images)
                loss = (losses.targeted_margin(logits, e.target, kappa) if e.target is not None
                        else losses.untargeted_margin(logits, e.true_class, kappa))
                grad, = torch.autograd.grad(loss, w)
            w = w - step_size * grad.sign()
        e.params = w.detach()
        with torch.no_grad():
            adv = r.render_crops(cond, r.printer.parametrise(torch.sigmoid(e.params))).images
            clean = r.render_crops(cond, None).images
        labels = torch.full((n_cond,), e.true_class, dtype=torch.int64, device=self.device)
        return adv, clean, labels
