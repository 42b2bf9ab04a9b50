"""The output policy, command by command: every command that writes runs for real into a folder that
also holds files it did not write; a second run without ``--force`` is refused in one line and changes
nothing; with ``--force`` it replaces its own outputs and leaves every other file (at the top and inside
its own sub-folders) exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from patchsim.cli import main
from patchsim.io.images import write_png
from patchsim.io.outputs import MANIFEST

from attack_records import write_attack_dir
from conftest import SHARED
from gtsrb_fixtures import write_tiny_gtsrb
from scene_fixtures import write_grey_driveby
from test_realphoto_placement import PERSPECTIVE, perspective_photo


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, driveby_scene):
    """Small real inputs for every command: a short grey drive-by scene, a sticker, an attack folder,
    photos of a stop sign (with corners), a tiny GTSRB-shaped data folder, a printed chart."""
    d = tmp_path_factory.mktemp("inputs")
    write_grey_driveby(d, 10.0)
    st = np.zeros((300, 300, 4), np.uint8)
    st[60:90, 66:234] = (20, 160, 220, 255)
    write_png(d / "sticker.png", st)
    write_attack_dir(d / "attack", driveby_scene, st)
    photos = d / "photos"
    photos.mkdir()
    write_png(photos / "a.png", perspective_photo(PERSPECTIVE))
    write_png(photos / "b.png", perspective_photo([[140, 70], [330, 70], [330, 260], [140, 260]]))
    (photos / "corners.json").write_text(json.dumps({"a.png": PERSPECTIVE}))
    write_tiny_gtsrb(d / "gtsrb", 12)
    from patchsim.printing.chart import ChartLayout, draw_chart

    chart = draw_chart(8.0, ChartLayout())
    write_png(d / "chart.png", np.pad(chart[..., :3], ((80, 80), (80, 80), (0, 0)), constant_values=200))
    return d


def _folder_commands(f: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """command -> (argv without --out, the sub-folders it writes)."""
    scene, sticker = str(f / "scene.yaml"), str(f / "sticker.png")
    return {
        "render": (["render", scene, "--n", "2"], ("frames", "crops")),
        "attack": (["attack", scene, "--steps", "1", "--batch", "2", "--dpi", "30", "--no-sim-to-real"], ()),
        "evaluate": (["evaluate", scene, "--sticker", sticker, "--no-video"], ()),
        "evaluate-real": (["evaluate-real", str(f / "photos")], ()),
        "sweep": (["sweep", "--scenes", scene, "--models", "gtsrb-cnn", "--stickers", sticker, "--seeds", "0"], ("run000",)),
        "score": (["score", str(f / "photos"), "--model", "gtsrb-cnn"], ()),
        "evaluate-photos": (["evaluate-photos", str(f / "photos"), "--sticker", sticker], ()),
        "detect": (["detect", "sign-det", str(f / "photos")], ("annotated",)),
    }


def _file_commands(f: Path) -> dict[str, tuple[list[str], str, tuple[str, ...]]]:
    """command -> (argv without --out, the output's name, the files written beside it)."""
    tiny = str(f / "gtsrb")
    return {
        "train": (["train", "gtsrb-cnn", "--data", tiny, "--epochs", "1"], "w.safetensors", ("w.json",)),
        "harden": (["harden", "gtsrb-cnn", "--data", tiny, "--steps", "1", "--limit", "16"], "h.safetensors", ("h.json",)),
        "poison": (["poison", "--model", "gtsrb-cnn", "--data", tiny, "--epochs", "1", "--rate", "0.05"], "p.safetensors",
                   ("p.json", "p.trigger.png")),
        "certify": (["certify", "gtsrb-cnn", "--data", tiny, "--every", "3", "--scene", "none"], "c.json", ()),
        "inspect-data": (["inspect-data", "gtsrb-cnn", "--data", str(f / "gtsrb" / "train.npz")], "i.json", ()),
        "calibrate": (["calibrate", str(f / "chart.png")], "profile.json", ("profile.palette.json",)),
        "print": (["print", str(f / "attack"), "--dpi", "30"], "sticker.pdf", ()),
    }


def _state(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", list(_folder_commands(Path("."))))
def test_force_in_a_folder_command_keeps_every_file_it_did_not_write(command, inputs, tmp_path, capsys):
    argv, subs = _folder_commands(inputs)[command]
    out = tmp_path / "out"
    assert main(argv + ["--out", str(out)]) == 0, capsys.readouterr().err
    mine = {"mine.txt": b"my notes", **{f"{s}/mine.png": b"my picture" for s in subs}}
    for name, data in mine.items():
        (out / name).write_bytes(data)
    before = _state(out)
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and _state(out) == before  # refused, nothing touched
    assert main(argv + ["--out", str(out), "--force"]) == 0, capsys.readouterr().err
    after = _state(out)
    assert all(after[name] == data for name, data in mine.items())  # never the command's to remove
    listed = (out / MANIFEST).read_text().splitlines()
    assert listed[0] == f"#patchsim {command}" and not set(mine) & set(listed)
    assert set(after) == set(listed[1:]) | set(mine) | {MANIFEST}  # nothing else left behind: no stale, no temporary files


@pytest.mark.parametrize("command", list(_file_commands(Path("."))))
def test_force_in_a_file_command_replaces_only_its_own_files(command, inputs, tmp_path, capsys):
    argv, name, sidecars = _file_commands(inputs)[command]
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "mine.txt").write_bytes(b"my notes")
    (folder / "other.safetensors").write_bytes(b"someone else's weights")
    out = folder / name
    out.write_bytes(b"an earlier file of the same name")
    before = _state(folder)
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --force" in err and _state(folder) == before
    assert main(argv + ["--out", str(out), "--force"]) == 0, capsys.readouterr().err
    after = _state(folder)
    assert after["mine.txt"] == b"my notes" and after["other.safetensors"] == b"someone else's weights"
    assert after[name] != b"an earlier file of the same name"
    assert set(after) == {"mine.txt", "other.safetensors", name, *sidecars}  # no checkpoint or temporary left


def test_train_detector_refuses_an_existing_file_before_any_work(tmp_path, capsys):
    out = tmp_path / "d.safetensors"
    out.write_bytes(b"old")
    assert main(["train-detector", "--steps", "1", "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert main(["train-detector", "--out", str(tmp_path / "d.json")]) == 2  # the card would replace it
    assert "would replace it" in capsys.readouterr().err


@pytest.mark.slow  # builds the synthesis textures and scores the street sets: minutes
@pytest.mark.skipif(not (SHARED / "gtsrb" / "train.npz").exists(), reason=f"shared data not found at {SHARED}")
def test_train_detector_keeps_what_it_did_not_write(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "mine.txt").write_bytes(b"my notes")
    out = folder / "d.safetensors"
    out.write_bytes(b"old")
    assert main(["train-detector", "--steps", "1", "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert main(["train-detector", "--steps", "1", "--out", str(out), "--force"]) == 0, capsys.readouterr().err
    assert _state(folder).keys() == {"mine.txt", "d.safetensors", "d.json"} and (folder / "mine.txt").read_bytes() == b"my notes"
