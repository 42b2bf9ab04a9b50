"""``patchsim attack``: an :class:`AttackRequest` (scene + model + goal) -> optimised sticker, its
print-ready outputs, the sim-to-real table, attack.json and report.html."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from patchsim.attack.config import AttackConfig
from patchsim.attack.eot import EOTAttack
from patchsim.attack.mask_search import search_mask
from patchsim.io.images import write_png
from patchsim.scene.types import StickerConfig
from patchsim.signs import draw_face_array
from patchsim.printing.export import export_attack, print_pixels
from patchsim.records import from_data
from patchsim.jobs.attack_record import AttackPhotos, AttackRecord, write_attack_record
from patchsim.jobs.attack_report import write_attack_report
from patchsim.evaluate.sim_to_real import SCORING_SETS, sheet_name
from patchsim.models import freeze
from patchsim.io.outputs import writes_folder
from patchsim.objectives.goals import Goal
from patchsim.printing.printer import printer_from_spec
from patchsim.scene import load_scene, scene_to_data
from patchsim.errors import PatchsimError
from patchsim.io.stickers import load_sticker

log = logging.getLogger(__name__)


PHOTO_SHEETS = tuple(sheet_name(s) for s in SCORING_SETS)


@dataclass(frozen=True)
class AttackRequest:
    """What ``patchsim attack`` is asked: the ``scene`` (file or packaged name); the ``model`` (shipped
    name, file or factory) with optional ``weights`` and ``labels``, ``detector`` marking a model file as a
    detector (shipped detectors are known by name) and the ``defence`` to attack it through
    (:func:`patchsim.defences.wrap`: an adaptive attack, scored through the defence everywhere); the
    ``target`` class (None: untargeted; for a detector the goal ``disappear``) and ``true_class`` (None:
    the scene's sign); the ``printer`` spec, print ``dpi`` and ``paper``; ``sim_to_real``: score the
    sticker four ways (:mod:`patchsim.evaluate.sim_to_real`); ``device``; ``settings``:
    :class:`~patchsim.attack.config.AttackConfig` fields (steps, seed, mode, batch, loss, weights of the
    regularisers, ...; None values are left to the config's defaults), checked by the config."""

    scene: str
    model: str = "gtsrb-cnn"
    weights: str | None = None
    labels: str | None = None
    detector: bool = False
    defence: str | None = None
    target: str | int | None = "speed_limit_80"
    true_class: str | int | None = None
    printer: str | None = None
    dpi: float = 300.0
    paper: str = "A4"
    sim_to_real: bool = True
    device: str | None = "auto"
    settings: dict[str, Any] = field(default_factory=dict)


@writes_folder("attack", ("sticker.png", "sticker_as_printed.png", "sign.png", "sticker.pdf", "attack.json",
                          "curves.png", "checkpoint.pt", "print.pdf", "report.html", "cut_*.svg", "mask.png", "mask_outline.png") + PHOTO_SHEETS, resumable=True,
               inputs=lambda a: [a["req"].settings.get("init_sticker")])
def run_attack(req: AttackRequest, out: str | Path, resume: bool = False, force: bool = False,
               progress: bool = True) -> AttackRecord:
    """Run the EOT attack ``req`` and export it into ``out`` (``resume``: continue from its checkpoint;
    ``force``: replace an earlier run's outputs)."""
    t0 = time.time()
    if resume and not (Path(out) / "checkpoint.pt").is_file():  # said before loading or scoring anything
        raise PatchsimError(f"--resume: no checkpoint at {Path(out) / 'checkpoint.pt'}")
    scene = load_scene(req.scene)
    print_pixels(scene.sign.size_m, req.dpi)  # the export's size, said before any optimising
    model, weights, target, defence = req.model, req.weights, req.target, req.defence
    from patchsim.defences import load_defended

    net = freeze(load_defended(model, weights=weights, labels=req.labels, detector=req.detector, defence=defence))
    overrides = req.settings
    if overrides.get("goal") == "create":  # a board, not a sign: only the target class matters
        from patchsim.objectives.goals import creation_classes

        true_idx, target_idx = creation_classes(net.classes, target)
    else:
        goal = Goal.for_scene(scene, net.classes, target, req.true_class)
        true_idx, target_idx = goal.true_class, goal.target
    settings = {**{k: v for k, v in overrides.items() if v is not None}, "target": target_idx, "true_class": true_idx}
    if net.is_detector:
        scene = scene.for_detector()  # the scene's detector layout and distances; attack.json records them
        if settings.get("goal", "auto") == "auto":
            settings["goal"] = "disappear" if target_idx is None else "misclassify"
    cfg = from_data(AttackConfig, settings, "attack config")
    if cfg.far_weight and not net.is_detector:  # never silently ignored
        raise PatchsimError(f"--far-weight: {cfg.far_weight:g} applies to detector attacks; {model} is a classifier")
    if cfg.init_sticker is not None:  # a readable square image, said before any optimising
        try:
            load_sticker(cfg.init_sticker, 16)
        except PatchsimError as e:
            raise PatchsimError(f"--init-sticker: {e}") from None
    vinyl = cfg.style != "inkjet"
    if vinyl and req.printer not in (None, "vinyl"):
        raise PatchsimError(f"--printer: {req.printer} prints inkjet stickers; --style {cfg.style} is cut from vinyl "
                            "(its colours are the vinyl's own: leave --printer out)")
    pm = printer_from_spec("vinyl" if vinyl else req.printer)
    real = None
    if cfg.real_fraction > 0:
        from patchsim.realphoto.batches import prepare_real_photos

        real = prepare_real_photos(cfg.real_photos, net.input_size[0], scene.crop.margin, relight=cfg.real_relight)
    if cfg.mask != "scene":  # RP2's first stage: where the sticker goes, then the sticker inside it
        scene = auto_mask_scene(scene, net, cfg, pm, Path(out), req.device, resume, progress)
    attack = EOTAttack(scene, net, cfg, printer=pm, real=real, device=req.device)
    out = Path(out)
    clean_rate, _ = attack.score(None, attack.val_cond)
    kind = cfg.goal if cfg.goal != "auto" else ("targeted" if target_idx is not None else "untargeted")
    log.info("%s on %s: %s success of the clean sign on the validation set: %.3f", model, scene.name, kind, clean_rate)
    result = attack.run(checkpoint=out / "checkpoint.pt", resume=resume, progress=progress)
    table, preview = None, None
    if req.sim_to_real:
        from patchsim.printing.export import PREVIEW_PX, images_at
        from patchsim.attack.eot import held_out_success
        from patchsim.evaluate.sim_to_real import format_table
        from patchsim.evaluate.sim_to_real import sim_to_real as table_of

        # the sticker 2048 px across: finer than any photo of it; the same images are export's previews
        preview = images_at(scene, result.sticker, attack.clean.cpu(), cfg.mode, PREVIEW_PX, nearest=vinyl)
        out.mkdir(parents=True, exist_ok=True)
        goal = attack.det_goal if attack.detector else Goal(cfg.true_class, cfg.target)
        table = table_of(scene, net, goal, held_out_success(attack, result.sticker), preview[0], pm, sheets_dir=out)
        log.info("sim-to-real:\n%s", format_table(table))
    target_name = net.classes[target_idx] if target_idx is not None else None
    what = cfg.goal if cfg.goal != "auto" else (target_name or "untargeted")
    if cfg.goal == "misclassify":
        what = f"{net.classes[true_idx]} read as {target_name}"
    info = export_attack(out, scene, result, attack.clean.cpu(), cfg.mode, dpi=req.dpi, paper=req.paper, printer=pm,
                         preview=preview, title=f"{net.name if defence else model} -> {what}",
                         vinyl=attack.params.vinyl)
    record = AttackRecord(
        scene=str(scene.path), scene_resolved=scene_to_data(scene), model=model, weights=weights,
        model_sha256=attack.model_sha256, classes=tuple(net.classes), true_class=true_idx,
        true_name=net.classes[true_idx], target=target_idx, target_name=target_name, config=cfg, seed=cfg.seed,
        steps_run=result.steps, stopped_early=result.stopped_early, stop_reason=result.stop_reason,
        wall_s_optimise=round(result.wall_s, 2),
        validation_size=cfg.val_size, validation_clean_success=clean_rate,
        validation_curve=tuple(result.history), final_success=result.final_success,
        printer_profile=pm.profile(),
        photos=AttackPhotos(cfg.real_photos if cfg.real_fraction > 0 else None, len(real) if real is not None else 0),
        sim_to_real=table, export=info,
        wall_s_total=round(time.time() - t0, 2), defence=defence)
    write_attack_record(out / "attack.json", record)
    write_attack_report(out, record)
    log.info("final validation success %.3f after %d steps (%.0f s)", result.final_success, result.steps,
             record.wall_s_total)
    return record


def auto_mask_scene(scene, net, cfg: AttackConfig, pm, out: Path, device, resume: bool, progress: bool):
    """``scene`` with its sticker layout replaced by the mask ``--mask auto`` finds (written to
    ``out/mask.png``, white = sticker, with ``mask_outline.png``: the face with the mask's outline); a
    resumed run reuses the mask it found before."""
    path = out / "mask.png"
    if not (resume and path.is_file()):  # a resumed run's scene points at the mask it found before
        found = search_mask(scene, net, cfg, printer=pm, device=device, progress=progress)
        mask = cv2.resize(found.astype(np.uint8), (1024, 1024), interpolation=cv2.INTER_NEAREST) > 0
        out.mkdir(parents=True, exist_ok=True)
        write_png(path, np.repeat(mask[..., None].astype(np.uint8) * 255, 3, 2))
        face = draw_face_array(scene.sign.class_name, 1024)[..., :3].copy()
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(face, contours, -1, (40, 220, 60), 6)
        write_png(out / "mask_outline.png", face)
        log.info("mask search: %d pieces, %.1f%% of the bounding square", len(contours), 100 * mask.mean())
    return dataclasses.replace(scene, sticker=StickerConfig((), str(path.resolve())))
