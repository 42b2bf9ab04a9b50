"""The README's quick start runs as written (the attack with ``--steps 2 --no-sim-to-real`` added, both
documented options), and the README stays a short user's document."""

import shlex
from pathlib import Path

import pytest

from conftest import SHARED
from patchsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICK = {"attack": ["--steps", "2", "--no-sim-to-real"]}  # small and fast; both options are in the README / --help


def quick_start_commands(heading: str = "## Quick start") -> list[list[str]]:
    """The ``patchsim ...`` lines of the first code block under ``heading``."""
    text = README.read_text()
    block = text.split(heading, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in block.strip().splitlines() if line.startswith("patchsim ")]


def test_readme_is_short_and_links_the_docs():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for doc in ("docs/scene-format.md", "docs/file-formats.md", "docs/architecture.md", "docs/conventions.md",
                "CHANGELOG.md"):
        assert doc in text and (ROOT / doc).is_file(), doc


def test_quick_start_runs_as_written(tmp_path, monkeypatch):
    cmds = quick_start_commands()
    assert [c[0] for c in cmds] == ["attack", "evaluate", "print", "evaluate-photos"]
    if not (SHARED / "rp2").is_dir():
        pytest.skip(f"RP2's photos are not in {SHARED} (evaluate-photos rp2 needs them)")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").symlink_to(ROOT / "scenes")
    for argv in cmds:
        assert main(argv + QUICK.get(argv[0], [])) == 0, argv
    assert (tmp_path / "runs" / "attack" / "sticker.png").is_file()
    assert (tmp_path / "runs" / "evaluate" / "metrics.json").is_file()
    assert (tmp_path / "runs" / "attack" / "print.pdf").is_file()
    assert (tmp_path / "runs" / "photos" / "photos.csv").is_file()


def test_detector_quick_start_runs_as_written(tmp_path, monkeypatch):
    """The detector block: the attack (2 steps) takes the scene's detector layout, and evaluate says
    whether the braking car stops."""
    import json

    cmds = quick_start_commands("### Attacking a detector")
    assert [c[0] for c in cmds] == ["attack", "evaluate"] and "sign-det" in cmds[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").symlink_to(ROOT / "scenes")
    quick = {"attack": QUICK["attack"] + ["--val-size", "16"]}  # a detector validates on whole windows: fewer
    for argv in cmds:
        assert main(argv + quick.get(argv[0], [])) == 0, argv
    rec = json.loads((tmp_path / "runs" / "det" / "attack.json").read_text())
    assert rec["scene_resolved"]["eot"]["distance_m"] == [5.0, 55.0]
    m = json.loads((tmp_path / "runs" / "det_eval" / "metrics.json").read_text())
    assert m["header"]["kind"] == "detector" and m["runs"]["attacked"]["braking"] is not None


def test_vinyl_block_runs_as_written_and_writes_cut_files(tmp_path, monkeypatch):
    """The vinyl block: both attacks (2 steps) write a cut file per colour they use."""
    cmds = quick_start_commands("### Stickers you cut from vinyl")
    assert [c[0] for c in cmds] == ["attack", "attack"] and "--style" in cmds[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").symlink_to(ROOT / "scenes")
    for argv in cmds:
        assert main(argv + QUICK["attack"] + ["--val-size", "8"]) == 0, argv
    assert list((tmp_path / "runs" / "vinyl").glob("cut_*.svg"))
    assert {p.name for p in (tmp_path / "runs" / "bw").glob("cut_*.svg")} <= {"cut_black.svg", "cut_white.svg"}
