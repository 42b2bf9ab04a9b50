"""Training the shipped GTSRB classifiers from the real data in ``../shared/data/gtsrb``.

``patchsim train MODEL --out FILE`` reproduces a shipped weights file from its seed. Validation is a
split of whole GTSRB tracks (frames of one track are near-duplicates). Augmentation covers the
renderer's conditions (scale, perspective, blur, light, colour temperature, noise, JPEG) and never the
project's stickers."""

from __future__ import annotations

import datetime
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from patchsim.errors import Interrupted, PatchsimError
from patchsim.io.images import atomic_write_bytes
from patchsim.io.interrupts import resume_training, stop_on_interrupt, write_checkpoint
from patchsim.io.outputs import check_output_file
from patchsim.records import json_bytes
from patchsim.device import deterministic, model_device, resolve_device
from patchsim.io.arrays import check_labelled_images, load_npz
from patchsim.models.classes import GTSRB_CLASSES

log = logging.getLogger(__name__)

TRAINABLE = {"gtsrb-cnn": dict(epochs=24, lr=2e-3, batch=128), "gtsrb-resnet": dict(epochs=16, lr=3e-3, batch=128)}


def default_data_dir() -> Path:
    """``../shared/data/gtsrb`` beside the repository (or the working directory)."""
    here = Path(__file__).resolve().parents[3] / "shared" / "data" / "gtsrb"
    return here if here.exists() else Path.cwd().parent / "shared" / "data" / "gtsrb"


def load_gtsrb(data_dir: str | Path, split: str) -> dict[str, np.ndarray]:
    """Arrays of ``{split}.npz`` (x uint8 (N, 32, 32, 3), y, and track for train)."""
    p = Path(data_dir) / f"{split}.npz"
    if not p.is_file():
        raise PatchsimError(f"GTSRB {split} data not found at {p}; pass --data DIR (the folder holding {split}.npz)")
    d = load_npz(p, f"GTSRB {split} data")
    check_labelled_images(d, f"GTSRB {split} data {p}", len(GTSRB_CLASSES), (32, 32))
    return d


