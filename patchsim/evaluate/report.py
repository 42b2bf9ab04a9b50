"""Evaluation outputs: metrics.json, frames.csv, plots, an annotated drive-by video and report.html.
Every file is written atomically."""

from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path

import cv2
import numpy as np

from patchsim.imageio import atomic_write_bytes, pyplot, save_figure, write_png

VIDEO_SIZE = (640, 360)  # each half of the side-by-side video


class VideoSink:
    """Side-by-side clean | attacked annotated video, written while the sequence streams: a frame is
    buffered (at 640x360) only until its predictions exist, so memory stays bounded by the classifier's
    batch, not the sequence length."""

    def __init__(self, path: Path, fps: float, classes: list[str], fooled):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp.mp4")
        self.classes, self.fooled = classes, fooled
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (2 * VIDEO_SIZE[0], VIDEO_SIZE[1]))
        if not self.writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write MP4 video to {self.tmp}")
        self.pending: list[tuple[int, dict, dict, float]] = []

    def add(self, i: int, frames: dict, width: int, distance_m: float) -> None:
        small = {run: cv2.resize(f.image, VIDEO_SIZE, interpolation=cv2.INTER_AREA) for run, f in frames.items()}
        boxes = {run: tuple(v * VIDEO_SIZE[0] / width for v in f.box) for run, f in frames.items()}
        self.pending.append((i, small, boxes, distance_m))

    def drain(self, probs_of) -> None:
        """Write, in order, every buffered frame whose predictions ``probs_of(run, i)`` (a list holding a
        probability vector, or empty) are known."""
        while self.pending:
            i, small, boxes, dist = self.pending[0]
            probs = {run: probs_of(run, i) for run in ("clean", "attacked")}
            if not all(probs.values()):
                return
            halves = []
            for run in ("clean", "attacked"):
                img = small[run].copy()
                p = probs[run][0]
                k = int(np.argmax(p))
                colour = (220, 40, 40) if bool(self.fooled(np.array([k]))[0]) else (40, 200, 60)
                x, y, s = boxes[run]
                cv2.rectangle(img, (int(x), int(y)), (int(x + s), int(y + s)), colour, 2)
                cv2.putText(img, f"{run}: {self.classes[k]} {p[k]:.2f}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2,
                            cv2.LINE_AA)
                cv2.putText(img, f"{dist:.1f} m", (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
                halves.append(img)
            self.writer.write(cv2.cvtColor(np.concatenate(halves, 1), cv2.COLOR_RGB2BGR))
            self.pending.pop(0)

    def close(self) -> None:
        self.writer.release()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)


def write_frames_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def plot_success_vs_distance(path: Path, rows: list[dict]) -> None:
    plt = pyplot()

    d = np.array([r["distance_m"] for r in rows])
    edges = np.linspace(d.min(), d.max() + 1e-6, 9)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for run, colour in (("clean", "tab:green"), ("attacked", "tab:red")):
        f = np.array([r[f"{run}_fooled"] for r in rows], float)
        centres, vals = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (d >= lo) & (d < hi)
            if sel.any():
                centres.append((lo + hi) / 2)
                vals.append(100 * f[sel].mean())
        ax.plot(centres, vals, "o-", color=colour, label=run)
    ax.set_xlabel("distance (m)")
    ax.set_ylabel("fooled frames (%)")
    ax.set_ylim(-3, 103)
    ax.invert_xaxis()
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_heatmap(path: Path, rows: list[dict]) -> None:
    """Attacked success by distance x viewing angle (yaw)."""
    plt = pyplot()

    ds = sorted({round(r["distance_m"], 2) for r in rows})
    ys = sorted({round(r["yaw_deg"], 1) for r in rows})
    grid = np.full((len(ys), len(ds)), np.nan)
    for yi, yv in enumerate(ys):
        for di, dv in enumerate(ds):
            sel = [r["attacked_fooled"] for r in rows if round(r["distance_m"], 2) == dv and round(r["yaw_deg"], 1) == yv]
            if sel:
                grid[yi, di] = 100 * np.mean(sel)
    fig, ax = plt.subplots(figsize=(6, 3))
    im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(ds)), [f"{d:g}" for d in ds], fontsize=7)
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys], fontsize=7)
    ax.set_xlabel("distance (m)")
    ax.set_ylabel("angle (deg)")
    fig.colorbar(im, label="fooled (%)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_filters(path: Path, metrics: dict) -> None:
    """Per-frame success vs after the k-of-n filter and the EMA, clean and attacked."""
    plt = pyplot()

    labels = ["per frame", f"{metrics['attacked']['k_of_n']['k']}-of-{metrics['attacked']['k_of_n']['n']}", "EMA"]
    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.arange(3)
    for off, run, colour in ((-0.2, "clean", "tab:green"), (0.2, "attacked", "tab:red")):
        m = metrics[run]
        ax.bar(x + off, [100 * m["success"], 100 * m["k_of_n"]["success"], 100 * m["ema"]["success"]], 0.4,
               color=colour, label=run)
    ax.set_xticks(x, labels)
    ax.set_ylabel("fooled frames (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def write_strip(path: Path, thumbs: list[tuple[dict, dict[str, np.ndarray]]]) -> None:
    """Timeline strip: for a few frames, the clean and attacked crops with their predictions."""
    tiles = []
    for row, crops in thumbs:
        col = []
        for run in ("clean", "attacked"):
            img = cv2.resize(crops[run], (128, 128), interpolation=cv2.INTER_NEAREST)
            bar = np.full((34, 128, 3), 255, np.uint8)
            colour = (200, 30, 30) if row[f"{run}_fooled"] else (20, 140, 40)
            cv2.putText(bar, row[f"{run}_pred"][:18], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, colour, 1, cv2.LINE_AA)
            cv2.putText(bar, f"{row['distance_m']:.1f} m  {row[f'{run}_conf']:.2f}", (3, 28), cv2.FONT_HERSHEY_SIMPLEX,
                        0.38, (0, 0, 0), 1, cv2.LINE_AA)
            col.append(np.concatenate([img, bar], 0))
        tiles.append(np.concatenate(col, 0))
    write_png(path, np.concatenate(tiles, 1))


def write_html(path: Path, title: str, summary: dict, images: list[str], video: str | None = None,
               note: str = "", table: tuple[list[str], list[tuple[str, list[str]]]] | None = None,
               rows_file: str = "frames.csv") -> None:
    """report.html: a table of the sequence metrics with one column per run in ``summary["metrics"]``
    (e.g. clean and attacked, or one real run), the consistency checks if ``summary`` has them, then the
    video and ``images`` (file names beside the report) and links to metrics.json and ``rows_file``.
    ``table`` (column names, [(row label, cells)]) replaces the sequence-metrics table for runs that
    are not sequences (photo sets)."""
    if table is not None:
        columns, body = table
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
        rows = [f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                for label, cells in body]
        return _write_page(path, title, head, rows, images, video, note, rows_file)
    m = summary["metrics"]
    runs = list(m)

    def row(label: str, cell) -> str:
        return f"<tr><td>{label}</td>" + "".join(f"<td>{cell(m[r])}</td>" for r in runs) + "</tr>"

    def streak(x: dict) -> str:
        s = x["longest_fooled_streak"]
        return (f"{s['frames']} frames" + (f", {s['seconds']:.2f} s" if s.get("seconds") is not None else "")
                + (f", {s['metres']:.1f} m" if s.get("metres") is not None else ""))

    rows = [row("fooled frames", lambda x: f"{100 * x['success']:.1f}%"),
            row("flip rate", lambda x: f"{100 * x['flip_rate']:.1f}%"),
            row("k-of-n filtered fooled", lambda x: f"{100 * x['k_of_n']['success']:.1f}%"),
            row("EMA filtered fooled", lambda x: f"{100 * x['ema']['success']:.1f}%"),
            row("longest fooled streak", streak)]
    for kind, v in summary.get("consistency", {}).items():
        rows.append(f"<tr><td>{kind} check: detection / false alarms</td><td colspan={len(runs)}>"
                    f"{100 * (v['detection_rate'] or 0):.1f}% / {100 * (v['false_alarm_rate'] or 0):.1f}%</td></tr>")
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(r)}</th>" for r in runs) + "</tr>"
    _write_page(path, title, head, rows, images, video, note, rows_file)


def _write_page(path: Path, title: str, head: str, rows: list[str], images: list[str], video: str | None,
                note: str, rows_file: str) -> None:
    imgs = "".join(f'<figure><img src="{html.escape(i)}"><figcaption>{html.escape(i)}</figcaption></figure>' for i in images)
    vid = f'<video src="{html.escape(video)}" controls width="960"></video>' if video else ""
    para = f"<p>{html.escape(note)}</p>" if note else ""
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd}}
img{{max-width:100%}}figure{{margin:10px 0}}</style></head><body><h1>{html.escape(title)}</h1>{para}
<table>{head}{''.join(rows)}</table>{vid}{imgs}
<p>Full numbers: <a href="metrics.json">metrics.json</a>, per row: <a href="{html.escape(rows_file)}">{html.escape(rows_file)}</a>.</p></body></html>"""
    atomic_write_bytes(path, doc.encode())


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, default=float).encode())
