"""``patchsim evaluate-real``: the evaluator's metrics on real footage of already-cropped signs (a folder
of images or a video) or on GTSRB's real tracks."""

from __future__ import annotations

import logging
from pathlib import Path

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file
from patchsim.evaluate.records import RealSequenceSummary, TracksSummary, write_metrics
from patchsim.evaluate import real, report
from patchsim.objectives.goals import Goal
from patchsim.io.images import resize
from patchsim.defences import load_defended
from patchsim.io.outputs import writes_folder
from patchsim.device import resolve_device

log = logging.getLogger(__name__)


@writes_folder("evaluate-real", ("metrics.json", "frames.csv", "tracks.csv", "report.html"))
def run_real(source: str, model_name: str, out: str | Path, true_class: str | int = "stop", target=None,
             weights: str | None = None, labels: str | None = None, data_dir: str | None = None,
             force: bool = False, device: str | None = "auto",
             defence: str | None = None, allow_partial: bool = False) -> RealSequenceSummary | TracksSummary:
    """Score ``source``: a folder of sign images, a video of a sign filling the frame, or ``gtsrb`` (the
    real tracks of ``train.npz``). Writes metrics.json and frames.csv plus report.html into ``out``; for
    gtsrb metrics.json and tracks.csv."""

    model = load_defended(model_name, weights=weights, labels=labels, defence=defence).to(resolve_device(device))
    out = Path(out)
    if source == "gtsrb":
        from patchsim.models.train import default_data_dir, load_gtsrb

        data = load_gtsrb(data_dir or default_data_dir(), "train")
        stats = real.gtsrb_tracks(model, data)
        per = stats.pop("per_track")
        tracks = TracksSummary(source="gtsrb train tracks", model=model_name, **stats)
        write_metrics(out / "metrics.json", tracks)
        report.write_frames_csv(out / "tracks.csv", per)
        log.info("GTSRB tracks: %.1f%% flicker, mean flip rate %.4f", 100 * tracks.tracks_that_flicker,
                 tracks.mean_flip_rate)
        return tracks
    src = Path(source)
    if src.is_dir():
        frames, fps = real.folder_frames(src), None
    elif src.is_file():
        frames, fps = real.video_frames(src, allow_partial), real.video_fps(src)
    else:
        raise missing_file(source, "source", "a folder of images, a video file, or 'gtsrb'")
    size = model.input_size[0]
    names, crops = [], []
    for name, img in frames:
        names.append(name)
        crops.append(resize(img, size, size))
    goal = Goal.from_classes(model.classes, true_class, target)
    records, metrics = real.sequence_from_crops(model, names, crops, goal, fps)
    summary = RealSequenceSummary(str(source), model_name, fps, len(names), metrics)
    write_metrics(out / "metrics.json", summary)
    report.write_frames_csv(out / "frames.csv", [r.to_row() for r in records])
    report.write_html(out / "report.html", f"patchsim evaluate-real: {source}, {model_name}", [],
                      metrics={"real": metrics})
    return summary
