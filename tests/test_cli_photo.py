import json

import numpy as np

from patchsim.cli import main
from patchsim.simulator.camera_sim import CameraSimulator
from patchsim.evaluate.runner import condition_rows, sticker_face
from patchsim.io.images import write_png

from conftest import SHARED
from attack_records import write_attack_dir
from identity import identity_conditions


def _attack_dir(tmp_path, scene):
    st = np.zeros((750, 750, 4), np.uint8)
    st[150:225, 165:585] = (30, 150, 220, 255)
    st[525:600, 165:585] = (220, 150, 30, 255)
    return write_attack_dir(tmp_path / "attack", scene, st, model="test"), st


def test_print_command_writes_pieces_and_chart(tmp_path, driveby_scene):
    d, _ = _attack_dir(tmp_path, driveby_scene)
    assert main(["print", str(d), "--paper", "letter", "--dpi", "100"]) == 0
    data = (d / "print.pdf").read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 4
    assert main(["print", str(d), "--paper", "A3"]) == 2
    assert main(["print", str(tmp_path)]) == 2  # not an attack folder
    write_png(d / "sticker.png", np.zeros((750, 700, 4), np.uint8) + 255)
    assert main(["print", str(d)]) == 2  # a non-square sticker image is refused, not stretched


def test_score_simulated_photos_of_a_stuck_sign(tmp_path, driveby_scene):
    """Photos made by the independent simulator of a sign with the sticker: found, cropped, scored."""
    _, st = _attack_dir(tmp_path, driveby_scene)
    sim = CameraSimulator(driveby_scene, sticker_face(driveby_scene, st, 512))
    cond = identity_conditions(3, distance_m=[6.0, 8.0, 10.0], lateral_m=1.0, vertical_m=0.7, yaw_deg=[0.0, 10.0, -10.0])
    folder = tmp_path / "photos"
    for i, row in enumerate(condition_rows(cond)):
        write_png(folder / f"{i:02d}.png", sim.render(row).image)
    lisa = SHARED / "rp2" / "lisa_cnn.npz"
    model = ["--model", "lisa-cnn", "--weights", str(lisa)] if lisa.exists() else ["--model", "gtsrb-cnn"]
    out = tmp_path / "score"
    assert main(["score", str(folder), *model, "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["frames_scored"] == 3 and m["frames_without_sign"] == []
    rows = (out / "frames.csv").read_text().splitlines()
    assert len(rows) == 4 and all(",octagon" in r for r in rows[1:])
    page = (out / "report.html").read_text()
    assert "3 frames scored, 0 without a sign found" in page and "<th>real</th>" in page and "crops.png" in page
    # user corners override detection
    (tmp_path / "c.json").write_text(json.dumps([[100, 100], [200, 100], [200, 200], [100, 200]]))
    again = ["score", str(folder / "00.png"), *model, "--corners", str(tmp_path / "c.json"), "--out", str(out)]
    assert main(again) == 2  # the folder holds the first run: refused, nothing mixed
    assert main([*again, "--force"]) == 0
    rows = (out / "frames.csv").read_text().strip().splitlines()
    assert len(rows) == 2 and ",corners" in rows[1]  # only the new run's frame


def test_score_errors(tmp_path):
    blank = tmp_path / "blank.png"
    write_png(blank, np.full((64, 64, 3), 90, np.uint8))
    assert main(["score", str(blank), "--out", str(tmp_path / "o")]) == 2
    assert main(["score", str(tmp_path / "none.png"), "--out", str(tmp_path / "o")]) == 2


def test_score_finds_the_sign_with_a_detector(tmp_path, driveby_scene):
    """sign-det finds the simulated sign in every photo; its box makes the crop the classifier scores."""
    import torch

    from patchsim.render import sample_driveby

    sim = CameraSimulator(driveby_scene, sticker_face(driveby_scene, None, 512))
    seq = sample_driveby(driveby_scene, torch.Generator().manual_seed(0))
    cond = seq[torch.tensor([int((seq.distance_m - d).abs().argmin()) for d in (20.0, 12.0, 8.0)])]
    folder = tmp_path / "photos"
    for i, row in enumerate(condition_rows(cond)):
        write_png(folder / f"{i:02d}.png", sim.render(row).image)
    out = tmp_path / "score"
    assert main(["score", str(folder), "--model", "gtsrb-cnn", "--find-with", "sign-det", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["frames_scored"] == 3 and m["frames_without_sign"] == []
    rows = (out / "frames.csv").read_text().splitlines()
    assert all(",detector sign-det" in r for r in rows[1:])
    assert m["metrics"]["real"]["success"] == 0.0  # clean signs, cut where the detector put them: all read stop
    assert main(["score", str(folder), "--find-with", "sign-det", "--sign", "no_passing", "--out", str(tmp_path / "o3")]) == 2
