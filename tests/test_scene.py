import copy

import pytest
import yaml

from patchsim.errors import SceneError
from patchsim.scene import find_scene, load_scene
from patchsim.scene import parse_scene, scene_to_data

from conftest import ROOT


def base():
    return yaml.safe_load((ROOT / "scenes" / "stop_driveby.yaml").read_text())


def test_packaged_scenes_load(driveby_scene, lab_scene):
    s = driveby_scene
    assert s.sign.class_name == "stop" and s.sign.size_m == 0.75 and s.sign.mount_height_m == 2.1
    assert (s.camera.width, s.camera.height, s.camera.hfov_deg, s.camera.height_m) == (1280, 720, 60.0, 1.4)
    assert (s.driveby.start_m, s.driveby.end_m, s.driveby.speed_mps, s.driveby.fps) == (40.0, 5.0, 10.0, 30.0)
    assert len(s.sticker.regions) == 1 and s.sticker.regions[0].points[0] == (190.0, 290.0)
    assert lab_scene.grid.distances_m[0] == 1.5 and lab_scene.grid.distances_m[-1] == 12.0
    assert max(lab_scene.grid.angles_deg) == 30.0
    assert lab_scene.lighting.sun == (0.0, 0.0)


def test_scene_by_name():
    assert find_scene("stop_lab").name == "stop_lab.yaml"
    with pytest.raises(SceneError, match="packaged scenes: .*stop_driveby"):
        find_scene("no_such_scene")


def test_scene_is_frozen(driveby_scene):
    with pytest.raises(Exception):
        driveby_scene.camera.width = 10


def _set(d, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value


_DELETE = object()

# (field to set, bad value, field path named in the error, value shown, what is allowed)
BAD = [
    ("camera.hfov_deg", 200, "camera.hfov_deg", "200", "must be a finite number in [1, 170]"),
    ("camera.width", 12.5, "camera.width", "12.5", "must be an integer in [16, 8192]"),
    ("camera.height", "tall", "camera.height", "'tall'", "must be an integer"),
    ("sign.class", "stopp", "sign.class", "'stopp'", "must be one of"),
    ("sign.size_m", -1, "sign.size_m", "-1", "[0.05, 10]"),
    ("sign.colour", "red", "sign.colour", "'red'", "unknown key"),
    ("eot.distance_m", [40, 5], "eot.distance_m", "[40, 5]", "lo must not exceed hi"),
    ("eot.yaw_deg", [-100, 10], "eot.yaw_deg[0]", "-100", "[-85, 85]"),
    ("lighting.ambient", [0.5, float("nan")], "lighting.ambient[1]", "nan", "finite number"),
    ("lighting.color_temp_k", [100, 200], "lighting.color_temp_k[0]", "100", "[1500, 15000]"),
    ("camera_effects.jpeg_quality", [0, 90], "camera_effects.jpeg_quality[0]", "0", "[1, 100]"),
    ("camera_effects.noise_std", "lots", "camera_effects.noise_std", "'lots'", "[lo, hi] pair"),
    ("driveby.end_m", 50.0, "driveby.end_m", "50.0", "less than start_m"),
    ("crop.size", 4, "crop.size", "4", "[8, 1024]"),
    ("sticker.regions", [{"rect": [700, 0, 100, 50]}], "sticker.regions[0].rect", "[700, 0, 100, 50]", "inside the face"),
    ("sticker.regions", [{"circle": [1, 2]}], "sticker.regions[0].circle", "[1, 2]", "unknown key"),
    ("sticker.regions", [{"polygon": [[0, 0], [10, 10]]}], "sticker.regions[0].polygon", "[[0, 0], [10, 10]]",
     "at least 3"),
    ("sticker.regions", [], "sticker", "'regions': []", "at least one region or a mask"),
    ("background.kind", "space", "background.kind", "'space'", "procedural, images"),
    ("weather", "rain", "weather", "'rain'", "unknown key"),
]


@pytest.mark.parametrize("path,value,field,shown,allowed", BAD, ids=[b[0] + "=" + repr(b[1]) for b in BAD])
def test_invalid_field_named(path, value, field, shown, allowed, tmp_path):
    d = base()
    _set(d, path, copy.deepcopy(value))
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    with pytest.raises(SceneError) as e:
        load_scene(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: field '{field}' = ")
    assert shown in msg and allowed in msg


def test_missing_sign_class():
    d = base()
    del d["sign"]["class"]
    with pytest.raises(SceneError, match="'sign.class' = None is invalid: required"):
        parse_scene(d, "x.yaml")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(SceneError, match="not found"):
        load_scene(tmp_path / "nope.yaml")
    f = tmp_path / "broken.yaml"
    f.write_text("sign: [unclosed")
    with pytest.raises(SceneError, match="invalid YAML"):
        load_scene(f)
    f.write_text("- a list")
    with pytest.raises(SceneError, match="mapping at top level"):
        load_scene(f)


def test_yaml_is_loaded_safely(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SceneError, match="invalid YAML"):
        load_scene(f)


def test_scalar_range_and_relative_paths(tmp_path):
    d = base()
    d["eot"]["speed_mps"] = 3.0
    d["sticker"] = {"mask": "mask.png"}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(d))
    s = load_scene(f)
    assert s.eot.speed_mps == (3.0, 3.0)
    assert s.resolve(s.sticker.mask_path) == tmp_path / "mask.png"


def test_missing_scene_path_is_an_error_not_the_packaged_scene(tmp_path, monkeypatch):
    """A path that does not exist never falls back to the packaged scene of the same name, and a found
    file is stored absolute (attack.json then works from any directory)."""
    for bad in ("/nonexistent/dir/stop_lab.yaml", "stop_lab.yaml", "elsewhere/stop_driveby"):
        with pytest.raises(SceneError, match="scene file not found"):
            find_scene(bad)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text((find_scene("stop_lab")).read_text())
    p = find_scene("mine.yaml")
    assert p.is_absolute() and p == tmp_path / "mine.yaml"
    assert load_scene("mine.yaml").path == str(tmp_path / "mine.yaml")


@pytest.mark.parametrize("name", ["stop_driveby", "stop_lab", "stop_lab_rp2"])
def test_scene_round_trips_through_its_file_form(name):
    import yaml

    from patchsim.scene import parse_scene, scene_to_data

    s = load_scene(name)
    d = scene_to_data(s)
    assert parse_scene(d, s.path) == s
    assert parse_scene(yaml.safe_load(yaml.safe_dump(d)), s.path) == s
    from patchsim.scene.schema import TOP_KEYS

    assert set(d) <= TOP_KEYS and TOP_KEYS == {"name", "sign", "sticker", "camera", "driveby", "grid", "eot",
                                               "lighting", "camera_effects", "crop", "background", "realism",
                                               "detector"}


def test_print_uses_the_attacks_own_scene_from_any_directory(tmp_path, monkeypatch):
    """A 0.9 m sign's attack printed from another directory: pieces at the 0.9 m scene's sizes, even
    though a packaged scene of the same name (0.75 m) exists and the scene file is gone."""
    import numpy as np

    from attack_records import write_attack_dir
    from patchsim.jobs.print_sticker import run_print
    from test_attack import _pdf_pages_and_images

    big = load_scene("stop_driveby")
    import dataclasses

    big = dataclasses.replace(big, sign=dataclasses.replace(big.sign, size_m=0.9))
    st = np.zeros((900, 900, 4), np.uint8)
    st[300:560, 200:460] = (40, 90, 200, 255)  # a 260 mm square at 1 px per mm
    d = write_attack_dir(tmp_path / "attack", big, st, model="m", scene_file=str(tmp_path / "gone" / "stop_driveby.yaml"))
    monkeypatch.chdir(tmp_path)
    path, pages = run_print(str(d), "A4", 60.0)
    _, draws = _pdf_pages_and_images(path.read_bytes())
    mm = [(w / 72 * 25.4, h / 72 * 25.4) for w, h in draws]
    # the 260 mm piece, tiled 2 x 2 on A4: 130 mm tiles (at the packaged 0.75 m it would be 108 mm)
    assert sum(abs(w - 130) < 1 and abs(h - 130) < 1 for w, h in mm) == 4, mm


def test_scene_format_doc_holds_the_generated_tables():
    """docs/scene-format.md's field tables are what ``python -m patchsim.scene.doc`` prints from the scene
    types: a field, default or bound changed in the code and not in the doc fails here."""
    from pathlib import Path

    from patchsim.scene.doc import scene_format_tables
    from patchsim.scene.schema import BOUNDS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "scene-format.md").read_text()
    tables = scene_format_tables()
    assert tables in doc
    for cls, fields in BOUNDS.items():
        for name, (lo, hi) in fields.items():
            assert f"| `{name}` |" in tables and f"[{lo:g}, {hi:g}]" in tables, (cls.__name__, name)


