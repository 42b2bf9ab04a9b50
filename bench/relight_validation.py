"""Relighting models validated on real pixels they were not fitted on (see
patchsim/realphoto/relight_validation.py), and the choice that follows from it.

1. The physical model's prior: unregularised fits on the attacker photos' stop signs
   (street:praveen-train and RP2's uw17 photo) -> patchsim/data/relight_prior.json.
2. Every model on the attacker signs: fit on the red field, predict the white, and the reverse
   (CIEDE2000). The default is the model with the lowest held-out median; the models within 1.5x of it
   survive -> patchsim/data/relight_choice.json (what every relit figure
   reports its band over).
3. The same table on the scoring sets (rp2, street:asadi, street:praveen): a check, never used to choose.

Writes docs/results/relight_validation.{md,json}. Run: python bench/relight_validation.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_result  # noqa: E402

from patchsim.realphoto import relight_physical  # noqa: E402
from patchsim.realphoto.views import view_sign  # noqa: E402
from patchsim.realphoto.placement import FacePyramid  # noqa: E402
from patchsim.realphoto.relight import METHODS  # noqa: E402
from patchsim.realphoto.relight_choice import CHOICE_FILE  # noqa: E402
from patchsim.realphoto.relight_validation import (RegionValidation, SignValidation, choose_models,  # noqa: E402
                                               region_errors, summarise_regions, summarise_validation, validate_sign,
                                               _subsample)
from patchsim.realphoto.sources import photo_source, shared_data_root  # noqa: E402
from patchsim.signs import draw_face_array  # noqa: E402

REGIONS_FILE = Path(__file__).resolve().parent / "data" / "relight_regions.json"
ATTACKER = ("street:praveen-train", "uw17")
SCORING = ("rp2", "street:asadi", "street:praveen")


def signs_of(source: str):
    if source == "uw17":  # RP2's one big stop photo: attacker material (the issue's list), located by its octagon
        return [s.__class__(source, s.path, s.name, "attacker") for s in photo_source(str(shared_data_root() / "rp2" / "photos"))]
    return photo_source(source)


def views(source: str, face: FacePyramid):
    for sp in signs_of(source):
        v = view_sign(sp, face, "stop", "tone", 0.1)
        if not isinstance(v, str) and v.light.relight.rmse <= 0.2:
            yield sp, v


def fit_prior(face: FacePyramid) -> list:
    """(mean, std) of log k_r/k_g, log k_b/k_g, b, log t, log k_g over the attacker signs' unregularised fits."""
    import cv2

    from patchsim.realphoto.placement import _blur, sign_region, warp_face

    rows = []
    for src in ATTACKER:
        for sp, v in views(src, face):
            x0, y0, x1, y1 = sign_region(v.img_from_face, v.photo.shape[:2])
            obs = v.photo[y0:y1, x0:x1].astype(np.float32) / 255
            ref_rgba = warp_face(face, v.img_from_face, (x0, y0, x1, y1))
            a = ref_rgba[..., 3]
            inside = cv2.erode((a > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            ref = _blur(ref_rgba[..., :3] + obs * (1 - a[..., None]), v.light.blur_px)
            b, kr, kg, kb, t = relight_physical.fit_physical(_subsample(ref[inside]), _subsample(obs[inside]), prior=False)
            rows.append((np.log(kr / kg), np.log(kb / kg), b, np.log(t), np.log(kg)))
    rows = np.array(rows)
    # robust spread: the 16th-84th percentile half-width, floored so one light never dominates
    med = np.median(rows, 0)
    spread = np.maximum((np.percentile(rows, 84, 0) - np.percentile(rows, 16, 0)) / 2, [0.05, 0.05, 0.01, 0.05, 0.05])
    print(f"prior from {len(rows)} attacker signs: mean {np.round(med, 3)}, std {np.round(spread, 3)}")
    return [[float(m), float(s)] for m, s in zip(med, spread)], len(rows)


def validate(sources, face: FacePyramid) -> tuple[list[SignValidation], int]:
    rows, skipped = [], 0
    for src in sources:
        for sp, v in views(src, face):
            r = validate_sign(v.photo, v.img_from_face, v.light.blur_px, face)
            if isinstance(r, str):
                skipped += 1
                continue
            rows += [SignValidation(src, sp.name, m, *e) for m, e in r.items()]
    return rows, skipped


def validate_regions(sources, face: FacePyramid) -> list[RegionValidation]:
    """Every marked region of ``sources``, predicted from its stop sign's fit under every model."""
    if not REGIONS_FILE.exists():
        return []
    marked = json.loads(REGIONS_FILE.read_text())["regions"]
    rows = []
    for src in sources:
        by_sign = {}
        for r in marked:
            if r["set"] == src:
                by_sign.setdefault(r["sign"], []).append(r)
        for sp in signs_of(src):
            if sp.name not in by_sign:
                continue
            lights = {}
            for m in METHODS:
                v = view_sign(sp, face, "stop", m, 0.1)
                if isinstance(v, str):
                    break
                lights[m] = v.light.relight
            if len(lights) < len(METHODS):
                continue
            errs = region_errors(v.photo, lights, by_sign[sp.name])
            for m, es in errs.items():
                rows += [RegionValidation(src, sp.name, r["family"], m, e) for r, e in zip(by_sign[sp.name], es)]
    return rows


def region_table(summary: dict, title: str) -> str:
    fams = sorted({f for s in summary.values() for f in s["families"]})
    head = "| model | regions | median | p90 | " + " | ".join(f"{f} median / p90 (n)" for f in fams) + " |"
    lines = [f"**{title}**", "", head, "|" + "---|" * (4 + len(fams))]
    for m, s in summary.items():
        cells = [f"{s['families'][f]['median']:.1f} / {s['families'][f]['p90']:.1f} ({s['families'][f]['regions']})"
                 if f in s["families"] else "-" for f in fams]
        lines.append(f"| {m} | {s['regions']} | {s['median']:.1f} | {s['p90']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(summary: dict, title: str) -> str:
    lines = [f"**{title}**", "", "| model | signs | held-out median | held-out p90 | white from red | red from white | in-sample |",
             "|---|---|---|---|---|---|---|"]
    for m, s in summary.items():
        name = "none (design colour as is)" if m == "none" else m
        lines.append(f"| {name} | {s['signs']} | {s['held_out_median']:.1f} | {s['held_out_p90']:.1f} | "
                     f"{s['white_from_red_median']:.1f} | {s['red_from_white_median']:.1f} | {s['in_sample_median']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    face = FacePyramid(draw_face_array("stop", 1024))
    prior, n_prior = fit_prior(face)
    relight_physical.PRIOR_FILE.write_text(json.dumps(
        {"about": "Prior of the physical relighting model: (mean, std) of log k_r/k_g, log k_b/k_g, b, log t, log k_g over "
                  "the attacker photos' stop signs (street:praveen-train, RP2 uw17), unregularised fits. "
                  "Written by bench/relight_validation.py.", "signs": n_prior, "prior": prior}, indent=1) + "\n")
    relight_physical.load_prior.cache_clear()
    att_rows, att_skip = validate(ATTACKER, face)
    att = summarise_validation(att_rows)
    att_regions = summarise_regions(validate_regions(ATTACKER, face))
    # the choice: each model's held-out error as the mean of its median and 90th percentile (typical and bad
    # cases alike), averaged over the two tests (one colour of the sign to the other; the sign's fit to other
    # sheeting colours nearby) when both exist
    def typical_and_bad(med, p90):
        return (med + p90) / 2

    score = {}
    for m in att:
        parts = [typical_and_bad(att[m]["held_out_median"], att[m]["held_out_p90"])]
        if m in att_regions and att_regions[m]["regions"]:
            parts.append(typical_and_bad(att_regions[m]["median"], att_regions[m]["p90"]))
        score[m] = {"score": float(np.mean(parts))}
    default, survivors = choose_models(score, key="score")
    CHOICE_FILE.write_text(json.dumps(
        {"about": "Relighting models chosen on the attacker photos by bench/relight_validation.py: the default has the "
                  "lowest held-out CIEDE2000 (mean of median and p90, over the within-sign and region tests); survivors "
                  "are within 1.5x of it. Every relit figure is the band over survivors.",
         "default": default, "survivors": list(survivors)}, indent=1) + "\n")
    print(table(att, "attacker photos (choose)"))
    if att_regions:
        print(region_table(att_regions, "attacker regions"))
    print(f"default {default}; survivors {', '.join(survivors)}")
    checks = {}
    md = ["# Relighting validation", "",
          "Each model is fitted on one colour of a photographed stop sign and predicts the other (fit on the red field, "
          "predict the white legend and border; and the reverse); the error is CIEDE2000 (colour-science) between the "
          "predicted colour and the median of the held-out pixels that no edge or blur mixes. In-sample: the production "
          "fit on the whole sign, error on the two colours. Models are chosen on the attacker photos only "
          f"({', '.join(ATTACKER)}); the scoring sets are a check. {att_skip} attacker signs had too few clean pixels "
          "of one colour to judge.", "",
          table(att, "Attacker photos (used to choose): within the sign"), "",
          *([region_table(att_regions, "Attacker photos (used to choose): sheeting colours beyond red and white, "
                          "predicted from the stop sign's fit and the family's nominal colour"), ""] if att_regions else []),
          "Choice score per model (per test the mean of median and 90th percentile, averaged over the two tests): "
          + ", ".join(f"{m} {v['score']:.1f}" for m, v in score.items()), "",
          f"Default: **{default}**. Surviving models (choice score within 1.5x of the default's): "
          f"**{', '.join(survivors)}**. Every relit figure is reported as the band over them.", ""]
    for src in SCORING:
        rows, skip = validate((src,), face)
        if not rows:
            continue
        checks[src] = summarise_validation(rows)
        md += [table(checks[src], f"{src} (scoring: check only; {skip} signs not judged)"), ""]
        print(table(checks[src], src))
        reg = summarise_regions(validate_regions((src,), face))
        if reg:
            checks[src + " regions"] = reg
            md += [region_table(reg, f"{src} regions (scoring: check only)"), ""]
    n_regions = att_regions.get("none", {"regions": 0})["regions"]
    md += [f"Regions beyond red and white on the attacker photos: {n_regions} (bench/data/relight_regions.json, marked "
           "with bench/mark_regions.py)."]
    write_result("relight_validation", "\n".join(md),
                 {"attacker": att, "attacker_regions": att_regions, "choice_score": score, "scoring": checks, "default": default, "survivors": list(survivors), "prior": prior,
                  "methods": list(METHODS)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
