"""``patchsim harden``: adversarial fine-tuning of a GTSRB classifier against physically realisable
attacks (Wu et al., ICLR 2020, DOA; with patchsim's renderer in the loop).

Every step trains on four parts, all labelled with the true class:
  * clean GTSRB training images under the training augmentation, a quarter of them with grey squares
    (Cutout, so that :class:`~patchsim.defences.PatchCleanser`'s masks do not change the prediction);
  * the same number of GTSRB images with a rectangular occlusion attack (:func:`roa_attack`: the
    rectangle at the most gradient-sensitive place, its colours by a few signed-gradient steps; sides
    drawn so its area is 2-12% of the image);
  * EOT stickers on rendered catalogue signs (:class:`StickerBank`: random layouts up to the scene's
    sticker area, random targets, a few attack steps per use through the renderer, persistent across
    steps) and the clean renders of the same conditions.
Validation tracks are held out as in ``patchsim train``; seeded, resumable (Ctrl-C), with a model card."""

from __future__ import annotations

import datetime
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from patchsim.models.registry import weights_bytes
from patchsim.errors import Interrupted, PatchsimError
from patchsim.io.images import atomic_write_bytes
from patchsim.io.interrupts import resume_training, stop_on_interrupt, write_checkpoint
from patchsim.io.outputs import check_output_file
from patchsim.records import json_bytes
from patchsim.device import deterministic, model_device, resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HardenRecipe:
    """Settings of adversarial fine-tuning. ``steps`` optimiser steps of AdamW (``lr``, cosine to 5%);
    per step ``batch`` GTSRB images (half clean, half under a ``roa_steps``-step occlusion attack) and
    ``render_entries`` x ``render_conditions`` rendered crops with stickers from a bank of ``bank_size``
    (each use ``sticker_steps`` attack steps of ``sticker_step_size``; a ``semantic_fraction`` of new bank
    stickers start from another sign's face), plus their clean renders (``render_entries`` 0: occlusion
    rectangles only, no renderer)."""

    steps: int = 1500
    batch: int = 128
    lr: float = 5e-4
    roa_steps: int = 7
    roa_area: tuple[float, float] = (0.02, 0.12)
    cutout_p: float = 0.25
    bank_size: int = 64
    render_entries: int = 4
    render_conditions: int = 8
    sticker_steps: int = 2
    sticker_step_size: float = 0.25
    face_resolution: int = 64
    semantic_fraction: float = 0.0

    def __post_init__(self):
        if not isinstance(self.semantic_fraction, (int, float)) or not 0.0 <= self.semantic_fraction <= 1.0:
            raise PatchsimError(f"harden recipe: semantic_fraction = {self.semantic_fraction!r} is invalid: must be in [0, 1]")
        for k in ("steps", "batch", "roa_steps", "bank_size", "render_entries", "render_conditions", "sticker_steps"):
            v = getattr(self, k)
            if not isinstance(v, int) or v < (0 if k in ("roa_steps", "sticker_steps", "render_entries") else 1):
                raise PatchsimError(f"harden recipe: {k} = {v!r} is invalid: must be a positive integer")


def roa_side(area_range: tuple[float, float], size: int, g: torch.Generator) -> tuple[int, int]:
    """A rectangle (h, w) in pixels of a ``size`` x ``size`` image whose area fraction is drawn from
    ``area_range`` and aspect ratio from [0.5, 2]."""
    area = area_range[0] + (area_range[1] - area_range[0]) * float(torch.rand(1, generator=g))
    aspect = float(torch.exp((torch.rand(1, generator=g) - 0.5) * 1.4))
    h = int(round(size * math.sqrt(area / aspect)))
    w = int(round(size * math.sqrt(area * aspect)))
    return max(2, min(size, h)), max(2, min(size, w))


@torch.no_grad()
def roa_accuracy(model, x: np.ndarray, y: np.ndarray, side: int, steps: int = 10, seed: int = 0,
                 batch: int = 256) -> float:
    """Accuracy of ``model`` on uint8 images ``x`` (N, H, W, 3) under a fixed ``side`` x ``side``
    rectangular occlusion attack (:func:`roa_attack`, ``steps`` steps, untargeted, seeded): the
    robustness measure of the model card."""
    from patchsim.defences.occlusion import roa_attack

    dev = model_device(model)
    g = torch.Generator().manual_seed(seed)
    correct = 0
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i:i + batch]).to(dev).permute(0, 3, 1, 2).float() / 255
        yb = torch.from_numpy(y[i:i + batch].astype(np.int64)).to(dev)
        adv, _ = roa_attack(model, xb, yb, side, side, steps=steps, step_size=0.1, generator=g)
        correct += int((model(adv).argmax(1) == yb).sum())
    return correct / len(x)


