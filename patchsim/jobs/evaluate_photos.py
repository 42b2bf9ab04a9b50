"""``patchsim evaluate-photos``: a sticker on real photos of signs, placed by homography and relit with
each sign's own light (REAP-style), scored with the simulator's detector crop."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2

from patchsim.jobs.attack_record import target_of_sticker
from patchsim.errors import PatchsimError
from patchsim.evaluate.records import write_metrics
from patchsim.evaluate import report
from patchsim.defences import load_defended
from patchsim.models import freeze
from patchsim.evaluate.photos import RUNS, PhotoScorer, band_text, summarise
from patchsim.realphoto.relight_choice import band_models
from patchsim.evaluate.photo_sheets import write_contact_sheet
from patchsim.realphoto.sources import photo_source
from patchsim.io.outputs import writes_folder
from patchsim.objectives.goals import Goal
from patchsim.printing.printer import printer_from_spec
from patchsim.io.stickers import load_sticker_rgba, printed_rgba
from patchsim.device import resolve_device

log = logging.getLogger(__name__)


@writes_folder("evaluate-photos", ("metrics.json", "photos.csv", "contact_sheet.png", "report.html", "twins.csv",
                                   "twins_sheet.png", "twins_by_size.png"))
def run_evaluate_photos(source: str, sticker: str | None, model_name: str, out: str | Path, target=None,
                        weights: str | None = None, labels: str | None = None, sign: str = "stop",
                        printer: str | None = "inkjet", relight: str = "validated", annotations: str | None = None,
                        margin: float = 0.1, progress: bool = True, force: bool = False,
                        device: str | None = "auto", defence: str | None = None, twins: bool = False,
                        twin_hfov: float | None = None, twin_scene: str = "stop_driveby", untargeted: bool = False) -> dict:
    """Score ``sticker`` (None: clean photos only) on the photos of ``source`` (see
    :func:`patchsim.realphoto.sources.photo_source`); writes metrics.json, photos.csv, contact_sheet.png and
    report.html into ``out``. ``twins``: also render every sign's condition-matched twin
    (:mod:`patchsim.realphoto.twins`; camera field of view ``twin_hfov`` deg, None: EXIF else 60; the
    sign, camera and crop of ``twin_scene``) and write twins.csv, twins_sheet.png, twins_by_size.png
    and the agreement into metrics.json. ``untargeted``: fooled means any class but ``sign``, even when
    the sticker's attack folder names a target. Returns the metrics.json record."""
    t0 = time.time()
    if not 0 <= margin <= 1:
        raise PatchsimError(f"--margin {margin}: must be in [0, 1] (fraction of the sign's size per side)")
    default_model, models = band_models(relight)
    if twin_hfov is not None and not 1 <= twin_hfov <= 170:
        raise PatchsimError(f"--twin-hfov {twin_hfov}: must be in [1, 170] degrees")
    scene = None
    if twins:
        from patchsim.scene import load_scene

        scene = load_scene(twin_scene)
        if scene.sign.class_name != sign:
            raise PatchsimError(f"--twin-scene {twin_scene}: its sign is {scene.sign.class_name}, the photos' is {sign}")
    pm = printer_from_spec(printer)
    signs = photo_source(source, annotations)
    st = load_sticker_rgba(sticker) if sticker else None
    if st is not None and st.shape[0] > 2048:  # a 300-DPI print image is far finer than any photo of it
        st = cv2.resize(st, (2048, 2048), interpolation=cv2.INTER_AREA)

    model = freeze(load_defended(model_name, weights=weights, labels=labels, defence=defence)).to(resolve_device(device))
    if untargeted and target is not None:
        raise PatchsimError("--target and --untargeted exclude each other")
    if target is None and sticker and not untargeted:  # the attack's target, when the sticker lies in an attack folder and the model has it
        target = target_of_sticker(sticker, model.classes)
    goal = Goal.from_classes(model.classes, sign, target, "--sign")
    printed = printed_rgba(st, pm) if st is not None else None
    scorer = PhotoScorer(st, printed, model, goal, sign, relight, margin)
    out = Path(out)
    records, skipped, crops = scorer.score(signs, progress)
    if not records:
        raise PatchsimError(f"no sign could be scored in {source}: {skipped[0][1] if skipped else 'no photos'}")
    runs = RUNS if sticker else ("clean",)
    summary = summarise(records, sign, runs)
    record = {"source": source, "role": signs[0].role, "sticker": sticker, "model": model_name, "defence": defence, "sign": sign,
              "target": model.classes[goal.target] if goal.target is not None else None, "printer": pm.name,
              "relight": default_model, "relight_band_models": list(models), "margin": margin, "metrics": summary,
              "located_by": {k: sum(r.located_by == k for r in records) for k in sorted({r.located_by for r in records})},
              "skipped": [{"name": n, "reason": why} for n, why in skipped], "wall_s": round(time.time() - t0, 2)}
    images = ["contact_sheet.png"]
    if twins:
        import dataclasses as dc

        from patchsim.evaluate.twins import plot_twins, score_twins, summarise_twins, twin_sheet

        crop = dc.replace(scene.crop, size=model.input_size[0], margin=margin)
        trs, tcrops = score_twins(signs, records, scorer, dc.replace(scene, crop=crop), printed, twin_hfov)
        record["twins"] = summarise_twins(trs)
        report.write_frames_csv(out / "twins.csv", [t.to_row() for t in trs])
        plot_twins(out / "twins_by_size.png", record["twins"], f"{source}: twins vs photos by sign size")
        from patchsim.evaluate.twins import twin_light_model

        lm = twin_light_model(scorer)
        relit_key = "relit" if lm == scorer.relight else f"relit:{lm}"
        twin_sheet(out / "twins_sheet.png", trs, crops["view"], crops[relit_key if st is not None else "clean"],
                   tcrops["attacked" if st is not None else "clean"])
        images += ["twins_sheet.png", "twins_by_size.png"]
    write_metrics(out / "metrics.json", record)
    report.write_frames_csv(out / "photos.csv", [r.to_row() for r in records])
    write_contact_sheet(out / "contact_sheet.png", records, crops, sticker is not None)
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    body = [("signs scored", [str(summary["signs"])] * len(runs)),
            ("fooled (all signs)", [f"{summary[f'{r}_fooled']} = {pct(summary[f'{r}_success'])}" for r in runs]),
            (f"fooled among the {summary['clean_correct']} read as {sign} clean (REAP's ASR)",
             [pct(summary[f"{r}_asr"]) for r in runs])]
    if "relit_worst_success" in summary:
        band = ["", "", f"{band_text(summary)}; worst {summary['relit_worst_model']}, best {summary['relit_best_model']}"]
        body += [("relit band: default (worst-best over validated models)", band[:len(runs) - 1] + band[-1:]),
                 ("worst plausible case (headline)", ["", "", f"{summary['relit_worst_fooled']} = "
                                                              f"{pct(summary['relit_worst_success'])}"][-len(runs):])]
    note = f"{source} ({record['role']} photos): {len(records)} signs scored, {len(skipped)} skipped. "
    note += (f"raw: sticker.png pasted as is; relit: printed with the {pm.name} printer, relit ({default_model}; band over "
             f"{', '.join(models)}) and blurred like each photo. Target: {record['target'] or 'untargeted'}."
             if sticker else "No sticker: clean photos only.")
    if twins:
        tw = record["twins"]
        body += [("twins agree with the photos (clean / attacked)",
                  ["", "", f"{pct(tw['agreement_clean'])} / {pct(tw.get('agreement_attacked'))} of {tw['signs']} signs"][-len(runs):])]
    report.write_html(out / "report.html", f"patchsim evaluate-photos: {source}, {model_name}", images,
                      note=note, table=(list(runs), body), rows_file="photos.csv")
    log.info("%s: %d signs; fooled %s", source, len(records),
             ", ".join(f"{r} {summary[f'{r}_fooled']}" for r in runs))
    return record
