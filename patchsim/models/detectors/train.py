"""``patchsim train-detector``: trains a shipped detector family (``sign-det``, ``sign-yolo``) from scratch
on synthesised frames (:mod:`patchsim.models.detectors.synth`) and scores it on the real street photos it
never saw. Each family names its targets, its loss and its card's description in :data:`FAMILIES`.

Batch ``i`` is drawn from ``numpy.random.default_rng([seed, i])``: batches do not depend on workers or on
where a resumed run restarted. Ctrl-C saves ``OUT.checkpoint.pt``; ``--resume`` continues from it."""

from __future__ import annotations

import datetime
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from patchsim.models.detectors.signdet import STRIDE, centernet_loss, encode_targets
from patchsim.models.detectors.yolo import yolo_loss, yolo_targets
from patchsim.models.registry import weights_bytes
from patchsim.errors import Interrupted, PatchsimError
from patchsim.io.images import atomic_write_bytes
from patchsim.io.interrupts import resume_training, stop_on_interrupt, write_checkpoint
from patchsim.io.outputs import check_output_file
from patchsim.records import json_bytes
from patchsim.device import deterministic, resolve_device

log = logging.getLogger(__name__)

RECIPE = dict(steps=3000, batch=16, canvas=384, lr=2e-3, weight_decay=1e-4, real_fraction=0.4)


@dataclass(frozen=True)
class Family:
    """How a shipped detector family trains: ``targets(boxes, labels, num_classes, (H, W))`` -> a dict of
    tensors for a batch (boxes ``(K, 4)`` xyxy pixels per image), ``loss(detector, x, targets)`` ->
    (loss, parts), and the ``architecture`` its card states."""

    targets: Callable[..., dict]
    loss: Callable[..., tuple]
    architecture: str
    inference: str


def _centernet_targets(boxes, labels, num_classes: int, hw: tuple[int, int]) -> dict:
    return encode_targets(boxes, labels, num_classes, (hw[0] // STRIDE, hw[1] // STRIDE))


def _centernet_loss(det, x: torch.Tensor, t: dict) -> tuple:
    return centernet_loss(*det.net(x), t)


def _yolo_targets(boxes, labels, num_classes: int, hw: tuple[int, int]) -> dict:
    return yolo_targets(boxes, labels, hw)


def _yolo_loss(det, x: torch.Tensor, t: dict) -> tuple:
    return yolo_loss(det.net.heads(x), t)


FAMILIES = {
    "sign-det": Family(_centernet_targets, _centernet_loss,
                       "CenterNet-style one-stage detector: conv backbone (strides 2-32), FPN merged to stride 4, "
                       "heat-map / size / offset heads",
                       "letterboxed into 640 x 640 (sides rounded up to multiples of 32), at full and half scale; "
                       "peaks, NMS 0.5, detections inside a larger one of their class dropped"),
    "sign-yolo": Family(_yolo_targets, _yolo_loss,
                        "YOLO-style anchor-free detector: CSP (C2f) backbone with SPPF, PAN neck, decoupled box / class "
                        "heads at strides 4-32, ultralytics (B, 4 + nc, N) output; focal + GIoU loss",
                        "letterboxed into 640 x 640 (sides rounded up to multiples of 32); NMS 0.5, detections inside "
                        "a larger one of their class dropped"),
}


def workers_ignore_stop_signals(_worker_id: int) -> None:
    """A data worker ignores Ctrl-C and SIGTERM: they reach the whole process group (a terminal's Ctrl-C, a
    scheduler's or ``pkill``'s SIGTERM), and a worker killed by one ended the run before the main process
    could save its checkpoint. The main process stops the run at its next step and shuts the workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Batches(torch.utils.data.Dataset):
    """Batch ``i`` of synthesised frames with its family's targets."""

    def __init__(self, synth, seed: int, batch: int, family: Family):
        self.synth, self.seed, self.batch, self.family = synth, seed, batch, family

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, int(i)])
        frames = [self.synth.frame(rng) for _ in range(self.batch)]
        x = torch.from_numpy(np.stack([f[0] for f in frames])).permute(0, 3, 1, 2).float() / 255
        # signs mostly outside the frame (NaN boxes) get no target: they count as background
        boxes = [f[1][np.isfinite(f[1]).all(1)] for f in frames]
        labels = [f[2][np.isfinite(f[1]).all(1)] for f in frames]
        return x, self.family.targets(boxes, labels, len(self.synth.classes), (self.synth.size, self.synth.size))


