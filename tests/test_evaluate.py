import json

import cv2
import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb

from patchsim.cli import main
from patchsim.evaluate import consistency
from patchsim.evaluate.records import METRICS_SCHEMA
from patchsim.simulator.camera_sim import CameraSimulator
from patchsim.render.crop import detector_crop
from patchsim.evaluate.runner import condition_rows
from patchsim.io.images import write_png
from patchsim.render import Renderer, sample_eot
from patchsim.scene import load_scene
from patchsim.signs import draw_face_array

from identity import identity_conditions
from scene_fixtures import write_grey_driveby


@pytest.fixture(scope="module")
def grey_scene(tmp_path_factory):
    """The drive-by scene with a plain grey background image (both simulators honour it)."""
    return load_scene(write_grey_driveby(tmp_path_factory.mktemp("grey"), 12.0))


def test_simulator_and_renderer_agree_on_corners(driveby_scene):
    sim = CameraSimulator(driveby_scene, draw_face_array("stop", 256))
    cond = sample_eot(driveby_scene, 50, torch.Generator().manual_seed(3))
    from patchsim.render.geometry import project_corners

    ours = project_corners(cond, driveby_scene.camera, driveby_scene.sign.size_m).numpy()
    theirs = np.stack([sim.corners(r) for r in condition_rows(cond)])
    assert np.abs(ours - theirs).max() < 1.0


def test_simulator_and_renderer_agree_on_clean_colour(grey_scene):
    """Same conditions, clean sign: the mean colour of the frame and of the sign region agree."""
    base = dict(distance_m=[6.0, 9.0], lateral_m=1.5, vertical_m=0.8, yaw_deg=[0.0, 20.0], ambient=[0.8, 1.0],
                sun=0.3, color_temp_k=5500.0)
    cond = identity_conditions(2, **base)
    renderer = Renderer.from_scene(grey_scene, face_resolution=256)
    ren = renderer.render_frames(cond).images
    sim = CameraSimulator(grey_scene, draw_face_array("stop", 512))
    for i, row in enumerate(condition_rows(cond)):
        s = torch.from_numpy(sim.render(row).image).permute(2, 0, 1).float() / 255
        r = ren[i]
        assert (s.mean((1, 2)) - r.mean((1, 2))).abs().max() < 0.01
        corners = sim.corners(row)
        x0, y0 = corners.min(0).astype(int) + 8
        x1, y1 = corners.max(0).astype(int) - 8
        sign_s = rgb_to_linear_rgb(s[None, :, y0:y1, x0:x1])[0].mean((1, 2))
        sign_r = rgb_to_linear_rgb(r[None, :, y0:y1, x0:x1])[0].mean((1, 2))
        assert (sign_s - sign_r).abs().max() < 0.03
        assert sign_s[0] > 2 * sign_s[1]  # it is the red sign


def test_detector_crop_geometry():
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:60, 20:40] = 255  # a 20 px white square at x 20..39, y 40..59
    crop = detector_crop(img, (19.5, 39.5, 20.0), 10)
    assert crop.min() == 255  # the box covers exactly the square
    crop = detector_crop(img, (9.5, 29.5, 40.0), 8)  # square in the middle half
    assert crop[2:6, 2:6].min() == 255 and crop[0, 0].max() == 0


class _Threshold(torch.nn.Module):
    """Class 1 when the crop's mean brightness exceeds a threshold: fragile to imperceptible change."""

    def __init__(self, thr):
        super().__init__()
        self.thr = thr

    def forward(self, x):
        p = (x.mean((1, 2, 3)) > self.thr).float()
        return torch.stack([1 - p, p], 1) * 10


def test_flow_check_flags_prediction_change_without_image_change():
    rng = np.random.default_rng(0)
    base = (rng.random((120, 160, 3)) * 200).astype(np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 3)
    cur = base.copy()
    cur[50:70, 70:90] += 1  # imperceptible change
    box = (60.0, 40.0, 40.0)
    warped = consistency.warp_previous(base, cur, box)
    # no motion: the warped previous frame is the previous frame
    assert np.abs(warped.astype(int) - base.astype(int)).mean() < 1.0
    c_cur = torch.from_numpy(detector_crop(cur, box, 16)).permute(2, 0, 1)[None].float() / 255
    c_warp = torch.from_numpy(detector_crop(warped, box, 16)).permute(2, 0, 1)[None].float() / 255
    thr = float((c_cur.mean() + c_warp.mean()) / 2)
    model = _Threshold(thr)
    flagged = int(model(c_cur).argmax()) != int(model(c_warp).argmax())
    assert flagged
    # a stable model on the same pair is not flagged
    stable = _Threshold(0.99)
    assert int(stable(c_cur).argmax()) == int(stable(c_warp).argmax())


