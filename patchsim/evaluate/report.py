"""Evaluation outputs: metrics.json, frames.csv, plots, an annotated drive-by video and report.html.
Every file is written atomically."""

from __future__ import annotations

import csv
import html
import io
import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.evaluate.records import RUNS, DetectionRates, FrameRecord, SequenceMetrics
from patchsim.evaluate.runner import EvaluatedFrame
from patchsim.io.images import atomic_write_bytes, pyplot, save_figure, write_png
from patchsim.render.crop import detector_crop

VIDEO_SIZE = (640, 360)  # each half of the side-by-side video
RUN_COLOURS = {"clean": "tab:green", "attacked": "tab:red"}


class VideoSink:
    """Sink: side-by-side clean | attacked annotated video (640x360 each half), one frame encoded per
    evaluated frame as it arrives. VP9 in WebM (PyAV's bundled libvpx), which Chromium and Firefox play
    without proprietary codecs; the file appears at ``path`` only when closed."""

    CRF = 32  # VP9 constant quality: about 1 MB per 100 frames of the drive-by

    def __init__(self, path: Path, fps: float, width: int):
        import av

        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.scale = VIDEO_SIZE[0] / width
        try:
            self.container = av.open(str(self.tmp), "w", format="webm")
            self.stream = self.container.add_stream("libvpx-vp9", rate=Fraction(fps).limit_denominator(1001),
                                                    options={"deadline": "realtime", "cpu-used": "8",
                                                             "crf": str(self.CRF), "b": "0", "row-mt": "1",
                                                             "threads": "2", "lag-in-frames": "0"})
        except (OSError, av.FFmpegError) as e:
            raise PatchsimError(f"cannot write a VP9 video to {self.tmp}: {e}") from e
        self.stream.width, self.stream.height, self.stream.pix_fmt = 2 * VIDEO_SIZE[0], VIDEO_SIZE[1], "yuv420p"

    def add(self, frame: EvaluatedFrame) -> None:
        halves = []
        for run in RUNS:
            view, rf = frame.views[run], frame.record.run(run)
            img = cv2.resize(view.image, VIDEO_SIZE, interpolation=cv2.INTER_AREA)
            colour = (220, 40, 40) if rf.fooled else (40, 200, 60)
            x, y, s = (v * self.scale for v in view.box)
            cv2.rectangle(img, (int(x), int(y)), (int(x + s), int(y + s)), colour, 2)
            cv2.putText(img, f"{run}: {rf.pred} {rf.conf:.2f}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2,
                        cv2.LINE_AA)
            cv2.putText(img, f"{frame.record.distance_m:.1f} m", (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                        cv2.LINE_AA)
            halves.append(img)
        self.write(halves)

    def write(self, halves: list[np.ndarray]) -> None:
        """Encode one picture: the clean and attacked halves, uint8 RGB ``VIDEO_SIZE`` each, side by side."""
        import av

        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.concatenate(halves, 1)), format="rgb24")
        for packet in self.stream.encode(picture):
            self.container.mux(packet)

    def close(self) -> Path:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class FramesCsvSink:
    """Sink: frames.csv, one row per frame record (:meth:`FrameRecord.to_row`), written atomically on
    close; ``close()`` returns the records, in order."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: list[FrameRecord] = []

    def add(self, frame: EvaluatedFrame) -> None:
        self.records.append(frame.record)

    def close(self) -> list[FrameRecord]:
        write_frames_csv(self.path, [r.to_row() for r in self.records])
        return self.records


class StripSink:
    """Sink: keeps the detector crops (``size`` px) of ``count`` evenly spaced frames of a ``total``-frame
    sequence; ``close()`` writes the timeline strip (:func:`write_strip`) to ``path``."""

    def __init__(self, path: Path, total: int, size: int, count: int = 8):
        self.path, self.size = Path(path), size
        self.at = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
        self.thumbs: list[tuple[FrameRecord, dict[str, np.ndarray]]] = []

    def add(self, frame: EvaluatedFrame) -> None:
        if frame.record.frame in self.at:
            self.thumbs.append((frame.record, {r: detector_crop(v.image, v.box, self.size) for r, v in frame.views.items()}))

    def close(self) -> Path:
        write_strip(self.path, self.thumbs)
        return self.path


def write_frames_csv(path: Path, rows: list[dict]) -> None:
    """Rows (dicts with the same keys) as CSV, written atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def distance_curve(records: list[FrameRecord], bins: int = 8) -> dict[str, tuple[list[float], list[float]]]:
    """The success-vs-distance plot's data: per run, (bin centres in metres, fooled frames in %) over
    ``bins`` equal distance bins from the nearest to the farthest frame; empty bins are left out."""
    d = np.array([r.distance_m for r in records])
    edges = np.linspace(d.min(), d.max() + 1e-6, bins + 1)
    out = {}
    for run in RUNS:
        f = np.array([r.run(run).fooled for r in records], float)
        centres, vals = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (d >= lo) & (d < hi)
            if sel.any():
                centres.append(float((lo + hi) / 2))
                vals.append(float(100 * f[sel].mean()))
        out[run] = (centres, vals)
    return out


