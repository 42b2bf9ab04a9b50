"""``patchsim detect`` and ``patchsim train-detector``: outputs, and bad input as one-line errors before any
heavy work."""

import json
from pathlib import Path

import numpy as np

from patchsim.cli import main
from patchsim.io.images import write_png


def _img(path, shape=(90, 160, 3)):
    write_png(path, np.full(shape, 120, np.uint8))
    return path


def test_detect_writes_round_tripping_json_and_refuses_a_used_folder(tmp_path, capsys):
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "b.png", (120, 120, 3))
    out = tmp_path / "out"
    assert main(["detect", "sign-det", str(a), str(b), "--out", str(out)]) == 0
    doc = json.loads((out / "detections.json").read_text())
    data = doc["images"]
    assert doc["schema_version"] == 2 and [d["file"] for d in data] == ["a.png", "b.png"]
    for d in data:  # a flat grey image holds no sign
        assert d["detections"] == []
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["a.jpg", "b.jpg"]
    assert main(["detect", "sign-det", str(a), "--out", str(out)]) == 2  # not empty: --force to replace
    assert "--force" in capsys.readouterr().err
    assert main(["detect", "sign-det", str(a), "--out", str(out), "--force"]) == 0
    assert [d["file"] for d in json.loads((out / "detections.json").read_text())["images"]] == ["a.png"]


def test_detect_bad_input_is_one_line(tmp_path, capsys):
    img = _img(tmp_path / "a.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    _img(tmp_path / "sub" / "a.png")
    cases = [
        (["detect", "sign-det", str(tmp_path / "missing.png")], "not found"),
        (["detect", "sign-det", str(tmp_path / "empty")], "holds no images"),
        (["detect", "sign-det", str(tmp_path / "notes.txt")], "not an image file"),
        (["detect", "sign-det", str(img), str(tmp_path / "sub")], "both named a.png"),
        (["detect", "sign-det", str(img), "--score-threshold", "2"], "--score-threshold"),
        (["detect", "sign-det", str(img), "--input-size", "16", "16"], "--input-size"),
        (["detect", "no-such-detector", str(img)], "unknown detector"),
        (["detect", str(tmp_path / "m.onnx"), str(img)], "not found"),
    ]
    for argv, said in cases:
        assert main([*argv, "--out", str(tmp_path / "o")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert said in err and len(err.splitlines()) == 1, (argv, err)
        assert not (tmp_path / "o").exists()  # nothing half-written


def test_train_detector_bad_data_folder_is_one_line(tmp_path, capsys):
    assert main(["train-detector", "--out", str(tmp_path / "w.safetensors"), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--data" in err and "gtsrb" in err and len(err.splitlines()) == 1
    assert main(["train-detector", "--out", str(tmp_path / "w.safetensors"), "--steps", "0"]) == 2


def test_detect_never_writes_one_annotated_image_over_another(tmp_path):
    """a.png and a.jpg share a stem: each gets its own annotated image."""
    from patchsim.jobs.detect import annotated_names

    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "a.jpg", (90, 90, 3))
    out = tmp_path / "out"
    assert main(["detect", "sign-det", str(a), str(b), "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["a_jpg.jpg", "a_png.jpg"]
    assert annotated_names([Path("x/a.png"), Path("y/b.PNG"), Path("a.JPG")]) == ["a_png.jpg", "b.jpg", "a_jpg.jpg"]
