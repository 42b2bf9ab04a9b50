"""The streaming evaluator, its records and sinks: known-answer summaries, round trips, plot data."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from patchsim.errors import PatchsimError
from patchsim.evaluate import report
from patchsim.evaluate.metrics import value_edges
from patchsim.evaluate.records import METRICS_SCHEMA
from patchsim.evaluate.records import (EvaluationHeader, EvaluationRecord, FrameRecord, RunFrame, read_evaluation,
                                       read_frames_csv, write_metrics)
from patchsim.evaluate.runner import (BinEdges, EvalSettings, EvaluatedFrame, MetricsSink, bin_edges, drain,
                                      evaluate_frames, summarise)
from patchsim.objectives.goals import Goal
from patchsim.records import from_data, to_data
from patchsim.render import sample_driveby

STOP, TARGET = 1, 2
CLASSES = ["other", "stop", "target"]


def _run(pred: int, fooled: bool, flow_flag=False, agree=1.0) -> RunFrame:
    return RunFrame(CLASSES[pred], 0.9, 0.1, 0.05, fooled, flow_flag, agree)


def _sequence():
    """Six frames from 30 m to 5 m; attacked: TARGET on frames 1-3 and 5; the flow check flags attacked
    frames 2 and 5 and clean frame 4; spatial agreement below 0.5 on attacked frame 3 only."""
    dist = [30.0, 25.0, 20.0, 15.0, 10.0, 5.0]
    att = [STOP, TARGET, TARGET, TARGET, STOP, TARGET]
    recs = []
    for i, d in enumerate(dist):
        recs.append(FrameRecord(i, d, 0.0, 2.5, 0.8, 30.0 - 4 * i,
                                clean=_run(STOP, False, flow_flag=(i == 4)),
                                attacked=_run(att[i], att[i] == TARGET, flow_flag=i in (2, 5),
                                              agree=1 / 3 if i == 3 else 1.0)))
    probs = {"clean": np.eye(3, dtype=np.float32)[[STOP] * 6], "attacked": np.eye(3, dtype=np.float32)[att]}
    return recs, probs


def test_summarise_known_answer():
    recs, probs = _sequence()
    edges = BinEdges((0.0, 10.0, 20.0, 40.0), (-1.0, 1.0), (0.5, 1.0))
    res = summarise(recs, probs, Goal(STOP, TARGET), EvalSettings(k=2, n=3, alpha=1.0), edges, fps=10.0, speed_mps=5.0)
    a, c = res.metrics["attacked"], res.metrics["clean"]
    assert a.success == 4 / 6 and c.success == 0.0
    assert a.flip_rate == 3 / 5 and c.flip_rate == 0.0
    assert a.longest_fooled_streak.frames == 3 and a.longest_fooled_streak.start == 1
    assert a.longest_fooled_streak.seconds == pytest.approx(0.3) and a.longest_fooled_streak.metres == pytest.approx(1.5)
    assert a.first_fooled_distance_m == 25.0 and a.last_fooled_distance_m == 5.0
    # 2-of-3 decisions: S, -, T, T, T, T -> 4 of 6 fooled
    assert a.k_of_n.success == 4 / 6 and a.k_of_n.final_decision == TARGET
    # bins [0, 10): 5 m; [10, 20): 15, 10 m; [20, 40): 30, 25, 20 m
    assert [(b.n, b.success) for b in a.per_distance] == [(1, 1.0), (2, 0.5), (3, 2 / 3)]
    assert a.mean_target_probability == pytest.approx(4 / 6) and a.mean_confidence == 1.0
    assert a.spatial_agreement == pytest.approx((5 + 1 / 3) / 6)
    assert res.consistency["flow"].detection_rate == 2 / 6 and res.consistency["flow"].false_alarm_rate == 1 / 6
    assert res.consistency["spatial"].detection_rate == 1 / 6 and res.consistency["spatial"].false_alarm_rate == 0.0


def test_summarise_rejects_mismatched_inputs():
    recs, probs = _sequence()
    with pytest.raises(PatchsimError, match="summarise needs"):
        summarise(recs[:3], probs, Goal(STOP), EvalSettings(), BinEdges((0.0, 50.0), (-1.0, 1.0), (0.0, 2.0)))


def test_frame_record_csv_round_trip(tmp_path):
    recs, _ = _sequence()
    recs[0] = dataclasses.replace(recs[0], clean=dataclasses.replace(recs[0].clean, target_prob=None),
                                  distance_m=39.66666793823242)
    sink = report.FramesCsvSink(tmp_path / "frames.csv")
    for r in recs:
        sink.add(EvaluatedFrame(r, {}, {}))
    assert sink.close() == recs
    assert read_frames_csv(tmp_path / "frames.csv") == recs


def test_evaluation_record_round_trip(tmp_path):
    recs, probs = _sequence()
    res = summarise(recs, probs, Goal(STOP, TARGET), EvalSettings(), BinEdges((0.0, 50.0), (-1.0, 1.0), (0.5, 1.0)),
                    fps=30.0, speed_mps=10.0)
    header = EvaluationHeader("classifier", "s.yaml", "driveby", "m", None, 0, "target", "inkjet", 6, 30.0, 1.5, "sim")
    rec = EvaluationRecord(header, "stop", 10.0, dataclasses.asdict(EvalSettings()), res.metrics, res.consistency)
    write_metrics(tmp_path / "metrics.json", rec)
    assert read_evaluation(tmp_path / "metrics.json") == rec
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert list(data)[:2] == ["schema_version", "header"] and data["schema_version"] == METRICS_SCHEMA.version
    v1 = {**{k: v for k, v in data.items() if k not in ("schema_version", "header")},
          **{k: v for k, v in data["header"].items() if k != "kind"}}  # version 1: the header fields flat
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    assert read_evaluation(tmp_path / "v1.json") == rec
    del data["schema_version"]
    assert data["metrics"]["attacked"]["k_of_n"]["k"] == 3  # the JSON layout users read
    data["metrics"]["attacked"]["surprise"] = 1
    with pytest.raises(PatchsimError, match=r"metrics.attacked: unknown keys \['surprise'\]"):
        from_data(EvaluationRecord, data)
    del data["metrics"]["attacked"]["surprise"], data["header"]["wall_s"]
    with pytest.raises(PatchsimError, match="missing key 'wall_s'"):
        from_data(EvaluationRecord, data)


def test_records_to_data_types():
    with pytest.raises(PatchsimError, match="expected a number"):
        from_data(RunFrame, {**to_data(_run(1, False)), "conf": "high"})
    with pytest.raises(PatchsimError, match="expected bool"):
        from_data(RunFrame, {**to_data(_run(1, False)), "fooled": 1})


def test_plot_data():
    recs, probs = _sequence()
    curve = report.distance_curve(recs, bins=2)  # edges 5 .. 30: [5, 17.5) and [17.5, 30]
    assert curve["attacked"][0] == pytest.approx([11.25, 23.75]) and curve["attacked"][1] == pytest.approx([200 / 3] * 2)
    assert curve["clean"][1] == [0.0, 0.0]
    ds, ys, grid = report.heatmap_grid(recs)
    assert ds == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0] and ys == [0.0]
    assert grid.tolist() == [[100.0, 0.0, 100.0, 100.0, 100.0, 0.0]]
    res = summarise(recs, probs, Goal(STOP, TARGET), EvalSettings(k=2, n=3), BinEdges((0.0, 50.0), (-1.0, 1.0), (0.5, 1.0)))
    labels, bars = report.filter_bars(res.metrics)
    assert labels == ["per frame", "2-of-3", "EMA"]
    assert bars["attacked"][:2] == [pytest.approx(400 / 6), pytest.approx(400 / 6)] and bars["clean"] == [0.0] * 3


def test_bins_follow_the_scene(driveby_scene, lab_scene):
    e = bin_edges(driveby_scene, "driveby")
    d = driveby_scene.driveby
    assert e.distance_m[0] <= d.end_m and e.distance_m[-1] > d.start_m
    g = bin_edges(lab_scene, "grid")
    assert len(g.distance_m) == len(lab_scene.grid.distances_m) + 1 and len(g.yaw_deg) == len(lab_scene.grid.angles_deg) + 1
    # float32 samples of round figures fall in their own bin
    from patchsim.evaluate.metrics import binned

    b = binned(np.float32([0.7, 0.8, 0.9]).astype(np.float64), np.ones(3, bool), value_edges([0.7, 0.8, 0.9]))
    assert [x.n for x in b] == [1, 1, 1]
    with pytest.raises(PatchsimError, match="mode must be"):
        bin_edges(driveby_scene, "orbit")


class _Const(torch.nn.Module):
    """A 3-class model that reads a crop's mean red minus mean blue: red-ish crops are 'stop'."""

    classes = CLASSES
    input_size = (32, 32)

    def forward(self, x):
        s = (x[:, 0] - x[:, 2]).mean((1, 2))
        return torch.stack([torch.zeros_like(s), 20 * s, -20 * s], 1)


