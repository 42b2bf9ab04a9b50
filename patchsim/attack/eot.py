"""Expectation-over-transformation sticker optimiser (RP2 / EOT).

Each step draws a batch of conditions from the scene's EOT ranges with the shared sampler, renders
classifier crops of the sign with the current sticker, classifies them and backpropagates the objective
plus regularisers to the sticker parameters (Adam, cosine schedule). A fixed validation set, drawn with
a seed the optimiser never uses, is scored every ``val_every`` steps; checkpoints allow ``resume``."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from patchsim.objectives import losses
from patchsim.attack.config import AttackConfig
from patchsim.attack.parametrise import StickerParametrisation
from patchsim.signs import cut_pixels
from patchsim.errors import Interrupted, PatchsimError
from patchsim.models.target import check_target
from patchsim.objectives.goals import Goal
from patchsim.records import from_data, to_data
from patchsim.render import Conditions, Renderer, draw_visible
from patchsim.io.interrupts import read_checkpoint, stop_on_interrupt, write_checkpoint
from patchsim.scene import Scene, scene_fingerprint
from patchsim.device import resolve_device

log = logging.getLogger(__name__)

LEGEND_WHITE = 0.75  # face pixels whose every channel is at least this are the white legend and border
VAL_SEED_OFFSET = 1_000_003  # validation conditions: seed + this (never the optimiser's stream)
Objective = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ValidationPoint:
    """The optimiser's validation at ``step``: targeted (or untargeted) ``success`` (fraction in [0, 1])
    on the validation conditions, training ``loss``, ``wall_s`` seconds since the start."""

    step: int
    success: float
    loss: float
    wall_s: float


@dataclass
class AttackResult:
    """sticker ``(1, 3, N, N)`` sRGB in [0, 1] (the full face colours in poster mode), validation
    ``history`` (:class:`ValidationPoint` in step order), ``final_success`` on the validation set, ``steps`` run,
    ``wall_s`` seconds, ``stopped_early`` and ``stop_reason`` (see :func:`stop_reason`; "budget" when
    all ``steps`` ran)."""

    sticker: torch.Tensor
    history: list[ValidationPoint] = field(default_factory=list)
    final_success: float = 0.0
    steps: int = 0
    wall_s: float = 0.0
    stopped_early: bool = False
    stop_reason: str = "budget"


def stop_reason(history: list[ValidationPoint], cfg: AttackConfig) -> str | None:
    """Why the optimiser should stop after its latest validation in ``history``,
    or None to go on: "success" when it reached ``cfg.early_stop`` (< 1); "plateau" when the best
    validation so far beats the best of ``cfg.plateau_patience`` steps ago by no more than
    ``cfg.plateau_delta`` (patience 0: never). A slow, steady rise (a detector attack gains a point
    every 25 steps for hundreds of steps) is progress; only a flat window stops the run."""
    if not history:
        return None
    if cfg.early_stop < 1.0 and history[-1].success >= cfg.early_stop:
        return "success"
    if cfg.plateau_patience > 0:
        then = [h.success for h in history if h.step <= history[-1].step - cfg.plateau_patience]
        if then and max(h.success for h in history) - max(then) <= cfg.plateau_delta:
            return "plateau"
    return None


def default_objective(cfg: AttackConfig) -> Objective:
    """The attack loss on logits ``(B, K)`` chosen by ``cfg.loss`` and ``cfg.target``."""
    if cfg.target is not None:
        if cfg.loss == "ce":
            return lambda z: losses.targeted_ce(z, cfg.target)
        return lambda z: losses.targeted_margin(z, cfg.target, cfg.kappa)
    if cfg.loss == "ce":
        return lambda z: losses.untargeted_ce(z, cfg.true_class)
    return lambda z: losses.untargeted_margin(z, cfg.true_class, cfg.kappa)


def success(logits: torch.Tensor, cfg: AttackConfig) -> torch.Tensor:
    """Per-condition success ``(B,)`` bool for logits ``(B, K)``: the shared :class:`Goal` of the config."""
    return Goal(cfg.true_class, cfg.target).fooled(logits.argmax(1))


HELD_OUT_SEED = 424242  # EOT conditions no optimiser run draws (validation uses seed + 1_000_003)


class EOTAttack:
    """Optimises a sticker for ``model`` (differentiable, used as given) on ``scene``. The renderer is
    built here from the scene, ``cfg.face_resolution`` and ``printer`` (a :class:`PrinterModel`; None:
    identity), so the sticker's resolution is held by the config alone. ``objective`` maps logits to a
    loss (default from the config); ``real``: prepared attacker photos when ``cfg.real_fraction > 0``.
    ``device`` (see :func:`patchsim.device.resolve_device`): where the renderer and the model run (the
    model is moved there); conditions and the starting sticker are drawn on the CPU, so they are the same
    on every device."""

    def __init__(self, scene: Scene, model: torch.nn.Module, cfg: AttackConfig, printer=None,
                 objective: Objective | None = None, real=None, device: str | torch.device | None = "auto"):
        self.device = resolve_device(device)
        renderer = Renderer.from_scene(scene, face_resolution=cfg.face_resolution, printer=printer).to(self.device)
        h, w = model.input_size
        check_target(model)
        self.detector = model.is_detector
        if self.detector:
            self._setup_detector(model, cfg, renderer)
        elif h != w:
            raise PatchsimError(f"model input must be square for sign crops, got {h}x{w}")
        elif cfg.goal != "auto":
            raise PatchsimError(f"--goal {cfg.goal} applies to detectors; {getattr(model, 'name', 'this model')} is a "
                                "classifier (use --target / --untargeted)")
        self.scene, self.renderer, self.model, self.cfg = scene, renderer, model.to(self.device), cfg
        if cfg.real_fraction > 0 and real is None:
            raise PatchsimError("real_fraction > 0 needs the prepared real photos (attack.real_photos.prepare_real_photos)")
        self.real = real.to(self.device) if real is not None else None  # a RealPhotoBatch, or None
        from patchsim.models import fingerprint

        self.model_sha256 = fingerprint(model)
        self.scene_sha256 = scene_fingerprint(scene)
        self.n_real = int(round(cfg.batch * cfg.real_fraction)) if real is not None else 0
        self.objective = objective or default_objective(cfg)
        self.crop_size = h
        # NPS palette: a given file, else the colours the renderer's printer prints (its gamut), else
        # (identity printer) the shipped inkjet palette
        if cfg.palette is None and not renderer.printer.is_identity:
            self.palette = renderer.printer.palette()
        else:
            self.palette = losses.load_palette(cfg.palette)
        self.palette = self.palette.to(self.device)
        face = renderer.face[:, :3]
        self.clean = face
        if cfg.mode == "poster":
            self.mask = (renderer.face[:, 3:] > 0).float()
            if cfg.keep_legend:  # the white legend and border stay as printed; only the coloured field changes
                self.mask = self.mask * (renderer.face[:, :3].amin(1, keepdim=True) < LEGEND_WHITE).float()
            self.renderer = renderer = renderer.with_sticker_mask(self.mask)  # the whole face is the sticker
        elif cfg.style != "inkjet":  # a cut sticker covers whole pixels: render what is cut
            self.mask = cut_pixels(renderer.sticker_mask).float()
            self.renderer = renderer = renderer.with_sticker_mask(self.mask)
        else:
            self.mask = renderer.sticker_mask
        if float(self.mask.sum()) == 0:
            raise PatchsimError("the sticker mask is empty: nothing to optimise")
        self.params = StickerParametrisation.build(cfg, self.renderer.printer, self.clean, self.mask)
        self.val_cond = draw_visible(scene, renderer, cfg.val_size, torch.Generator().manual_seed(cfg.seed + VAL_SEED_OFFSET))

    def _setup_detector(self, model, cfg: AttackConfig, renderer: Renderer) -> None:
        """Detector targets: the goal, and the window of the frame the detector sees (its letterbox scale
        of the whole camera frame; fully convolutional detectors a ``cfg.window`` square, others their input)."""
        from patchsim.objectives.goals import DetectionGoal

        if cfg.goal == "auto":
            raise PatchsimError("a detector attack needs its goal resolved (disappear, misclassify or create)")
        if cfg.real_fraction > 0:
            raise PatchsimError("--real-fraction: attacker photos in the batch are supported for classifiers only")
        if not getattr(model, "differentiable", True):
            raise PatchsimError(f"detector {model.name} runs through onnxruntime and gives no gradients: export it as "
                                "TorchScript, or as ONNX with operators patchsim can differentiate")
        self.det_goal = DetectionGoal(cfg.goal, cfg.true_class, cfg.target, model.score_threshold)
        cam = renderer.camera
        self.window_scale = min(model.input_size[0] / cam.height, model.input_size[1] / cam.width)
        if model.fixed_size:
            self.window_hw = model.input_size
        else:
            side = -(-cfg.window // model.multiple) * model.multiple
            self.window_hw = (side, side)

    def windows(self, cond: Conditions, sticker: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Detector views ``(B, 3, h, w)`` of ``cond`` and the sign's box in them ``(B, 4)`` xyxy (window
        pixels, edges at integers)."""
        out = self.renderer.render_windows(cond.to(self.device), sticker, self.window_hw, self.window_scale)
        face = (out.corners - out.boxes[:, None, :2]) * self.window_scale
        return out.images, torch.cat([face.min(1).values, face.max(1).values], -1)

    # ---- parameterisation (patchsim.attack.parametrise) ----------------------------------------------------
    def init_params(self, g: torch.Generator) -> torch.Tensor:
        """Starting parameters (see :meth:`StickerParametrisation.init`)."""
        return self.params.init(g, self.device)

    def sticker_from_params(self, w: torch.Tensor) -> torch.Tensor:
        """Sticker colours ``(1, 3, N, N)`` in [0, 1] from the parameters (see
        :meth:`StickerParametrisation.colours`)."""
        return self.params.colours(w)

    def _model(self, crops: torch.Tensor, optimise: bool = False) -> torch.Tensor:
        """Logits ``(B, K)`` float32 of ``crops``; with ``cfg.amp`` the model runs under autocast (bfloat16 on
        the CPU, float16 on CUDA), the crops and the returned logits stay float32. ``optimise``: the path the
        loss differentiates, a defence's ``attack_forward`` (BPDA, EOT over its masks) where it has one."""
        net = self.model.attack_forward if optimise else self.model
        if not self.cfg.amp:
            return net(crops)
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        with torch.autocast(self.device.type, dtype=dtype):
            out = net(crops)
        return out if self.detector else out.float()

    # ---- evaluation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, sticker: torch.Tensor | None, cond: Conditions, chunk: int = 128) -> tuple[float, torch.Tensor]:
        """Success rate on ``cond`` and the per-condition probabilities ``(B, K)``."""
        if self.detector:
            fooled = []
            for i in range(0, len(cond), 32):
                images, sign_boxes = self.windows(cond[i:i + 32], sticker)
                fooled.append(self.det_goal.fooled(self.model.detect(images), sign_boxes.cpu()))
            f = torch.cat(fooled).float()
            return float(f.mean()), f[:, None]
        probs = []
        for i in range(0, len(cond), chunk):
            crops = self.renderer.render_crops(cond[i:i + chunk].to(self.device), sticker, size=self.crop_size).images
            probs.append(self._model(crops).softmax(1))
        p = torch.cat(probs)
        return float(success(p, self.cfg).float().mean()), p

    def loss(self, w: torch.Tensor, cond: Conditions, real_idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective plus regularisers on the crops of ``cond`` (rendered) and of the attacker photos
        ``real_idx`` (the printed sticker stuck on real signs); returns (loss, logits)."""
        sticker = self.sticker_from_params(w)
        cfg = self.cfg
        if self.detector:
            images, sign_boxes = self.windows(cond, sticker)
            dense = self._model(images)
            logits = dense.scores.float()
            near = losses.near_sign(dense.boxes, sign_boxes)
            weights = losses.distance_weights(cond.distance_m, cfg.far_weight) if cfg.far_weight else None
            total = losses.detector_loss(cfg.goal, logits, near, cfg.true_class, cfg.target,
                                         self.det_goal.score_threshold, weights)
        else:
            crops = self.renderer.render_crops(cond.to(self.device), sticker, size=self.crop_size).images
            if real_idx is not None and len(real_idx):
                from patchsim.realphoto.batches import composite_real

                crops = torch.cat([crops, composite_real(self.real, real_idx, self.renderer.printer(sticker), self.mask)])
            logits = self._model(crops, optimise=True)
            total = self.objective(logits)
        if cfg.nps_weight and self.params.palette is None:  # vinyl colours are the material's: nothing to map
            total = total + cfg.nps_weight * losses.nps_loss(sticker, self.palette, self.mask)
        if cfg.tv_weight:
            total = total + cfg.tv_weight * losses.tv_loss(sticker, self.mask)
        if cfg.l1_weight:
            total = total + cfg.l1_weight * losses.l1_loss(sticker, self.clean, self.mask)
        if cfg.l2_weight:
            total = total + cfg.l2_weight * losses.l2_loss(sticker, self.clean, self.mask)
        return total, logits

    # ---- the loop -----------------------------------------------------------------------------------------
    def run(self, checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
            stop_after: int | None = None) -> AttackResult:
        """Optimise. With ``checkpoint`` a checkpoint is written every ``checkpoint_every`` steps; with
        ``resume`` the run continues from it. ``stop_after`` ends the run after that many steps in this
        call (for tests of interrupted runs)."""
        cfg = self.cfg
        g = torch.Generator().manual_seed(cfg.seed)
        w = self.init_params(g)
        opt = torch.optim.Adam([w], lr=cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: cfg.lr_floor + (1 - cfg.lr_floor) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
        history: list[ValidationPoint] = []
        start, wall0 = 0, 0.0
        if resume:
            if checkpoint is None or not Path(checkpoint).is_file():
                raise PatchsimError(f"--resume: no checkpoint at {checkpoint}")
            start, wall0, history = self._load_checkpoint(checkpoint, w, opt, sched, g)
            log.info("resumed from %s at step %d", checkpoint, start)
        t0 = time.time() - wall0
        reason = stop_reason(history, cfg) if start < cfg.steps else None  # a resumed run may be done already
        bar = tqdm(range(start, cfg.steps), desc="attack", initial=start, total=cfg.steps, disable=not progress or None)
        done = start
        with stop_on_interrupt() as stop:
            for step in bar if reason is None else ():
                done, reason = self._step(step, g, w, opt, sched, history, t0, bar, checkpoint)
                if reason:
                    break
                if stop_after is not None and done - start >= stop_after:
                    break
                if stop.requested:  # Ctrl-C: the step is complete, save it and say how to go on
                    if checkpoint is None:
                        raise Interrupted(f"attack stopped at step {done} of {cfg.steps} (no checkpoint file)")
                    self._save_checkpoint(checkpoint, done, time.time() - t0, history, w, opt, sched, g)
                    raise Interrupted(f"attack stopped at step {done} of {cfg.steps}; checkpoint saved to {checkpoint}",
                                      resume=True)
        final = history[-1].success if history else self.score(self.sticker_from_params(w.detach()), self.val_cond)[0]
        if reason:
            log.info("stopped at step %d of %d: %s", done, cfg.steps,
                     "validation success reached early_stop" if reason == "success" else
                     f"no gain above {cfg.plateau_delta:g} for {cfg.plateau_patience} steps")
        return AttackResult(self.sticker_from_params(w.detach()).detach().cpu(), history, final, done,
                            time.time() - t0, reason is not None, reason or "budget")

    def _step(self, step: int, g, w, opt, sched, history: list[ValidationPoint], t0: float, bar, checkpoint) -> tuple[int, str | None]:
        """One optimiser step, then validation and checkpoint when due; returns (steps done, the reason to
        stop early or None)."""
        cfg = self.cfg
        cond = draw_visible(self.scene, self.renderer, cfg.batch - self.n_real, g)
        real_idx = torch.randint(len(self.real), (self.n_real,), generator=g).to(self.device) if self.n_real else None
        loss, logits = self.loss(w, cond, real_idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        done, reason = step + 1, None
        if done % cfg.val_every == 0 or done == cfg.steps:
            rate, _ = self.score(self.sticker_from_params(w.detach()), self.val_cond)
            history.append(ValidationPoint(done, rate, loss.item(), round(time.time() - t0, 2)))
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{rate:.3f}")
            # no terminal for the bar (a background run, a log file): the log says where the run is
            (log.info if bar.disable else log.debug)("step %d of %d: loss %.4f, validation success %.4f", done,
                                                     cfg.steps, loss.item(), rate)
            reason = stop_reason(history, cfg) if done < cfg.steps else None
        if checkpoint is not None and (done % cfg.checkpoint_every == 0 or reason or done == cfg.steps):
            self._save_checkpoint(checkpoint, done, time.time() - t0, history, w, opt, sched, g)
        return done, reason

    def _save_checkpoint(self, path, step, wall, history, w, opt, sched, g) -> None:
        state = {"step": step, "wall_s": wall, "history": to_data(history), "params": w.detach().cpu().clone(),
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": g.get_state(),
                 "config": to_data(self.cfg), "model_sha256": self.model_sha256, "scene_sha256": self.scene_sha256}
        write_checkpoint(path, state)

    def _load_checkpoint(self, path, w, opt, sched, g):
        state = read_checkpoint(path)
        saved = dict(state.get("config", {}))
        mine = to_data(self.cfg)
        free = ("steps", "checkpoint_every", "early_stop", "plateau_patience", "plateau_delta")  # may change on resume
        differ = [k for k in mine if k not in free and saved.get(k, to_data(AttackConfig()).get(k)) != mine[k]]
        if differ:
            raise PatchsimError(f"checkpoint {path} was made with different settings: {differ}")
        if "scene_sha256" not in state:
            raise PatchsimError(f"checkpoint {path} comes from an older patchsim (no scene fingerprint to check); "
                                "start a new --out")
        if state.get("scene_sha256") != self.scene_sha256:
            raise PatchsimError(f"checkpoint {path} was made on another scene (its scene fingerprint differs); "
                                "resume with the same scene, or start a new --out")
        if state.get("model_sha256") != self.model_sha256:
            raise PatchsimError(f"checkpoint {path} was made with another model (weights fingerprint differs); "
                                "resume with the same model and weights, or start a new --out")
        params, step = state.get("params"), state.get("step")
        if not isinstance(params, torch.Tensor) or tuple(params.shape) != tuple(w.shape):
            raise PatchsimError(f"checkpoint {path}: its sticker parameters are "
                                f"{tuple(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__}, "
                                f"this attack's are {tuple(w.shape)}; start a new --out")
        if not torch.isfinite(params).all():
            raise PatchsimError(f"checkpoint {path}: its sticker parameters hold NaN or infinite values; start a new --out")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise PatchsimError(f"checkpoint {path}: step {step!r} is invalid; must be a non-negative integer")
        with torch.no_grad():
            w.copy_(params)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        g.set_state(state["generator"])
        return (int(state["step"]), float(state["wall_s"]),
                [from_data(ValidationPoint, h, f"{path}: history") for h in state["history"]])


@torch.no_grad()
def held_out_success(attack: EOTAttack, sticker: torch.Tensor, n: int = 512, seed: int = HELD_OUT_SEED) -> float:
    """Success (fraction in [0, 1]) of ``sticker`` ``(1, 3, N, N)`` on ``n`` EOT conditions drawn with
    ``seed`` (none of the optimiser's), rendered by the attack's own renderer."""
    cond = draw_visible(attack.scene, attack.renderer, n, torch.Generator().manual_seed(seed))
    return attack.score(sticker, cond)[0]