@torch.no_grad()
def clean_render_accuracy(model, scene, n: int = 512, seed: int = 7) -> float:
    """Fraction of ``n`` clean EOT renders of ``scene``'s sign (the scene's ranges, its crop) that
    ``model`` reads as the sign's class."""
    from patchsim.render import draw_visible
    from patchsim.models.classes import resolve_class
    from patchsim.render import Renderer

    dev = model_device(model)
    r = Renderer.from_scene(scene, face_resolution=64).to(dev)
    cond = draw_visible(scene, r, n, torch.Generator().manual_seed(seed))
    true = resolve_class(model.classes, scene.sign.class_name)
    hits = 0
    for i in range(0, n, 128):
        hits += int((model(r.render_crops(cond[i:i + 128].to(dev)).images).argmax(1) == true).sum())
    return hits / n


def harden(model: str, out: str | Path, weights: str | None = None, scene: str = "stop_driveby", seed: int = 0,
           data_dir: str | Path | None = None, recipe: HardenRecipe | None = None, limit: int | None = None,
           resume: bool = False, device: str | None = "auto", printer: str | None = "inkjet",
           progress: bool = True, card_every: int = 1, force: bool | None = None) -> dict:
    """Fine-tune classifier ``model`` (shipped name, or a shipped architecture with ``weights``)
    adversarially and write its weights (safetensors) and model card (JSON beside them); returns the card.
    ``scene``: whose camera, ranges, crop and sticker area the rendered stickers use. ``limit``: train on
    a seeded random N of the GTSRB training images (smoke runs). ``card_every``: the card's test figures on
    every N-th test image (1: all). Ctrl-C saves ``OUT.checkpoint.pt``; ``resume`` goes on."""
    from patchsim.defences.occlusion import cutout, roa_attack
    from patchsim.defences.sticker_bank import BankEntry, StickerBank
    from patchsim.models import fingerprint, load, model_file
    from patchsim.models.train import augmentation, checkpoint_path, default_data_dir, evaluate, load_gtsrb, split_tracks
    from patchsim.printing.printer import printer_from_spec
    from patchsim.scene import load_scene

    recipe = recipe or HardenRecipe()
    dev = resolve_device(device)
    out = check_output_file(out, inputs=(weights, model_file(model)),
                            sidecars=(Path(out).with_suffix(".json"), checkpoint_path(out)),
                            force=None if force is None else (force or resume))
    if resume and not checkpoint_path(out).is_file():  # said before any heavy work
        raise PatchsimError(f"--resume: no checkpoint at {checkpoint_path(out)}")
    sc = load_scene(scene)
    pm = printer_from_spec(printer)
    clf = load(model, weights=weights)
    if clf.input_size != (sc.crop.size, sc.crop.size):
        raise PatchsimError(f"model {model} takes {clf.input_size} inputs; scene {sc.name} crops are {sc.crop.size} px")
    from patchsim.signs import sticker_mask

    max_area = float(sticker_mask(sc, 64).mean())
    if max_area <= 0.03:
        raise PatchsimError(f"scene {sc.name} has no sticker area larger than 3% of the face to train against")
    base_sha = fingerprint(clf)
    clf = clf.to(dev)
    for p in clf.parameters():
        p.requires_grad_(True)
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    train, test = load_gtsrb(data_dir, "train"), load_gtsrb(data_dir, "test")
    val_mask = split_tracks(train["track"], 0.08, seed)
    xt, yt = train["x"][~val_mask], train["y"][~val_mask].astype(np.int64)
    xv, yv = train["x"][val_mask], train["y"][val_mask].astype(np.int64)
    if limit:  # a seeded subset over all classes (the file is sorted by class)
        pick = np.sort(np.random.default_rng(seed).permutation(len(xt))[:limit])
        xt, yt = xt[pick], yt[pick]
    xt_t, yt_t = torch.from_numpy(xt).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(yt)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    aug = augmentation(seed)
    bank = StickerBank(sc, clf.classes, recipe.bank_size, max_area, g, recipe.face_resolution,
                       pm, dev, semantic_fraction=recipe.semantic_fraction) if recipe.render_entries else None
    opt = torch.optim.AdamW(clf.parameters(), lr=recipe.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, recipe.steps) / recipe.steps)))
    run_id = {"model": model, "base_sha256": base_sha, "seed": seed, "recipe": asdict(recipe), "scene": sc.name,
              "train_images": int(len(xt))}
    ckpt = checkpoint_path(out)
    start, history, t0 = 0, [], time.time()
    if resume:
        state = resume_training(ckpt, run_id, clf.net, opt, sched)
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if bank is not None:
            bank.entries = [BankEntry(**{**e, "rect": tuple(e["rect"])}) for e in state["bank"]]
        start, history = state["step"], list(state["history"])
        t0 -= state["seconds"]
    half = recipe.batch // 2
    bar = tqdm(range(start, recipe.steps), desc=f"harden {model}", initial=start, total=recipe.steps,
               disable=not progress or None)
    with stop_on_interrupt() as stop, deterministic(dev) as conditions:
        for step in bar:
            idx = torch.randint(len(xt_t), (recipe.batch,), generator=g)
            with torch.no_grad():
                xb = aug(xt_t[idx].to(dev).float() / 255).clamp(0, 1)
            yb = yt_t[idx].to(dev)
            clean = cutout(xb[:half], 2, (4, 12), recipe.cutout_p, g)
            clf.eval()  # attacks see the model as it predicts (no dropout)
            h, w = roa_side(recipe.roa_area, xb.shape[-1], g)
            occluded, _ = roa_attack(clf, xb[half:], yb[half:], h, w, steps=recipe.roa_steps, generator=g)
            adv, ren, lab = [], [], []
            for e in (torch.randint(len(bank.entries), (recipe.render_entries,), generator=g).tolist() if bank else []):
                a, c, lbl = bank.crops(clf, e, recipe.render_conditions, recipe.sticker_steps,
                                       recipe.sticker_step_size, g)
                adv.append(a), ren.append(c), lab.append(lbl)
            clf.train()
            x_all = torch.cat([clean, occluded] + adv + ren)
            y_all = torch.cat([yb] + lab + lab)
            logits = clf(x_all)
            loss = F.cross_entropy(logits, y_all, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                n_adv = sum(len(a) for a in adv)
                pred = logits.argmax(1)
                held = float((pred[recipe.batch:recipe.batch + n_adv] == y_all[recipe.batch:recipe.batch + n_adv]).float().mean()) \
                    if n_adv else float("nan")
                roa_ok = float((pred[half:recipe.batch] == yb[half:]).float().mean())
            bar.set_postfix(loss=f"{loss.item():.3f}", roa=f"{roa_ok:.2f}", sticker=f"{held:.2f}")
            if (step + 1) % 100 == 0 or step + 1 == recipe.steps:
                history.append({"step": step + 1, "loss": round(loss.item(), 4), "roa_batch_acc": roa_ok,
                                "sticker_batch_acc": held, "val_acc": evaluate(clf, xv, yv)})
                log.info("harden step %d: %s", step + 1, history[-1])
            if stop.requested:
                state = {"run": run_id, "step": step + 1, "model": clf.net.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                         "bank": [asdict(e) for e in bank.entries] if bank else None, "history": history, "seconds": time.time() - t0}
                write_checkpoint(ckpt, state)
                raise Interrupted(f"hardening stopped at step {step + 1} of {recipe.steps}; checkpoint saved to {ckpt}",
                                  resume=True)
    clf.eval()
    seconds = time.time() - t0
    card = {
        "model": Path(out).stem, "base_model": model, "base_weights": weights, "base_sha256": base_sha, "seed": seed,
        "date": datetime.date.today().isoformat(), "method": __doc__.split("\n\n")[0].replace("\n", " "),
        "recipe": asdict(recipe), "scene": sc.name, "sticker_max_area": round(max_area, 4),
        "stickers_on": bank.signs if bank else [], "train_images": int(len(xt)),
        "val_acc": evaluate(clf, xv, yv),
        "test_acc": evaluate(clf, test["x"][::card_every], test["y"][::card_every].astype(np.int64)),
        "clean_render_acc": clean_render_accuracy(clf, sc, n=512 // card_every or 1),
        "roa_8px_test_acc": roa_accuracy(clf, test["x"][::6 * card_every], test["y"][::6 * card_every], 8),
        "card_test_every": card_every, "history": history, "train_seconds": round(seconds, 1),
        "torch": torch.__version__, "reproducible_on": conditions,
    }
    atomic_write_bytes(out, weights_bytes(clf.net.state_dict(), model=card["model"], base=str(model), seed=str(seed)))
    atomic_write_bytes(out.with_suffix(".json"), json_bytes(card))
    ckpt.unlink(missing_ok=True)
    log.info("hardened %s: test %.4f, clean renders %.4f, ROA 8 px %.4f", model, card["test_acc"],
             card["clean_render_acc"], card["roa_8px_test_acc"])
    return card
