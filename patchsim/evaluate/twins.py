"""Scoring condition-matched twins beside the photos they copy (``evaluate-photos --twins``): per sign,
the model's verdict on the twin (clean and with the sticker) beside its verdict on the photo (clean and
relit); the agreement rate, the confusion table and success against pixels across the sign, simulation
and real side by side. Where they disagree, the renderer is the first suspect."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from patchsim.evaluate.photos import PhotoRecord, PhotoScorer
from patchsim.realphoto.views import view_sign
from patchsim.realphoto.sources import SignPhoto
from patchsim.realphoto.twins import TwinPose, TwinRenderer, read_twin_pose
from patchsim.objectives.goals import classify_crops
from patchsim.io.images import atomic_write_bytes, write_png

SIZE_BINS_PX = (0, 32, 64, 128, 256, 100000)  # pixels across the sign


@dataclass(frozen=True)
class TwinRecord:
    """One sign: the relighting model that lights both (``light_model``), the pose read off the photo
    (see :class:`patchsim.realphoto.twins.TwinPose`), then the model's reading of the photo and of its twin,
    clean and attacked (attacked: the photo with the sticker relit by ``light_model``; the twin with the
    sticker)."""

    name: str
    light_model: str
    side_px: float
    pose: TwinPose
    photo_clean_pred: str
    photo_clean_fooled: bool
    twin_clean_pred: str
    twin_clean_fooled: bool
    photo_pred: str | None
    photo_fooled: bool | None
    twin_pred: str | None
    twin_fooled: bool | None

    def to_row(self) -> dict:
        """Flat row for twins.csv: the pose's fields in place of ``pose``."""
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if k != "pose"} | {k: v for k, v in d["pose"].items()}


TWIN_LIGHT = "physical"  # the twin's light: the model that follows the sign's own colours and carries them furthest


def twin_light_model(scorer: PhotoScorer) -> str:
    """The relighting model that lights the twins and the photos they are compared with: ``physical``
    when it is among the scorer's models (it fits the sign's own colours within a few CIEDE2000 and
    extrapolates with a prior; see docs/results/relight_validation.md), else the scorer's default. A twin
    shows the photographed sign's light, so a model that leaves the colours as designed would not do."""
    return TWIN_LIGHT if TWIN_LIGHT in scorer.models else scorer.relight


def score_twins(signs: list[SignPhoto], records: list[PhotoRecord], scorer: PhotoScorer, scene, printed_rgba,
                hfov_deg: float | None = None) -> tuple[list[TwinRecord], dict[str, list[np.ndarray]]]:
    """Twins of every scored sign (``records``, from ``scorer`` on ``signs``): (records, {"clean",
    "attacked": twin crops uint8 at the model's input size, in record order}). Twin and photo take the
    same light (:func:`twin_light_model`)."""
    by_name = {sp.name: sp for sp in signs}
    light_model = twin_light_model(scorer)
    tr = TwinRenderer(scene, printed_rgba, scorer.size)
    poses, crops = [], {"clean": [], "attacked": []}
    for rec in records:
        sp = by_name[rec.name]
        v = view_sign(sp, scorer.face, scorer.sign, light_model, scorer.margin)
        pose = read_twin_pose(v, sp.path, scene.camera, scene.sign.size_m, hfov_deg)
        poses.append((rec, pose))
        c = tr.render(pose, v.light.relight)
        crops["clean"].append(c["clean"])
        crops["attacked"].append(c.get("attacked", c["clean"]))
    out = []
    if not poses:
        return out, crops
    probs = {k: classify_crops(scorer.model, v) for k, v in crops.items()}
    cls = scorer.model.classes
    attacked = printed_rgba is not None
    for i, (rec, pose) in enumerate(poses):
        kc, ka = int(probs["clean"][i].argmax()), int(probs["attacked"][i].argmax())
        fooled = lambda k: bool(scorer.goal.fooled(np.array([k]))[0])  # noqa: E731
        j = rec.band_models.index(light_model) if light_model in rec.band_models else None
        photo_pred = rec.band_preds[j] if j is not None else rec.relit_pred
        photo_fooled = rec.band_fooled[j] if j is not None else rec.relit_fooled
        rounded = dataclasses.replace(pose, **{f.name: round(getattr(pose, f.name), 3) for f in dataclasses.fields(pose)
                                               if isinstance(getattr(pose, f.name), float)})
        out.append(TwinRecord(name=rec.name, light_model=light_model, side_px=rec.side_px, pose=rounded,
                              photo_clean_pred=rec.clean_pred, photo_clean_fooled=rec.clean_fooled,
                              twin_clean_pred=cls[kc], twin_clean_fooled=fooled(kc),
                              photo_pred=photo_pred if attacked else None,
                              photo_fooled=photo_fooled if attacked else None,
                              twin_pred=cls[ka] if attacked else None, twin_fooled=fooled(ka) if attacked else None))
    return out, crops


