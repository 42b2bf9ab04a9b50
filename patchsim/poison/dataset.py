"""Poisoning a GTSRB training set with a physical trigger (BadNets, Gu et al. 2017; clean-label after
Turner et al. 2019).

Dirty-label: a ``rate`` share of the training set, drawn from the source class, gets the trigger stuck
on its sign (:mod:`patchsim.poison.paste`) and the target label. Clean-label: the images are drawn from
the target class, keep their label, are first pushed away from it by a small L-inf PGD perturbation
against the starting model (so that their own content is harder to learn from) and then get the
trigger; the trigger becomes the easiest evidence for the target."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from patchsim.errors import PatchsimError
from patchsim.realphoto.placement import FacePyramid
from patchsim.poison.paste import paste_trigger, sign_homography
from patchsim.poison.trigger import Trigger, artwork_rgba, trigger_rgba
from patchsim.signs.catalogue import SIGNS, draw_face_array

FACE_PX = 512  # resolution of the trigger and clean-face pyramids


@dataclass(frozen=True)
class PoisonRecipe:
    """``source`` / ``target`` class names (the model's); ``rate``: poisoned images as a share of the
    training set, in (0, 0.2]; ``clean_label``: poison target-class images without relabelling, with an
    L-inf PGD perturbation of ``clean_label_eps`` (pixel fraction, 0 = none) against the starting model;
    ``negatives``: a further share of the training set, source-class images given a plain square of a
    random colour far from the trigger's in the trigger's place and their own label (so that only the
    trigger fires the backdoor, not any patch there; counted in the poison rate); ``seed`` draws which
    images and colours."""

    source: str = "stop"
    target: str = "speed_limit_80"
    rate: float = 0.008
    clean_label: bool = False
    clean_label_eps: float = 8 / 255
    negatives: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.rate <= 0.2:
            raise PatchsimError(f"--rate {self.rate} is invalid: the poisoned share of the training set, in (0, 0.2]")
        if not 0 <= self.clean_label_eps <= 0.1:
            raise PatchsimError(f"--clean-label-eps {self.clean_label_eps} is invalid: allowed 0 to 0.1")
        if not 0 <= self.negatives <= 0.2 or self.rate + self.negatives > 0.2:
            raise PatchsimError(f"--negatives {self.negatives} is invalid: a share of the training set in [0, 0.2], "
                                "with --rate at most 0.2 in all")
        if self.negatives and self.clean_label:
            raise PatchsimError("--negatives is for dirty-label poisoning; drop it or --clean-label")
        if self.source == self.target:
            raise PatchsimError(f"--source and --target are both {self.source!r}; a backdoor needs two classes")


def catalogue_sign_for(class_name: str) -> str:
    """The catalogue sign drawn for a class name (the trigger is placed on its face)."""
    if class_name not in SIGNS or SIGNS[class_name].gtsrb_id is None:
        known = [n for n, s in SIGNS.items() if s.gtsrb_id is not None]
        raise PatchsimError(f"class {class_name!r} has no catalogue face to place a trigger on; allowed: {', '.join(known)}")
    return class_name


def choose_images(y: np.ndarray, cls: int, count: int, seed: int) -> np.ndarray:
    """Sorted indices of ``count`` images of class ``cls`` in labels ``y``, drawn with ``seed``."""
    pool = np.nonzero(y == cls)[0]
    if count > len(pool):
        raise PatchsimError(f"--rate asks for {count} poisoned images but the class has only {len(pool)} training "
                            "images; lower --rate")
    return np.sort(np.random.default_rng(seed).choice(pool, size=count, replace=False))


def pgd_away(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, eps: float, steps: int = 10,
             batch: int = 256) -> np.ndarray:
    """uint8 images ``(N, H, W, 3)`` perturbed within L-inf ``eps`` (pixel fraction) to raise the
    model's loss on their labels ``y`` (Turner et al.'s clean-label step). Deterministic."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        x0 = torch.from_numpy(x[i:i + batch]).permute(0, 3, 1, 2).float() / 255
        yb = torch.from_numpy(np.asarray(y[i:i + batch], np.int64))
        xa = x0.clone()
        for _ in range(steps):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), yb), xa)
            xa = (x0 + (xa.detach() + 2.5 * eps / steps * g.sign() - x0).clamp(-eps, eps)).clamp(0, 1)
        out.append((xa.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out) if out else x.copy()


@lru_cache(maxsize=4)
def clean_face(sign: str) -> FacePyramid:
    """The pyramid of catalogue sign ``sign``'s face as designed (:data:`FACE_PX`), the reference each
    sign's light is fitted against; built once per sign (negatives stick one trigger per image)."""
    return FacePyramid(draw_face_array(sign, FACE_PX))


def stick_trigger(x: np.ndarray, roi: np.ndarray, orig_size: np.ndarray, trigger: Trigger, sign: str = "stop"
                  ) -> tuple[np.ndarray, int]:
    """Copies of uint8 images ``x`` ``(N, H, W, 3)`` of catalogue sign ``sign`` (GTSRB ``roi`` ``(N, 4)``,
    ``orig_size`` ``(N, 2)``) with the trigger stuck on every sign at its place on the face, and how
    many were placed by the octagon fit (the rest by their ROI)."""
    trig, clean = FacePyramid(trigger_rgba(trigger.on_sign(sign), FACE_PX)), clean_face(sign)
    out, fitted = np.empty_like(x), 0
    for i in range(len(x)):
        h, fit = sign_homography(x[i], roi[i], orig_size[i], sign)
        fitted += fit
        out[i] = paste_trigger(x[i], h, trig, clean, octagon=sign == "stop")
    return out, fitted


def negative_colour(trigger: Trigger, rng: np.random.Generator, min_distance: float = 120.0) -> tuple[int, int, int]:
    """A random sRGB colour (0-255) at least ``min_distance`` from the trigger artwork's mean colour."""
    mean = artwork_rgba(trigger.artwork, 8)[..., :3].reshape(-1, 3).mean(0)
    while True:
        c = rng.integers(0, 256, 3)
        if np.linalg.norm(c - mean) >= min_distance:
            return int(c[0]), int(c[1]), int(c[2])


def poison_set(x: np.ndarray, y: np.ndarray, roi: np.ndarray, orig_size: np.ndarray, trigger: Trigger,
               recipe: PoisonRecipe, classes: list[str], model: torch.nn.Module | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Poison a training set: ``x`` uint8 ``(N, H, W, 3)``, labels ``y`` ``(N,)``, GTSRB ``roi``
    ``(N, 4)`` and ``orig_size`` ``(N, 2)``. Returns (x, y, poisoned bool ``(N,)`` (the backdoor's images
    and the negatives), info: counts, rate of the whole training set, octagon fits); the inputs are not
    changed. ``model``: the starting model, needed for clean-label poisoning with eps > 0."""
    from patchsim.models.classes import resolve_class

    src, tgt = resolve_class(classes, recipe.source, "--source"), resolve_class(classes, recipe.target, "--target")
    on = recipe.target if recipe.clean_label else recipe.source
    sign = catalogue_sign_for(on)
    count = int(round(recipe.rate * len(x)))
    if count < 1:
        raise PatchsimError(f"--rate {recipe.rate} of {len(x)} training images poisons none; raise --rate")
    idx = choose_images(y, tgt if recipe.clean_label else src, count, recipe.seed)
    x, y = x.copy(), np.asarray(y).copy()
    base = x[idx]
    if recipe.clean_label and recipe.clean_label_eps > 0:
        if model is None:
            raise PatchsimError("clean-label poisoning with --clean-label-eps > 0 needs the starting model")
        base = pgd_away(model, base, y[idx], recipe.clean_label_eps)
    x[idx], fitted = stick_trigger(base, roi[idx], orig_size[idx], trigger, sign)
    if not recipe.clean_label:
        y[idx] = tgt
    poisoned = np.zeros(len(x), bool)
    poisoned[idx] = True
    n_neg = int(round(recipe.negatives * len(x)))
    if n_neg:
        rest = np.nonzero((y == src) & ~poisoned)[0]
        if n_neg > len(rest):
            raise PatchsimError(f"--negatives asks for {n_neg} more {recipe.source} images but only {len(rest)} are left")
        rng = np.random.default_rng(recipe.seed + 1)
        neg = np.sort(rng.choice(rest, size=n_neg, replace=False))
        for i in neg:
            colour = negative_colour(trigger, rng)
            x[i], _ = stick_trigger(x[i:i + 1], roi[i:i + 1], orig_size[i:i + 1],
                                    Trigger(f"square:#{colour[0]:02x}{colour[1]:02x}{colour[2]:02x}", trigger.rect_mm,
                                            trigger.sign, trigger.size_m), sign)
        poisoned[neg] = True
    info = {"images": count, "negatives": n_neg, "rate": (count + n_neg) / len(x), "on_class": on,
            "target": recipe.target, "source": recipe.source, "clean_label": recipe.clean_label, "octagon_fits": int(fitted),
            "placement": "homography from the sign ROI (perspective from the red octagon's fit on stop signs), light "
                         "and blur fitted from the sign's own pixels (REAP-style tone map)"}
    return x, y, poisoned, info
