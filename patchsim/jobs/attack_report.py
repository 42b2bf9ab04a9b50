"""report.html of an attack folder: what a user reads first. The sticker on the sign, the optimiser's
curves, and the sim-to-real table: held-out renders, the independent drive-by and each scoring photo
set raw and relit, the relit figure as its band over the validated relighting models (worst / default
/ best; the worst plausible case is the headline), with each set's contact sheet."""

from __future__ import annotations

from pathlib import Path

from patchsim.jobs.attack_record import AttackRecord
from patchsim.evaluate.sim_to_real import sheet_name
from patchsim.evaluate.report import write_html


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def write_attack_report(out: Path, record: AttackRecord) -> Path:
    """Write ``out``/report.html for the attack ``record`` whose files lie in ``out``; returns its path."""
    t = record.sim_to_real
    body = [("validation success (optimiser's renders)", [_pct(record.final_success)])]
    images = [f for f in ("sign.png", "curves.png") if (out / f).exists()]
    note = (f"{record.model} on {Path(record.scene).name}: {record.true_name} read as "
            f"{record.target_name or 'anything else'}; {record.steps_run} steps.")
    if t is not None:
        body += [("held-out renders (512 EOT conditions of an unused seed)", [_pct(t.held_out_renders)]),
                 (f"{t.independent_protocol or 'drive-by'} (independent simulator, printed sticker)",
                  [_pct(t.independent_simulator)])]
        for src, r in t.photos.items():
            if r.missing is not None:
                body.append((f"{src}: not scored", [r.missing]))
                continue
            body.append((f"{src} ({r.signs} signs): raw paste", [_pct(r.raw)]))
            if r.relit_worst is not None:
                body.append((f"{src}: relit, worst plausible case (headline) / default / best",
                             [f"{_pct(r.relit_worst)} ({r.relit_worst_model}) / {_pct(r.relit)} / {_pct(r.relit_best)}"
                              f" over {', '.join(r.relit_models)}"]))
            else:
                body.append((f"{src}: relit", [_pct(r.relit)]))
            if (out / sheet_name(src)).exists():
                images.append(sheet_name(src))
        note += " " + t.note
    path = out / "report.html"
    write_html(path, f"patchsim attack: {record.model} -> {record.target_name or 'untargeted'}", images, note=note,
               table=(["figure"], body), rows_file=None, metrics_file="attack.json")
    return path