def test_stream_in_order_and_batch_independent(driveby_scene):
    import dataclasses as dc

    scene = dc.replace(driveby_scene, driveby=dc.replace(driveby_scene.driveby, start_m=8.0, end_m=5.0))
    cond = sample_driveby(scene, torch.Generator().manual_seed(0))
    st = np.zeros((64, 64, 4), np.uint8)
    st[16:48, 16:48] = (0, 0, 255, 255)
    goal = Goal(STOP, TARGET)
    out = {}
    for batch in (1, 7, 64):
        frames = list(evaluate_frames(scene, _Const(), goal, cond, st, EvalSettings(batch=batch, spatial_k=2), False))
        assert [f.record.frame for f in frames] == list(range(len(cond)))
        assert all(f.probs["attacked"].shape == (3,) for f in frames)
        out[batch] = [f.record for f in frames]
    assert out[1] == out[7] == out[64]
    res = drain(evaluate_frames(scene, _Const(), goal, cond, st, EvalSettings(), False),
                [MetricsSink(goal, EvalSettings(), bin_edges(scene, "driveby"))])[0]
    assert res.metrics["clean"].frames == len(cond)
    assert res.metrics["attacked"].mean_target_probability > res.metrics["clean"].mean_target_probability


def test_drain_aborts_sinks_on_failure(tmp_path):
    recs, _ = _sequence()

    def broken():
        yield EvaluatedFrame(recs[0], {}, {})
        raise RuntimeError("model crashed")

    video = report.VideoSink(tmp_path / "driveby.webm", 10.0, 1280)
    with pytest.raises(RuntimeError, match="model crashed"):
        drain(broken(), [report.FramesCsvSink(tmp_path / "frames.csv"), _NoViews(video)])
    assert list(tmp_path.iterdir()) == []  # neither a video nor a CSV, not even a temporary file


class _NoViews:
    """Passes abort through to the video sink but ignores frames (they carry no images here)."""

    def __init__(self, sink):
        self.sink = sink

    def add(self, frame):
        pass

    def close(self):
        return self.sink.close()

    def abort(self):
        self.sink.abort()
