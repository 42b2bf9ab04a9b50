"""``patchsim evaluate-photos``: a sticker on real photos of signs, placed by homography and relit with
each sign's own light (REAP-style), scored with the simulator's detector crop."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from patchsim.attack.record import target_of_sticker
from patchsim.errors import PatchsimError
from patchsim.evaluate import report
from patchsim.imageio import write_png
from patchsim.defences import load_defended
from patchsim.models import freeze
from patchsim.photo.photo_score import RUNS, PhotoScorer, summarise
from patchsim.photo.relight import METHODS
from patchsim.photo.sources import photo_source
from patchsim.outputs import writes_folder
from patchsim.protocol import Goal
from patchsim.render.printer import printer_from_spec
from patchsim.sticker_io import load_sticker_rgba, printed_rgba

log = logging.getLogger(__name__)


@writes_folder("evaluate-photos", ("metrics.json", "photos.csv", "contact_sheet.png", "report.html"))
def run_evaluate_photos(source: str, sticker: str | None, model_name: str, out: str | Path, target=None,
                        weights: str | None = None, labels: str | None = None, sign: str = "stop",
                        printer: str | None = "inkjet", relight: str = "tone", annotations: str | None = None,
                        margin: float = 0.1, progress: bool = True, force: bool = False,
                        device: str | None = "auto", defence: str | None = None) -> dict:
    """Score ``sticker`` (None: clean photos only) on the photos of ``source`` (see
    :func:`patchsim.photo.sources.photo_source`); writes metrics.json, photos.csv, contact_sheet.png and
    report.html into ``out``. Returns the metrics.json record."""
    t0 = time.time()
    if not 0 <= margin <= 1:
        raise PatchsimError(f"--margin {margin}: must be in [0, 1] (fraction of the sign's size per side)")
    if relight not in METHODS:
        raise PatchsimError(f"--relight {relight!r} is unknown; allowed: {', '.join(METHODS)}")
    pm = printer_from_spec(printer)
    signs = photo_source(source, annotations)
    st = load_sticker_rgba(sticker) if sticker else None
    if st is not None and st.shape[0] > 2048:  # a 300-DPI print image is far finer than any photo of it
        st = cv2.resize(st, (2048, 2048), interpolation=cv2.INTER_AREA)
    from patchsim.device import resolve_device

    model = freeze(load_defended(model_name, weights=weights, labels=labels, defence=defence)).to(resolve_device(device))
    if target is None and sticker:  # the attack's target, when the sticker lies in an attack folder and the model has it
        target = target_of_sticker(sticker, model.classes)
    goal = Goal.from_classes(model.classes, sign, target, "--sign")
    scorer = PhotoScorer(st, printed_rgba(st, pm) if st is not None else None, model, goal, sign, relight, margin)
    out = Path(out)
    records, skipped, crops = scorer.score(signs, progress)
    if not records:
        raise PatchsimError(f"no sign could be scored in {source}: {skipped[0][1] if skipped else 'no photos'}")
    runs = RUNS if sticker else ("clean",)
    summary = summarise(records, sign, runs)
    record = {"source": source, "role": signs[0].role, "sticker": sticker, "model": model_name, "defence": defence, "sign": sign,
              "target": model.classes[goal.target] if goal.target is not None else None, "printer": pm.name,
              "relight": relight, "margin": margin, "metrics": summary,
              "located_by": {k: sum(r.located_by == k for r in records) for k in sorted({r.located_by for r in records})},
              "skipped": [{"name": n, "reason": why} for n, why in skipped], "wall_s": round(time.time() - t0, 2)}
    report.write_json(out / "metrics.json", record)
    report.write_frames_csv(out / "photos.csv", [r.to_dict() for r in records])
    write_contact_sheet(out / "contact_sheet.png", records, crops, sticker is not None)
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    body = [("signs scored", [str(summary["signs"])] * len(runs)),
            ("fooled (all signs)", [f"{summary[f'{r}_fooled']} = {pct(summary[f'{r}_success'])}" for r in runs]),
            (f"fooled among the {summary['clean_correct']} read as {sign} clean (REAP's ASR)",
             [pct(summary[f"{r}_asr"]) for r in runs])]
    note = f"{source} ({record['role']} photos): {len(records)} signs scored, {len(skipped)} skipped. "
    note += (f"raw: sticker.png pasted as is; relit: printed with the {pm.name} printer, relit ({relight}) and "
             f"blurred like each photo. Target: {record['target'] or 'untargeted'}." if sticker else "No sticker: clean photos only.")
    report.write_html(out / "report.html", f"patchsim evaluate-photos: {source}, {model_name}", ["contact_sheet.png"],
                      note=note, table=(list(runs), body), rows_file="photos.csv")
    log.info("%s: %d signs; fooled %s", source, len(records),
             ", ".join(f"{r} {summary[f'{r}_fooled']}" for r in runs))
    return record


def write_contact_sheet(path: Path, records, crops: dict, attacked: bool, limit: int = 48, cols: int = 4) -> None:
    """One tile per sign: the relit photo around the sign, then the three classifier crops (clean, raw,
    relit) with the model's reading, red when fooled."""
    tiles = []
    for i, r in list(enumerate(records))[:limit]:
        view = crops["view"][i]
        row = [view]
        runs = RUNS if attacked else ("clean",)
        for run in runs:
            c = cv2.resize(crops[run][i], (view.shape[0] // 2,) * 2, interpolation=cv2.INTER_NEAREST)
            bar = np.full((view.shape[0] // 2, c.shape[1], 3), 255, np.uint8)
            colour = (200, 30, 30) if getattr(r, f"{run}_fooled") else (20, 140, 40)
            cv2.putText(bar, run, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(bar, getattr(r, f"{run}_pred")[:13], (3, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
            cv2.putText(bar, f"{getattr(r, f'{run}_conf'):.2f}", (3, 52), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
            row.append(np.concatenate([c, bar], 0))
        tile = np.concatenate(row, 1)
        label = np.full((18, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{r.name[:30]} ({r.located_by})", (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.pad(np.concatenate([label, tile], 0), ((4, 4), (4, 4), (0, 0)), constant_values=255))
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    write_png(path, np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0))