def data_dirs(data_dir: str | Path | None) -> tuple[Path, Path, Path]:
    """(gtsrb, street, rp2) folders under ``data_dir`` (default ``../shared/data``)."""
    from patchsim.models.train import default_data_dir

    root = Path(data_dir) if data_dir else default_data_dir().parent
    dirs = root / "gtsrb", root / "street", root / "rp2"
    for d in dirs[:2]:
        if not d.is_dir():
            raise PatchsimError(f"--data {root}: no {d.name}/ folder there (the shared data folder holds gtsrb/ and street/)")
    return dirs


def train_detector(out: str | Path, seed: int = 0, steps: int | None = None, data_dir: str | Path | None = None,
                   resume: bool = False, device: str | None = "auto", workers: int = 1,
                   force: bool = False, model: str = "sign-det") -> dict:
    """Train the shipped detector family ``model`` (a key of :data:`FAMILIES`) and write its weights
    (safetensors) and model card (JSON beside it, with the street-photo scores). Returns the card."""
    from patchsim.models.detectors import build_shipped
    from patchsim.models.detectors.synth import FrameSynth, SignTextures, real_backgrounds
    from patchsim.models.train import checkpoint_path

    if model not in FAMILIES:
        raise PatchsimError(f"train-detector: model {model!r} is invalid: must be one of {', '.join(FAMILIES)}")
    family = FAMILIES[model]

    dev = resolve_device(device)
    out = check_output_file(out, sidecars=(Path(out).with_suffix(".json"), checkpoint_path(out)), force=force or resume)
    if resume and not checkpoint_path(out).is_file():  # said before any heavy work
        raise PatchsimError(f"--resume: no checkpoint at {checkpoint_path(out)}")
    cfg = dict(RECIPE)
    if steps is not None:
        cfg["steps"] = int(steps)
    gtsrb, street, rp2 = data_dirs(data_dir)
    textures = SignTextures.build(gtsrb, seed=seed, photo_stop=rp2 / "photos" / "uw17_stop_2484.jpg")
    synth = FrameSynth(textures, real_backgrounds(street), cfg["canvas"], cfg["real_fraction"])
    torch.manual_seed(seed)
    name, model = model, build_shipped(model).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["steps"], pct_start=0.05)
    run_id = {"model": name, "seed": seed, "steps": cfg["steps"]}
    ckpt = checkpoint_path(out)
    start, history, t0 = 0, [], time.time()
    if resume:
        state = resume_training(ckpt, run_id, model, opt, sched)
        start, history = state["step"], list(state["history"])
        t0 -= state["seconds"]
    loader = torch.utils.data.DataLoader(_Batches(synth, seed, cfg["batch"], family), batch_size=None, num_workers=workers,
                                         worker_init_fn=workers_ignore_stop_signals,
                                         sampler=range(start, cfg["steps"]), prefetch_factor=2 if workers else None,
                                         persistent_workers=False)

    def snapshot(step: int) -> dict:
        return {"run": run_id, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "history": history, "seconds": time.time() - t0}

    model.train()
    t_loop = time.time()
    with stop_on_interrupt() as stop, deterministic(dev) as conditions:
        bar = tqdm(loader, total=cfg["steps"] - start, desc=name, disable=None)
        for step, (x, t) in enumerate(bar, start=start):
            loss, parts = family.loss(model, x.to(dev), {k: v.to(dev) for k, v in t.items()})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if (step + 1) % 50 == 0:
                history.append({"step": step + 1, "loss": round(loss.item(), 4), **{k: round(v, 4) for k, v in parts.items()}})
                if bar.disable:  # no terminal for the bar (a background run, a log file): say where it is
                    log.info("%s: step %d of %d, loss %.3f, %.1f s/step", name, step + 1, cfg["steps"], loss.item(),
                             (time.time() - t_loop) / (step + 1 - start))
            if (step + 1) % 500 == 0:
                write_checkpoint(ckpt, snapshot(step + 1))
            if stop.requested:
                write_checkpoint(ckpt, snapshot(step + 1))
                raise Interrupted(f"{name} training stopped at step {step + 1} of {cfg['steps']}; checkpoint saved "
                                  f"to {ckpt}", resume=True)
    model.eval()
    card = {
        "model": name, "seed": seed, "date": datetime.date.today().isoformat(),
        "architecture": family.architecture, "parameters": int(sum(p.numel() for p in model.parameters())),
        "classes": model.classes,
        "data": "synthesised frames (patchsim.models.detectors.synth): catalogue faces, real GTSRB sign crops, the RP2 "
                "stop photo as a texture, procedural roadside backgrounds, and the attacker street photos "
                "street:praveen-train with their real stop boxes; never asadi or praveen test/valid",
        "recipe": cfg, "history": history, "train_seconds": round(time.time() - t0, 1), "torch": torch.__version__, "reproducible_on": conditions,
    }
    card.update(evaluation_card(model.cpu(), synth, street, seed), inference=family.inference)
    atomic_write_bytes(out, weights_bytes(model.net.state_dict(), model=name, seed=str(seed)))
    atomic_write_bytes(out.with_suffix(".json"), json_bytes(card))
    ckpt.unlink(missing_ok=True)
    return card


THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def evaluation_card(model, synth, street: Path, seed: int) -> dict:
    """The card's figures for trained ``model``: its score threshold (best stop F1 on synthetic
    validation frames, :func:`pick_threshold`) and its scores on the street photos it never trained on.
    Sets ``model.score_threshold``."""
    thr, synthetic = pick_threshold(model, synth, seed)
    model.score_threshold = thr
    street_scores = {name: score_street(model, street, name, thr) for name in ("asadi", "praveen")}
    return {"score_threshold": thr, "synthetic_validation": synthetic, "street": street_scores}


def pick_threshold(model, synth, seed: int, frames: int = 400) -> tuple[float, dict]:
    """The stop score threshold with the best F1 on ``frames`` synthetic validation frames (drawn from a
    stream no training batch uses; never real scoring photos). Returns it and the F1 per threshold."""
    from patchsim.models.detectors.street import match_stop

    rng = np.random.default_rng([seed, 1 << 40])
    stop = model.classes.index("stop")
    found, truth = [], []
    for _ in range(frames):
        img, boxes, labels = synth.frame(rng)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        b, sc, c = model.detect(x, score_threshold=min(THRESHOLDS))[0]
        found.append([(bb.numpy(), float(ss)) for bb, ss, cc in zip(b, sc, c) if int(cc) == stop])
        truth.append(boxes[(labels == stop) & np.isfinite(boxes).all(1)])
    total = sum(len(t) for t in truth)
    f1 = {}
    for thr in THRESHOLDS:
        tp = fp = 0
        for f, t in zip(found, truth):
            a, b_ = match_stop([d for d in f if d[1] >= thr], t)
            tp, fp = tp + a, fp + b_
        prec, rec = tp / max(1, tp + fp), tp / max(1, total)
        f1[f"{thr:.2f}"] = round(2 * prec * rec / max(1e-9, prec + rec), 4)
    best = max(THRESHOLDS, key=lambda t: f1[f"{t:.2f}"])
    return best, {"frames": frames, "stop_signs": int(total), "stop_f1_by_threshold": f1}


def score_street(model, street: Path, name: str, threshold: float) -> dict:
    """Stop recall and false stop detections per image on a scoring street set at the thresholds of
    :data:`THRESHOLDS` (``threshold`` is the model's own; see
    :func:`patchsim.models.detectors.street.score_stop_detection`)."""
    from patchsim.models.detectors.street import SCORING_SETS, score_stop_detection, street_images

    return score_stop_detection(model, street_images(street, name, SCORING_SETS[name]), sorted({*THRESHOLDS, threshold}))
