"""Property test: any valid scene file round-trips. YAML data -> Scene -> data -> YAML text -> Scene
gives an equal Scene, and the data form is a fixed point."""

import dataclasses

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchsim.scene import Scene, parse_scene, scene_to_data
from patchsim.scene.schema import BOUNDS, INT_FIELDS, MAX_FRAME_PIXELS
from patchsim.scene.types import (CameraConfig, CropConfig, DriveByConfig, EffectRanges, LightingRanges, PoseRanges,
                                  RealismConfig, SignConfig)
from patchsim.signs import SIGNS


def _number(lo, hi, integer=False):
    hi = min(hi, 1e6)
    if integer:
        return st.integers(int(lo), int(hi))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _range(lo, hi):
    return st.one_of(_number(lo, hi), st.tuples(_number(lo, hi), _number(lo, hi)).map(lambda t: sorted(t)))


@st.composite
def _section(draw, cls, ranges=False, skip=()):
    """Some of ``cls``'s fields (by BOUNDS), each a value within its bounds (or a [lo, hi] range)."""
    out = {}
    for name, (lo, hi) in BOUNDS[cls].items():
        if name in skip or not draw(st.booleans()):
            continue
        out[name] = draw(_range(lo, hi) if ranges else _number(lo, hi, name in INT_FIELDS))
    return out


@st.composite
def scene_data(draw):
    cls = draw(st.sampled_from(sorted(SIGNS)))
    sign = {"class": cls, **draw(_section(SignConfig))}
    side = sign.get("size_m", SIGNS[cls].size_m) * 1000
    face = draw(st.sampled_from(["procedural", "rgba", "photo"]))
    if face == "rgba":
        sign["face"] = {"kind": "rgba", "path": draw(st.sampled_from(["face.png", "art/stop face.png"]))}
    elif face == "photo":
        cx, cy = draw(_number(-1e4, 1e4)), draw(_number(-1e4, 1e4))
        w, h = draw(_number(8, 1e3)), draw(_number(8, 1e3))  # a convex face (TL, TR, BR, BL) of real area
        sign["face"] = {"kind": "photo", "path": "photo.jpg",
                        "corners": [[cx - w, cy - h], [cx + w, cy - h], [cx + w, cy + h], [cx - w, cy + h]]}
    regions = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            x, y = draw(_number(0, side * 0.8)), draw(_number(0, side * 0.8))
            w, h = draw(_number(1e-3, side - x)), draw(_number(1e-3, side - y))
            regions.append({"rect": [x, y, w, h]})
        else:
            pt = st.tuples(_number(0, side), _number(0, side)).map(list)
            regions.append({"polygon": draw(st.lists(pt, min_size=3, max_size=6))})
    data = {"name": draw(st.text(alphabet="abcxyz_-0123", min_size=1, max_size=12)), "sign": sign,
            "sticker": {"regions": regions}}
    for key, cls_, ranges in (("camera", CameraConfig, False), ("eot", PoseRanges, True),
                              ("lighting", LightingRanges, True), ("camera_effects", EffectRanges, True),
                              ("crop", CropConfig, False), ("realism", RealismConfig, False)):
        if draw(st.booleans()):
            data[key] = draw(_section(cls_, ranges))
    cam = data.get("camera", {})
    d = CameraConfig()  # the defaults of the fields the file leaves out
    w, h, ss = cam.get("width", d.width), cam.get("height", d.height), cam.get("supersample", d.supersample)
    if w * h * ss * ss > MAX_FRAME_PIXELS:  # the schema caps the pixels a frame renders
        cam["supersample"] = 1
        cam["width"], cam["height"] = min(w, 4096), min(h, 4096)
        data["camera"] = cam
    if draw(st.booleans()):
        d = draw(_section(DriveByConfig, skip=("start_m", "end_m")))
        end = draw(_number(0.3, 100))
        data["driveby"] = {**d, "end_m": end, "start_m": draw(_number(max(end + 0.01, 0.5), 1000))}
    if draw(st.booleans()):
        data["grid"] = {"distances_m": draw(st.lists(_number(0.3, 500), min_size=1, max_size=4)),
                        "angles_deg": draw(st.lists(_number(-85, 85), min_size=1, max_size=3))}
    if draw(st.booleans()):
        data["background"] = {"kind": "images", "images": ["a.png", "b/c.jpg"][:draw(st.integers(1, 2))]}
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene_data())
def test_any_valid_scene_round_trips(data):
    s = parse_scene(data, "/scenes/random.yaml")
    assert s.camera.width * s.camera.height * s.camera.supersample ** 2 <= MAX_FRAME_PIXELS
    assert isinstance(s, Scene)
    back = scene_to_data(s)
    assert parse_scene(back, s.path) == s
    text = yaml.safe_dump(back, sort_keys=False)
    assert parse_scene(yaml.safe_load(text), s.path) == s
    assert scene_to_data(parse_scene(back, s.path)) == back  # the data form is a fixed point
    # every field the file names is the value the scene holds
    for k, v in data["sign"].items():
        if k not in ("class", "face"):
            assert getattr(s.sign, k) == v
    assert dataclasses.replace(s, name=s.name + "x") != s