def plot_success_vs_distance(path: Path, records: list[FrameRecord]) -> None:
    """Fooled frames (%) against distance, clean and attacked (data: :func:`distance_curve`)."""
    plot_vs_distance(path, distance_curve(records), "fooled frames (%)")


def plot_vs_distance(path: Path, curves: dict[str, tuple[list[float], list[float]]], ylabel: str) -> None:
    """Per run (clean, attacked) a percentage against distance (bin centres, metres; the x axis runs
    from far to near)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for run, (centres, vals) in curves.items():
        ax.plot(centres, vals, "o-", color=RUN_COLOURS[run], label=run)
    ax.set_xlabel("distance (m)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-3, 103)
    ax.invert_xaxis()
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def heatmap_grid(records: list[FrameRecord]) -> tuple[list[float], list[float], np.ndarray]:
    """The heatmap's data: distinct distances (m), distinct yaws (deg), and the attacked run's fooled
    frames in % per (yaw, distance) ``(len(yaws), len(distances))`` (NaN where no frame)."""
    ds = sorted({round(r.distance_m, 2) for r in records})
    ys = sorted({round(r.yaw_deg, 1) for r in records})
    grid = np.full((len(ys), len(ds)), np.nan)
    for yi, yv in enumerate(ys):
        for di, dv in enumerate(ds):
            sel = [r.attacked.fooled for r in records if round(r.distance_m, 2) == dv and round(r.yaw_deg, 1) == yv]
            if sel:
                grid[yi, di] = 100 * np.mean(sel)
    return ds, ys, grid


def plot_heatmap(path: Path, records: list[FrameRecord]) -> None:
    """Attacked success by distance x viewing angle (yaw) (data: :func:`heatmap_grid`)."""
    plt = pyplot()
    ds, ys, grid = heatmap_grid(records)
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


def filter_bars(metrics: dict[str, SequenceMetrics]) -> tuple[list[str], dict[str, list[float]]]:
    """The filters plot's data: bar labels and, per run, fooled frames in % per frame, after the k-of-n
    filter and after the EMA."""
    a = metrics["attacked"].k_of_n
    labels = ["per frame", f"{a.k}-of-{a.n}", "EMA"]
    return labels, {run: [100 * m.success, 100 * m.k_of_n.success, 100 * m.ema.success] for run, m in metrics.items()}


def plot_filters(path: Path, metrics: dict[str, SequenceMetrics]) -> None:
    """Per-frame success vs after the k-of-n filter and the EMA, clean and attacked (data:
    :func:`filter_bars`)."""
    plt = pyplot()
    labels, bars = filter_bars(metrics)
    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.arange(len(labels))
    for off, run in ((-0.2, "clean"), (0.2, "attacked")):
        ax.bar(x + off, bars[run], 0.4, color=RUN_COLOURS[run], label=run)
    ax.set_xticks(x, labels)
    ax.set_ylabel("fooled frames (%)")
    ax.set_ylim(0, 100)
    ax.legend(ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)  # above the bars, never on them
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def write_strip(path: Path, thumbs: list[tuple[FrameRecord, dict[str, np.ndarray]]]) -> None:
    """Timeline strip: for a few frames, the clean and attacked crops with their predictions."""
    tiles = []
    for rec, crops in thumbs:
        col = []
        for run in RUNS:
            rf = rec.run(run)
            img = cv2.resize(crops[run], (128, 128), interpolation=cv2.INTER_NEAREST)
            bar = np.full((34, 128, 3), 255, np.uint8)
            colour = (200, 30, 30) if rf.fooled else (20, 140, 40)
            cv2.putText(bar, rf.pred[:18], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, colour, 1, cv2.LINE_AA)
            cv2.putText(bar, f"{rec.distance_m:.1f} m  {rf.conf:.2f}", (3, 28), cv2.FONT_HERSHEY_SIMPLEX,
                        0.38, (0, 0, 0), 1, cv2.LINE_AA)
            col.append(np.concatenate([img, bar], 0))
        tiles.append(np.pad(np.concatenate(col, 0), ((0, 0), (0, 3), (0, 0)), constant_values=255))  # a gap between frames
    write_png(path, np.concatenate(tiles, 1))


def write_html(path: Path, title: str, images: list[str], video: str | None = None, note: str = "",
               metrics: dict[str, SequenceMetrics] | None = None, consistency: dict[str, DetectionRates] | None = None,
               table: tuple[list[str], list[tuple[str, list[str]]]] | None = None, rows_file: str | None = "frames.csv",
               metrics_file: str = "metrics.json", video_caption: str | None = None) -> None:
    """report.html: a table of the sequence ``metrics`` with one column per run (e.g. clean and attacked,
    or one real run) and the ``consistency`` checks' rates, or ``table`` (column names, [(row label,
    cells)]) for runs that are not sequences (photo sets); then the video and ``images`` (file names
    beside the report) and links to metrics.json and ``rows_file``. ``video_caption``: what the video's
    colours mean (None: the classifier video's)."""
    if table is not None:
        columns, body = table
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
        rows = [f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                for label, cells in body]
        return _write_page(path, title, head, rows, images, video, note, rows_file, metrics_file,
                           video_caption or VIDEO_CAPTION)
    if not metrics:
        raise PatchsimError("write_html needs sequence metrics or a table")
    runs = list(metrics)

    def row(label: str, cell) -> str:
        return f"<tr><td>{label}</td>" + "".join(f"<td>{cell(metrics[r])}</td>" for r in runs) + "</tr>"

    def streak(m: SequenceMetrics) -> str:
        s = m.longest_fooled_streak
        return (f"{s.frames} frames" + (f", {s.seconds:.2f} s" if s.seconds is not None else "")
                + (f", {s.metres:.1f} m" if s.metres is not None else ""))

    rows = [row("fooled frames", lambda m: f"{100 * m.success:.1f}%"),
            row("flip rate", lambda m: f"{100 * m.flip_rate:.1f}%"),
            row("k-of-n filtered fooled", lambda m: f"{100 * m.k_of_n.success:.1f}%"),
            row("EMA filtered fooled", lambda m: f"{100 * m.ema.success:.1f}%"),
            row("longest fooled streak", streak)]
    for kind, v in (consistency or {}).items():
        rows.append(f"<tr><td>{kind} check: detection / false alarms</td><td colspan={len(runs)}>"
                    f"{100 * (v.detection_rate or 0):.1f}% / {100 * (v.false_alarm_rate or 0):.1f}%</td></tr>")
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(r)}</th>" for r in runs) + "</tr>"
    _write_page(path, title, head, rows, images, video, note, rows_file, metrics_file, video_caption or VIDEO_CAPTION)