def test_flow_follows_motion():
    rng = np.random.default_rng(1)
    prev = cv2.GaussianBlur((rng.random((120, 160, 3)) * 255).astype(np.uint8), (0, 0), 2)
    cur = np.roll(prev, 3, axis=1)  # the scene moved 3 px right
    warped = consistency.warp_previous(prev, cur, (50.0, 30.0, 50.0))
    inner = (slice(35, 75), slice(60, 95))
    after = np.abs(warped[inner].astype(int) - cur[inner].astype(int)).mean()
    before = np.abs(prev[inner].astype(int) - cur[inner].astype(int)).mean()
    assert after < 0.35 * before and before > 5


def test_evaluate_cli_end_to_end(grey_scene, tmp_path):
    st = np.zeros((300, 300, 4), np.uint8)
    st[60:90, 66:234] = (20, 160, 220, 255)
    st[210:240, 66:234] = (20, 160, 220, 255)
    write_png(tmp_path / "sticker.png", st)
    out = tmp_path / "ev"
    from conftest import SHARED

    lisa = SHARED / "rp2" / "lisa_cnn.npz"
    args = ["--model", "lisa-cnn", "--weights", str(lisa)] if lisa.exists() else ["--model", "gtsrb-cnn"]
    assert main(["evaluate", str(grey_scene.path), "--sticker", str(tmp_path / "sticker.png"), *args,
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["schema_version"] == METRICS_SCHEMA.version and m["header"]["kind"] == "classifier"
    assert m["header"]["frames"] == 22 and set(m["metrics"]) == {"clean", "attacked"}
    assert m["metrics"]["clean"]["success"] <= 0.2  # the clean sign is read as stop
    lines = (out / "frames.csv").read_text().strip().splitlines()
    assert len(lines) == 23 and "attacked_pred" in lines[0]
    from patchsim.evaluate.records import read_evaluation, read_frames_csv

    rec, frames = read_evaluation(out / "metrics.json"), read_frames_csv(out / "frames.csv")
    assert rec.metrics["attacked"].success == np.mean([f.attacked.fooled for f in frames])
    assert sum(b.n for b in rec.metrics["attacked"].per_distance) == 22  # every frame in a distance bin
    import av

    with av.open(str(out / "driveby.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
        frames_decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames_decoded) == 22 and frames_decoded[0].shape == (360, 1280, 3)
    for f in ("report.html", "success_vs_distance.png", "filters.png", "timeline.png"):
        assert (out / f).stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert "<th>clean</th><th>attacked</th>" in page and "flow check: detection / false alarms" in page


def test_real_folder_sequence(tmp_path):
    from conftest import SHARED

    src = SHARED / "rp2" / "victims_256"
    if not src.exists():
        pytest.skip(f"real data not found at {src}")
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, name in enumerate(["1.png", "2.png", "3.png", "4.png"]):
        (folder / f"{i:03d}.png").write_bytes((src / name).read_bytes())
    out = tmp_path / "r"
    assert main(["evaluate-real", str(folder), "--model", "lisa-cnn", "--weights", str(SHARED / "rp2" / "lisa_cnn.npz"),
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["frames"] == 4 and m["metrics"]["success"] == 0.0 and m["metrics"]["flip_rate"] == 0.0
    page = (out / "report.html").read_text()
    assert "<th>real</th>" in page and "<td>fooled frames</td><td>0.0%</td>" in page


def test_gtsrb_tracks_flicker_stats():
    from patchsim.evaluate.real import gtsrb_tracks

    class Oracle(torch.nn.Module):
        """Right on every frame except frame 2 of each track."""

        classes = [str(i) for i in range(43)]

        def __init__(self, y):
            super().__init__()
            self.y = y
            self.i = 0

        def forward(self, x):
            out = torch.zeros(len(x), 43)
            for j in range(len(x)):
                k = self.i + j
                out[j, int(self.y[k]) if k % 5 != 2 else 0] = 10
            self.i += len(x)
            return out

    y = np.repeat([14, 5], 5)
    data = {"x": np.zeros((10, 32, 32, 3), np.uint8), "y": y, "track": np.repeat([7, 8], 5)}
    s = gtsrb_tracks(Oracle(y), data, k=2, n=3)
    assert s["tracks"] == 2 and s["frame_accuracy"] == 0.8
    assert s["mean_flip_rate"] == 0.5 and s["tracks_that_flicker"] == 1.0 and s["k_of_n_final_correct"] == 1.0


def test_sweep_table(grey_scene, tmp_path):
    import csv

    from conftest import SHARED

    lisa = SHARED / "rp2" / "lisa_cnn.npz"
    if not lisa.exists():
        pytest.skip(f"real data not found at {lisa}")
    assert main(["sweep", "--scenes", str(grey_scene.path), "--models", f"lisa-cnn@{lisa}", "--seeds", "0", "1",
                 "--out", str(tmp_path / "sw")]) == 0
    table = list(csv.DictReader((tmp_path / "sw" / "results.csv").open()))
    assert [r["seed"] for r in table] == ["0", "1"] and all(r["frames"] == "22" for r in table)
    assert all(float(r["clean_fooled"]) <= 0.2 for r in table)
    assert (tmp_path / "sw" / "summary.png").is_file() and (tmp_path / "sw" / "run001" / "metrics.json").is_file()