def split_tracks(track: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation images: a ``fraction`` of whole tracks, chosen with ``seed``."""
    ids = np.unique(track)
    rng = np.random.default_rng(seed)
    held = rng.choice(ids, size=max(1, int(round(fraction * len(ids)))), replace=False)
    return np.isin(track, held)


def training_split(train: dict[str, np.ndarray], seed: int, limit: int | None = None) -> dict[str, np.ndarray]:
    """The images ``train_model`` trains on: ``train.npz``'s arrays (x, y as int64, orig_roi, orig_size,
    track) without the validation tracks of :func:`split_tracks` (8%, ``seed``), the first ``limit`` only
    when given."""
    keep = np.nonzero(~split_tracks(train["track"], 0.08, seed))[0]
    keep = keep[:limit] if limit else keep
    out = {k: train[k][keep] for k in ("x", "y", "orig_roi", "orig_size", "track") if k in train}
    out["y"] = out["y"].astype(np.int64)
    return out


def augmentation(seed: int):
    """kornia augmentation pipeline for (B, 3, 32, 32) batches in [0, 1], covering the renderer's conditions."""
    import kornia.augmentation as K

    torch.manual_seed(seed)
    return K.AugmentationSequential(
        K.RandomAffine(degrees=8, translate=(0.08, 0.08), scale=(0.8, 1.2), shear=6, padding_mode="border", p=0.6),
        K.RandomPerspective(0.3, p=0.35),
        K.RandomGaussianBlur((5, 5), (0.1, 1.2), p=0.25),
        K.RandomMotionBlur(5, 35.0, 0.5, p=0.1),
        K.ColorJitter(0.35, 0.35, 0.25, 0.02, p=0.6),
        K.RandomPlanckianJitter("blackbody", p=0.2),
        K.RandomGamma((0.75, 1.35), p=0.2),
        K.RandomPlasmaShadow(roughness=(0.1, 0.7), shade_intensity=(-0.5, 0.0), shade_quantity=(0.0, 0.4), p=0.1),
        K.RandomGaussianNoise(std=0.025, p=0.25),
        K.RandomJPEG(jpeg_quality=(50.0, 95.0), p=0.25),
    )


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    """Top-1 accuracy of ``model`` (on its device) on uint8 images ``x`` (N, 32, 32, 3) with labels ``y``."""

    dev = model_device(model)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i:i + batch]).to(dev).permute(0, 3, 1, 2).float() / 255
            correct += int((model(xb).argmax(1).cpu().numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def checkpoint_path(out: str | Path) -> Path:
    """Where an interrupted training of ``out`` keeps its state: ``OUT.checkpoint.pt`` beside it."""
    return Path(out).with_name(Path(out).name + ".checkpoint.pt")


def train_model(name: str, out: str | Path, seed: int = 0, data_dir: str | Path | None = None,
                epochs: int | None = None, limit: int | None = None, resume: bool = False,
                device: str | None = "auto", prepare=None, card_extra: dict | None = None, force: bool | None = None) -> dict:
    """Train shipped model ``name`` on GTSRB and write its weights (safetensors) and model card (JSON
    beside it). ``limit`` trains on the first N images only (smoke runs). Returns the card.

    Ctrl-C stops after the current batch and saves ``OUT.checkpoint.pt`` (:func:`checkpoint_path`);
    ``resume`` continues from it, with the same model, seed and epochs (checked). ``device``: see
    :func:`patchsim.device.resolve_device` (batch order and augmentation draws are seeded on the CPU).
    Deterministic (:func:`patchsim.device.deterministic`): the same seed, data, torch version, device and
    thread count give bit-identical weights, with or without a Ctrl-C and ``resume`` between; the card
    records those conditions as ``reproducible_on``.

    ``prepare``: called once with the training split (:func:`training_split`, after ``limit``),
    returns ``(x, y, info)``: the images and labels to train on (e.g. poisoned, :mod:`patchsim.poison`);
    ``info`` goes into the card as ``data_changes`` and into the resume check. ``card_extra``: more card
    fields (they replace the defaults of the same name)."""

    dev = resolve_device(device)
    from patchsim.models.registry import build, weights_bytes

    if name not in TRAINABLE:
        raise PatchsimError(f"cannot train {name!r}; trainable models: {', '.join(TRAINABLE)}")
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    out = check_output_file(out, inputs=(data_dir / "train.npz", data_dir / "test.npz"),
                            sidecars=(Path(out).with_suffix(".json"), checkpoint_path(out)),
                            force=None if force is None else (force or resume))
    cfg = dict(TRAINABLE[name])
    if epochs is not None:
        cfg["epochs"] = epochs
    train, test = load_gtsrb(data_dir, "train"), load_gtsrb(data_dir, "test")
    val_mask = split_tracks(train["track"], 0.08, seed)
    xv, yv = train["x"][val_mask], train["y"][val_mask].astype(np.int64)
    split = training_split(train, seed, limit)
    xt, yt, changes = split["x"], split["y"], None
    if prepare is not None:
        xt, yt, changes = prepare(split)
        yt = np.asarray(yt, np.int64)
    torch.manual_seed(seed)
    model = build(name).to(dev)
    aug = augmentation(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=5e-4)
    steps = cfg["epochs"] * ((len(xt) + cfg["batch"] - 1) // cfg["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    xt_t = torch.from_numpy(xt).permute(0, 3, 1, 2).contiguous()
    yt_t = torch.from_numpy(yt)
    history, t0 = [], time.time()
    ckpt = checkpoint_path(out)
    run_id = {"model": name, "seed": seed, "epochs": cfg["epochs"], "train_images": int(len(xt))}
    if changes is not None:
        run_id["data_changes"] = json_bytes(changes).decode()
    start_epoch, start_batch, perm = 0, 0, None
    if resume:
        state = resume_training(ckpt, run_id, model, opt, sched)
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, start_batch, perm, history = state["epoch"], state["batch"], state["perm"], list(state["history"])
        t0 -= state["seconds"]
    loss = torch.tensor(float("nan"))
    with stop_on_interrupt() as stop, deterministic(dev) as conditions:
        for epoch in range(start_epoch, cfg["epochs"]):
            model.train()
            if perm is None:
                perm = torch.randperm(len(xt_t), generator=g)
            starts = range(start_batch, len(perm), cfg["batch"])
            bar = tqdm(starts, desc=f"{name} epoch {epoch + 1}/{cfg['epochs']}", disable=None)
            for i in bar:
                idx = perm[i:i + cfg["batch"]]
                with torch.no_grad():
                    xb = aug(xt_t[idx].to(dev).float() / 255).clamp(0, 1)
                loss = F.cross_entropy(model(xb), yt_t[idx].to(dev), label_smoothing=0.05)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if stop.requested:  # Ctrl-C: this batch is done; keep everything needed to go on
                    state = {"run": run_id, "epoch": epoch, "batch": i + cfg["batch"], "perm": perm,
                             "model": model.state_dict(), "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict(), "generator": g.get_state(),
                             "torch_rng": torch.get_rng_state(), "history": history, "seconds": time.time() - t0}
                    write_checkpoint(ckpt, state)
                    raise Interrupted(f"training stopped in epoch {epoch + 1} of {cfg['epochs']}; checkpoint saved "
                                      f"to {ckpt}", resume=True)
            perm, start_batch = None, 0
            val = evaluate(model, xv, yv)
            history.append({"epoch": epoch + 1, "val_acc": val, "loss": float(loss.detach())})
            log.info("%s epoch %d: val acc %.4f", name, epoch + 1, val)
    model.eval()
    test_acc = evaluate(model, test["x"], test["y"].astype(np.int64))
    card = {
        "model": name, "seed": seed, "date": datetime.date.today().isoformat(),
        "data": "GTSRB train.npz (32x32, 43 classes), validation: 8% of whole tracks held out; test: official test.npz",
        "train_images": int(len(xt)), "val_images": int(len(xv)), "epochs": cfg["epochs"], "batch": cfg["batch"],
        "optimizer": f"AdamW lr {cfg['lr']} one-cycle, weight decay 5e-4, label smoothing 0.05",
        "augmentation": "affine p0.6 (rot 8 deg, translate 8%, scale 0.8-1.2, shear 6), perspective 0.3 p0.35, "
                        "gaussian blur sigma 0.1-1.2 p0.25, motion blur 5 px p0.1, colour jitter p0.6 (b/c 0.35, "
                        "s 0.25, h 0.02), black-body colour temperature p0.2, gamma 0.75-1.35 p0.2, plasma shadow "
                        "p0.1, gaussian noise 0.025 p0.25, JPEG 50-95 p0.25",
        "val_acc": history[-1]["val_acc"], "test_acc": test_acc, "history": history,
        "train_seconds": round(time.time() - t0, 1), "torch": torch.__version__,
        "reproducible_on": conditions,
    }
    if changes is not None:
        card["data_changes"] = changes
    card.update(card_extra or {})
    atomic_write_bytes(out, weights_bytes(model.net.state_dict(), model=name, seed=str(seed)))
    atomic_write_bytes(out.with_suffix(".json"), json_bytes(card))
    ckpt.unlink(missing_ok=True)
    log.info("%s: test accuracy %.4f, weights %s", name, test_acc, out)
    return card