@pytest.mark.parametrize("corners", [
    [[0, 0], [100, 0], [200, 0], [300, 0]],  # collinear: no area
    [[0, 0], [100, 100], [100, 0], [0, 100]],  # a bow tie: corners out of order
    [[0, 0], [4, 0], [4, 4], [0, 4]],  # 16 square pixels
])
def test_a_degenerate_photo_face_is_refused(tmp_path, corners):
    doc = {"name": "x", "sign": {"class": "stop", "face": {"kind": "photo", "path": "p.jpg", "corners": corners}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(SceneError, match="convex quadrilateral"):
        load_scene(tmp_path / "s.yaml")


def test_a_detector_section_replaces_the_layout_and_names_only_the_ranges_it_changes():
    """``detector:`` holds a detector attack's sticker layout and the pose ranges that differ; the scene
    for a detector has them in place of its own and no section left; it round-trips; bad keys are named."""
    d = base()
    d["detector"] = {"sticker": {"regions": [{"rect": [0, 300, 750, 150]}]}, "eot": {"distance_m": [5, 55]}}
    s = parse_scene(d, "x.yaml")
    det = s.for_detector()
    assert det.eot.distance_m == (5.0, 55.0) and det.eot.yaw_deg == s.eot.yaw_deg and s.eot.distance_m == (5.0, 40.0)
    assert det.sticker.regions[0].points[0] == (0.0, 300.0) and s.sticker.regions[0].points[0] == (190.0, 290.0)
    assert det.detector is None and det.for_detector() is det
    assert parse_scene(yaml.safe_load(yaml.safe_dump(scene_to_data(s))), "x.yaml") == s
    d["detector"] = {"eot": {"distanc_m": [5, 55]}}
    with pytest.raises(SceneError, match=r"'detector.eot.distanc_m'.*unknown key"):
        parse_scene(d, "x.yaml")
    d["detector"] = {"sticker": {"regions": [{"rect": [0, 300, 760, 150]}]}}
    with pytest.raises(SceneError, match=r"'detector.sticker.regions\[0\].rect\[2\]' = 760"):
        parse_scene(d, "x.yaml")
    d["detector"] = {}
    with pytest.raises(SceneError, match="'detector'"):
        parse_scene(d, "x.yaml")
