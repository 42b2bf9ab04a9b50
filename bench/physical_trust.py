"""Will the main job's sticker work on a real sign? Its figures the way a user gets them, with patchsim's
own commands: the attack's sim-to-real table (held-out renders, drive-by, relit photos as bands over the
validated relighting models), then `evaluate-photos --twins` on each scoring set (agreement of the
renderer's condition-matched twins with the relit photos, clean and attacked), and RP2's own sticker
beside patchsim's LISA-CNN sticker at RP2's mask through the same evaluator (targeted speedLimit45 and
untargeted "not stop").

Attacker photos (street:praveen-train, uw17) chose the relighting models; everything here is scored on
the scoring sets (rp2, street:asadi, street:praveen).

Run: python bench/physical_trust.py [--out runs/trust] [--only main,rp2]   (about 15 min on 2 cores)"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_result  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LISA = str(SHARED / "rp2" / "lisa_cnn.npz")
RP2_STICKER = str(SHARED / "rp2" / "stickers" / "rp2_camouflage_lisa_32.png")
SETS = ("rp2", "street:asadi", "street:praveen")


def patchsim(*args: str) -> float:
    t = time.time()
    print("$ patchsim " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "patchsim.cli", *args], check=True)
    return time.time() - t


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def band(m: dict) -> str:
    if "relit_worst_success" not in m:
        return pct(m["relit_success"])
    return (f"**{pct(m['relit_worst_success'])}** worst ({m['relit_worst_model']}) / {pct(m['relit_default_success'])} "
            f"default / {pct(m['relit_best_success'])} best ({m['relit_best_model']})")


def photos(out: Path, src: str, sticker: str, extra: list[str], tag: str) -> dict:
    d = out / f"{tag}_{src.replace(':', '_')}"
    if not (d / "metrics.json").exists():
        patchsim("evaluate-photos", src, "--sticker", sticker, "--twins", "--out", str(d), "--force", *extra)
    return json.loads((d / "metrics.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/trust"))
    ap.add_argument("--only", default="main,rp2")
    args = ap.parse_args()
    only = set(args.only.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    md, data = ["# Physical trust: the main job's sticker on real signs", ""], {}
    if "main" in only:
        att = args.out / "main"
        wall = None
        if not (att / "attack.json").exists():
            wall = patchsim("attack", "scenes/stop_driveby.yaml", "--out", str(att), "--force")
        rec = json.loads((att / "attack.json").read_text())
        t = rec["sim_to_real"]
        area = rec.get("sticker_area_fraction") or rec.get("config", {}).get("area")
        md += ["## Main job (README command: `patchsim attack scenes/stop_driveby.yaml`, gtsrb-cnn -> speed_limit_80)", "",
               f"Held-out renders {pct(t['held_out_renders'])}, drive-by (independent simulator) "
               f"{pct(t['independent_simulator'])}" + (f"; attack wall {wall:.0f} s" if wall else "") + ".", "",
               "| scoring set | signs | raw paste | relit: worst / default / best | REAP ASR (default) | twins agree clean | twins agree attacked |",
               "|---|---|---|---|---|---|---|"]
        data["main"] = {"sim_to_real": t, "sets": {}}
        by_model = []
        for src in SETS:
            m = photos(args.out, src, str(att / "sticker.png"), [], "main")
            s, tw = m["metrics"], m.get("twins", {})
            data["main"]["sets"][src] = {"metrics": s, "twins": tw}
            md.append(f"| {src} | {s['signs']} | {pct(s['raw_success'])} | {band(s)} | {pct(s['relit_asr'])} | "
                      f"{pct(tw.get('agreement_clean'))} | {pct(tw.get('agreement_attacked'))} |")
            by_model.append(f"| {src} | " + " | ".join(pct(s["relit_by_model"][k]["success"]) for k in s["relit_models"]) + " |")
        models = data["main"]["sets"][SETS[0]]["metrics"]["relit_models"]
        md += ["", "Relit success under each validated relighting model (the band's members):", "",
               "| scoring set | " + " | ".join(models) + " |", "|---|" + "---|" * len(models), *by_model, ""]
        for src in SETS:
            tw = data["main"]["sets"][src]["twins"]
            if tw:
                c = tw["confusion_attacked"]
                md.append(f"- {src} twins (light: physical) vs relit photos, attacked: both fooled {c['both_fooled']}, twin only "
                          f"{c['twin_only']}, photo only {c['photo_only']}, neither {c['neither']}; by pixels across the sign: "
                          + ", ".join(f"{b['px_from']}-{b['px_to'] if b['px_to'] < 100000 else ''} px {pct(b['twin_success'])} "
                                      f"twin vs {pct(b['photo_success'])} photo ({b['signs']})" for b in tw["by_size"]))
        md.append("")
    if "rp2" in only:
        ours = args.out / "lisa_rp2mask"
        ours_u = args.out / "lisa_rp2mask_untargeted"
        for d, goal in ((ours, ["--target", "speedLimit45"]), (ours_u, ["--untargeted"])):
            if not (d / "attack.json").exists():
                patchsim("attack", "scenes/stop_lab_rp2.yaml", "--model", "lisa-cnn", "--weights", LISA, *goal,
                         "--out", str(d), "--force", "--no-sim-to-real")
        md += ["## RP2's sticker beside patchsim's at RP2's mask (LISA-CNN, RP2's 40 victim photos, same evaluator)", "",
               "| sticker | goal | signs | raw paste | relit: worst / default / best | twins agree attacked |", "|---|---|---|---|---|---|"]
        data["rp2"] = {}
        for name, st, st_u in (("RP2 (published)", RP2_STICKER, RP2_STICKER),
                               ("patchsim, RP2's mask", str(ours / "sticker.png"), str(ours_u / "sticker.png"))):
            for goal, extra in (("speedLimit45", ["--target", "speedLimit45"]), ("not stop", [])):
                tag = ("rp2pub" if st == RP2_STICKER else "ours") + ("_t45" if extra else "_untargeted")
                st = st if extra else st_u  # patchsim's untargeted row is its own untargeted attack
                m = photos(args.out, "rp2", st, ["--model", "lisa-cnn", "--weights", LISA, "--twin-scene",
                                                  "stop_lab_rp2", *(extra or ["--untargeted"])], tag)
                s = m["metrics"]
                data["rp2"][tag] = {"metrics": s, "twins": m.get("twins")}
                md.append(f"| {name} | {goal} | {s['signs']} | {s['raw_fooled']}/{s['signs']} | {band(s)} | "
                          f"{pct((m.get('twins') or {}).get('agreement_attacked'))} |")
        md += ["", "The same two stickers in RP2's lab protocol (`patchsim evaluate stop_lab_rp2 --mode grid`: 1.5-12 m x "
               "0/15/30 deg x 3 lights, the independent simulator, printed by the inkjet model), targeted speedLimit45:", "",
               "| sticker | grid frames fooled |", "|---|---|"]
        for name, st, tag in (("RP2 (published)", RP2_STICKER, "lab_rp2pub"), ("patchsim, RP2's mask", str(ours / "sticker.png"),
                                                                              "lab_ours")):
            d = args.out / tag
            if not (d / "metrics.json").exists():
                patchsim("evaluate", "stop_lab_rp2", "--sticker", st, "--model", "lisa-cnn", "--weights", LISA,
                         "--target", "speedLimit45", "--mode", "grid", "--no-video", "--out", str(d), "--force")
            m = json.loads((d / "metrics.json").read_text())
            att = m["metrics"]["attacked"] if "metrics" in m else m["attacked"]
            data["rp2"][tag] = att
            md.append(f"| {name} | {pct(att['success'])} |")
        md.append("")
    if "robust" in only:
        md += ["## Stickers aimed at the relighting uncertainty (the main job + a quarter of each batch on attacker photos)", "",
               "`--real-photos street:praveen-train --real-fraction 0.25`, the photos relit by every validated model "
               "(`--real-relight validated`, the default) or by `tone` alone (before this change).", "",
               "| optimiser's real photos | drive-by | " + " | ".join(f"{s} relit worst / default / best" for s in SETS) + " |",
               "|---|---|" + "---|" * len(SETS)]
        data["robust"] = {}
        for tag, relight in (("validated", "validated"), ("tone", "tone")):
            d = args.out / f"robust_{tag}"
            if not (d / "attack.json").exists():
                patchsim("attack", "scenes/stop_driveby.yaml", "--out", str(d), "--force", "--real-photos",
                         "street:praveen-train", "--real-fraction", "0.25", "--real-relight", relight)
            t = json.loads((d / "attack.json").read_text())["sim_to_real"]
            data["robust"][tag] = t
            cells = []
            for src in SETS:
                p = t["photos"][src]
                cells.append("-" if p.get("missing") else f"**{pct(p['relit_worst'])}** / {pct(p['relit'])} / {pct(p['relit_best'])}")
            md.append(f"| {relight} | {pct(t['independent_simulator'])} | " + " | ".join(cells) + " |")
        md.append("")
    md += ["Relit figures are the range over the relighting models that passed validation on the attacker photos "
           "(docs/results/relight_validation.md); the worst is the headline. Twins: each photographed sign rendered by "
           "patchsim's renderer at the pose, blur, JPEG quality and light read off the photo (evaluate-photos --twins)."]
    write_result("physical_trust", "\n".join(md), data)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