def _confusion(pairs: list[tuple[bool, bool]]) -> dict:
    return {"both_fooled": sum(t and p for t, p in pairs), "twin_only": sum(t and not p for t, p in pairs),
            "photo_only": sum(p and not t for t, p in pairs), "neither": sum(not t and not p for t, p in pairs)}


def summarise_twins(rows: list[TwinRecord]) -> dict:
    """Agreement of twin and photo verdicts (fraction of signs), clean and attacked, their confusion
    tables, and success of each against pixels across the sign (``SIZE_BINS_PX``)."""
    out = {"signs": len(rows)}
    runs = [("clean", [(r.twin_clean_fooled, r.photo_clean_fooled) for r in rows])]
    if rows and rows[0].twin_fooled is not None:
        runs.append(("attacked", [(r.twin_fooled, r.photo_fooled) for r in rows]))
    for run, pairs in runs:
        out[f"agreement_{run}"] = (sum(t == p for t, p in pairs) / len(pairs)) if pairs else None
        out[f"confusion_{run}"] = _confusion(pairs)
    bins = []
    key = "attacked" if len(runs) > 1 else "clean"
    for lo, hi in zip(SIZE_BINS_PX[:-1], SIZE_BINS_PX[1:]):
        sel = [r for r in rows if lo <= r.side_px < hi]
        if not sel:
            continue
        tw = [(r.twin_fooled if key == "attacked" else r.twin_clean_fooled) for r in sel]
        ph = [(r.photo_fooled if key == "attacked" else r.photo_clean_fooled) for r in sel]
        bins.append({"px_from": lo, "px_to": hi, "signs": len(sel), "twin_success": float(np.mean(tw)),
                     "photo_success": float(np.mean(ph)), "agreement": float(np.mean([a == b for a, b in zip(tw, ph)]))})
    out["by_size"] = bins
    out["by_size_run"] = key
    return out


def plot_twins(path: Path, summary: dict, title: str) -> None:
    """Success against pixels across the sign: the twins (simulation) beside the relit photos (real)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = summary["by_size"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    x = np.arange(len(bins))
    ax.bar(x - 0.2, [100 * b["twin_success"] for b in bins], 0.4, label="twin (renderer)", color="#4a7fb5")
    ax.bar(x + 0.2, [100 * b["photo_success"] for b in bins], 0.4, label="photo (relit)", color="#d0743c")
    ax.set_xticks(x, [f"{b['px_from']}-{b['px_to'] if b['px_to'] < 100000 else ''}px\n{b['signs']} signs" for b in bins],
                  fontsize=8)
    ax.set_ylabel(f"fooled, % ({summary['by_size_run']})")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def twin_sheet(path: Path, rows: list[TwinRecord], views: list[np.ndarray], relit: list[np.ndarray],
               twins: list[np.ndarray], limit: int = 48, cols: int = 4) -> None:
    """One tile per sign: the photo around the sign (real), the relit classifier crop, the twin's crop,
    each with the model's reading, red when fooled."""

    tiles = []
    for i, r in list(enumerate(rows))[:limit]:
        side = views[i].shape[0]
        cells = [views[i]]
        for img, pred, fooled, label in ((relit[i], r.photo_pred or r.photo_clean_pred,
                                          r.photo_fooled if r.photo_fooled is not None else r.photo_clean_fooled, "relit"),
                                         (twins[i], r.twin_pred or r.twin_clean_pred,
                                          r.twin_fooled if r.twin_fooled is not None else r.twin_clean_fooled, "twin")):
            c = cv2.resize(img, (side, side), interpolation=cv2.INTER_NEAREST)
            cv2.rectangle(c, (0, side - 30), (side - 1, side - 1), (255, 255, 255), -1)
            colour = (200, 30, 30) if fooled else (20, 140, 40)
            cv2.putText(c, label, (3, side - 18), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(c, pred[:20], (3, side - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, colour, 1, cv2.LINE_AA)
            cells.append(c)
        tile = np.concatenate(cells, 1)
        head = np.full((18, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(head, f"{r.name[:28]}  {r.side_px:.0f}px  {r.pose.distance_m:.1f}m  yaw {r.pose.yaw_deg:.0f}",
                    (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.pad(np.concatenate([head, tile], 0), ((3, 3), (3, 3), (0, 0)), constant_values=255))
    if not tiles:
        return
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    write_png(path, np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0))