CAPTIONS = {
    "success_vs_distance.png": "Fooled frames against distance, clean and attacked (equal distance bins).",
    "heatmap.png": "Attacked: fooled frames per distance and viewing angle.",
    "filters.png": "Fooled frames per frame, after the k-of-n majority filter and after the EMA a tracker would run.",
    "timeline.png": "Eight frames of the sequence: the detector crops, clean (top) and attacked (bottom), with the "
                    "model's reading, distance and confidence.",
    "contact_sheet.png": "Every scored sign: the photo's crop clean, with the sticker pasted raw, and printed and relit.",
    "crops.png": "The detector crops of the scored frames with the model's reading.",
    "sign.png": "The sticker on the sign as designed (sticker.png over the face).",
    "detections.png": "Frames along the approach around the sign, clean (top) and attacked (bottom), with the "
                      "detector's boxes: the sign's class green, other classes blue.",
    "detection_vs_distance.png": "Frames with the sign detected against distance, clean and attacked.",
    "curves.png": "The optimiser's run: loss and validation success per step.",
    "twins_sheet.png": "Each sign: the photo, its relit classifier crop and its condition-matched twin rendered by "
                       "patchsim, with the model's reading (red when fooled).",
    "twins_by_size.png": "Fooled signs against pixels across the sign: the twins (renderer) beside the relit photos.",
}


VIDEO_CAPTION = "The simulated approach, clean (left) and attacked (right): box green when read right, red when fooled."


def _write_page(path: Path, title: str, head: str, rows: list[str], images: list[str], video: str | None,
                note: str, rows_file: str | None, metrics_file: str = "metrics.json",
                video_caption: str = VIDEO_CAPTION) -> None:
    """The page: title, note, the summary table first, then the video and the figures, each captioned
    (:data:`CAPTIONS`, else the file name)."""
    imgs = "".join(f'<figure><img src="{html.escape(i)}" alt="{html.escape(i)}"><figcaption>'
                   f'{html.escape(CAPTIONS.get(i, i))} <span class="file">({html.escape(i)})</span></figcaption></figure>'
                   for i in images)
    vid = (f'<figure><video src="{html.escape(video)}" controls preload="metadata" width="960"></video><figcaption>'
           f'{html.escape(video_caption)} <a href="{html.escape(video)}">{html.escape(video)}</a></figcaption></figure>') if video else ""
    para = f"<p>{html.escape(note)}</p>" if note else ""
    per_row = f', per row: <a href="{html.escape(rows_file)}">{html.escape(rows_file)}</a>' if rows_file else ""
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto;padding:0 12px;line-height:1.4}}
table{{border-collapse:collapse;margin:8px 0 18px}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}
img,video{{max-width:100%}}figure{{margin:14px 0}}figcaption{{color:#333;font-size:90%}}.file{{color:#888}}</style>
</head><body><h1>{html.escape(title)}</h1>{para}
<h2>Summary</h2><table>{head}{''.join(rows)}</table>{vid}{imgs}
<p>Full numbers: <a href="{html.escape(metrics_file)}">{html.escape(metrics_file)}</a>{per_row}.</p></body></html>"""
    atomic_write_bytes(path, doc.encode())
