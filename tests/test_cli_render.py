import json

import numpy as np
import torch

from patchsim.cli import main
from patchsim.io.images import read_image, write_png
from patchsim.render import Conditions
from patchsim.render.geometry import project_corners
from patchsim.records import from_data

from conftest import ROOT


def test_render_writes_frames_crops_conditions_and_sheet(tmp_path, driveby_scene):
    out = tmp_path / "r"
    sticker = np.zeros((300, 300, 3), np.uint8)
    sticker[..., 2] = 255
    write_png(tmp_path / "st.png", sticker)
    rc = main(["render", str(ROOT / "scenes" / "stop_driveby.yaml"), "--n", "3", "--seed", "4", "--mode", "driveby",
               "--sticker", str(tmp_path / "st.png"), "--out", str(out)])
    assert rc == 0
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["0000.png", "0001.png", "0002.png"]
    assert read_image(out / "frames" / "0000.png").shape == (720, 1280, 3)
    assert read_image(out / "crops" / "0002.png").shape == (32, 32, 3)
    assert (out / "contact_sheet.png").is_file()
    doc = json.loads((out / "conditions.json").read_text())
    c = from_data(Conditions, doc["conditions"])
    assert len(c) == 3 and float(c.distance_m[0]) == 40.0 and abs(float(c.distance_m[2]) - 5.0) < 1e-4
    corners = torch.tensor(doc["corners_px"])
    assert corners.shape == (3, 4, 2)
    assert torch.allclose(corners, project_corners(c, driveby_scene.camera, 0.75), atol=1e-3)
    assert doc["corners_order"][0] == "top-left"
    # the blue sticker shows up in the closest frame's crop
    crop = read_image(out / "crops" / "0002.png").astype(float)
    assert (crop[..., 2] - crop[..., 0]).max() > 60


def test_render_bad_inputs_exit_with_message(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    rc = main(["render", "stop_driveby", "--n", "1", "--sticker", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2 and "cannot decode image" in capsys.readouterr().err
    rc = main(["render", "nope.yaml", "--out", str(tmp_path / "o")])
    assert rc == 2 and "scene file not found" in capsys.readouterr().err
    rc = main(["render", "stop_driveby", "--n", "0", "--out", str(tmp_path / "o")])
    assert rc == 2 and "argument --n: '0' is invalid: must be an integer in [1, 10000]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # failed runs leave no output folder behind
