
import pytest
import torch
from kornia.color import rgb_to_linear_rgb

from patchsim.errors import PatchsimError
from patchsim.render import Conditions, Renderer, sample_driveby, sample_eot, sample_grid
from patchsim.render.sampler import driveby_distances
from patchsim.records import from_data

from identity import identity_conditions


@pytest.fixture(scope="module")
def renderer(driveby_scene):
    return Renderer.from_scene(driveby_scene, face_resolution=128)


def test_gradient_reaches_sticker_through_every_stage(renderer, driveby_scene):
    # every stage active: sun, shadow, glare, colour temperature, blur, motion, noise, exposure, gamma, JPEG
    c = identity_conditions(4, distance_m=[6.0, 12.0, 20.0, 35.0], lateral_m=2.0, vertical_m=1.0, yaw_deg=15.0,
                            sun=0.5, shadow=0.5, glare=0.3, color_temp_k=4000.0, defocus_px=0.8, speed_mps=12.0,
                            exposure_s=0.01, noise_std=0.02, noise_seed=[1, 2, 3, 4], exposure_ev=0.3, gamma=1.1,
                            jpeg_quality=70.0, jitter_x=0.03, jitter_scale=0.05)
    sticker = torch.full((1, 3, 128, 128), 0.5, requires_grad=True)
    out = renderer.render_crops(c, sticker)
    weights = torch.randn(out.images.shape, generator=torch.Generator().manual_seed(0))
    (out.images * weights).sum().backward()
    g = sticker.grad
    mask = renderer.sticker_mask[0, 0] > 0
    assert torch.isfinite(g).all()
    assert g[0, :, mask].abs().sum() > 0
    assert float(g[0, :, ~mask].abs().max()) == 0.0


def test_gradient_per_sample_reaches_sticker_in_frames(renderer):
    c = identity_conditions(1, distance_m=8.0, lateral_m=1.5, vertical_m=0.8, noise_std=0.01, jpeg_quality=80.0)
    sticker = torch.full((1, 3, 128, 128), 0.5, requires_grad=True)
    out = renderer.render_frames(c, sticker)
    out.images.sum().backward()
    mask = renderer.sticker_mask[0, 0] > 0
    assert sticker.grad[0, :, mask].abs().sum() > 0 and float(sticker.grad[0, :, ~mask].abs().max()) == 0.0


def test_sticker_changes_only_masked_face(renderer):
    c = identity_conditions(1, distance_m=5.0)
    clean = renderer.render_crops(c).images
    green = torch.zeros(1, 3, 128, 128)
    green[:, 1] = 1
    stuck = renderer.render_crops(c, green).images
    diff = (stuck - clean).abs().sum(1)[0]
    assert diff.max() > 0.3
    assert (diff > 0.05).float().mean() < 0.25  # two bars cover < 15% of the face


@pytest.mark.parametrize("mode", ["crops", "frames"])
def test_more_ambient_never_darkens(renderer, mode):
    base = dict(distance_m=[7.0, 15.0], lateral_m=2.0, vertical_m=1.0, sun=0.3, glare=0.2, shadow=0.3,
                color_temp_k=5500.0, defocus_px=0.5)
    dark = identity_conditions(2, ambient=0.3, **base)
    bright = identity_conditions(2, ambient=0.9, **base)
    render = renderer.render_crops if mode == "crops" else renderer.render_frames
    a, b = render(dark).images, render(bright).images
    assert (b - a).min() >= -1e-6
    assert (b - a).mean() > 0.05


def test_same_seed_same_output(renderer, driveby_scene):
    c1 = sample_eot(driveby_scene, 6, torch.Generator().manual_seed(5))
    c2 = sample_eot(driveby_scene, 6, torch.Generator().manual_seed(5))
    assert all(torch.equal(getattr(c1, k), getattr(c2, k)) for k in Conditions.field_names())
    a = renderer.render_crops(c1).images
    b = renderer.render_crops(c2).images
    assert torch.equal(a, b)
    c3 = sample_eot(driveby_scene, 6, torch.Generator().manual_seed(6))
    assert not torch.equal(renderer.render_crops(c3).images, a)


def test_conditions_json_replay_is_bit_identical(renderer, driveby_scene, tmp_path):
    c = sample_eot(driveby_scene, 4, torch.Generator().manual_seed(9))
    c.save_json(tmp_path / "c.json", extra={"note": "x"})
    back = Conditions.load_json(tmp_path / "c.json")
    assert torch.equal(renderer.render_crops(c).images, renderer.render_crops(back).images)
    # one frame replayed alone matches its slice of the batch (batched kernels may differ in the last bits)
    alone, batched = renderer.render_crops(c[2]).images[0], renderer.render_crops(c).images[2]
    assert (alone - batched).abs().max() < 1e-4


def test_conditions_record_api(driveby_scene):
    c = sample_eot(driveby_scene, 5, torch.Generator().manual_seed(0))
    assert len(c) == 5 and len(c[1:3]) == 2 and len(c[torch.tensor([True, False, True, False, True])]) == 3
    assert len(Conditions.cat([c, c[0]])) == 6
    d = c.to(dtype=torch.float64)
    assert d.distance_m.dtype == torch.float64 and d.noise_seed.dtype == torch.int64
    lo, hi = driveby_scene.eot.distance_m
    assert float(c.distance_m.min()) >= lo and float(c.distance_m.max()) <= hi
    with pytest.raises(PatchsimError, match="missing key"):
        from_data(Conditions, {"distance_m": [1.0]})
    with pytest.raises(PatchsimError, match="NaN"):
        c.replace(ambient=torch.full((5,), float("nan")))
    with pytest.raises(PatchsimError, match="batch size"):
        c.replace(ambient=torch.ones(4))


def test_driveby_and_grid_sequences(driveby_scene, lab_scene):
    z = driveby_distances(driveby_scene)
    assert len(z) == 106 and float(z[0]) == 40.0 and abs(float(z[-1]) - 5.0) < 1e-4
    assert torch.allclose(z[:-1] - z[1:], torch.full((105,), 10 / 30))
    seq = sample_driveby(driveby_scene, torch.Generator().manual_seed(0))
    assert len(seq) == 106 and len(set(seq.ambient.tolist())) == 1 and len(set(seq.noise_seed.tolist())) == 106
    assert abs(float(seq.vertical_m[0]) - (2.1 + 0.375 - 1.4)) < 1e-5
    grid = sample_grid(lab_scene, torch.Generator().manual_seed(0))
    assert len(grid) == 7 * 3 * 3
    assert set(grid.yaw_deg.tolist()) == {0.0, 15.0, 30.0}


def test_whole_driveby_is_visible(driveby_scene, renderer):
    seq = sample_driveby(driveby_scene, torch.Generator().manual_seed(0))
    from patchsim.render.geometry import visibility

    assert visibility(seq, driveby_scene.camera, driveby_scene.sign.size_m) == {}


def test_crop_size_and_range(renderer, driveby_scene):
    c = sample_eot(driveby_scene, 3, torch.Generator().manual_seed(1))
    out = renderer.render_crops(c, size=48)
    assert out.images.shape == (3, 3, 48, 48) and out.boxes.shape == (3, 4)
    assert 0 <= float(out.images.min()) and float(out.images.max()) <= 1
    with pytest.raises(PatchsimError, match="NaN"):
        renderer.render_crops(c, torch.full((3, 128, 128), float("nan")))


def test_clean_crop_looks_like_stop_sign(renderer):
    c = identity_conditions(1, distance_m=8.0)
    img = rgb_to_linear_rgb(renderer.render_crops(c).images)[0]
    centre = img[:, 6:9, 12:20].mean((1, 2))  # red field above the legend
    assert centre[0] > 2 * centre[1] and centre[0] > 2 * centre[2]


def test_frame_does_not_depend_on_its_batch(renderer):
    # each frame samples the face at its own mip level: a far sign rendered beside a near one is the
    # same frame as when rendered alone (batch-wide levels made the far sign 0.3 off)
    c = identity_conditions(2, distance_m=[5.0, 40.0], lateral_m=2.5, vertical_m=0.7)
    with torch.no_grad():
        both = renderer.render_frames(c).images
        alone = torch.cat([renderer.render_frames(c[i:i + 1]).images for i in range(2)])
    assert float((both - alone).abs().max()) < 1e-4


def test_sample_face_mip_per_image_levels():
    from patchsim.render.fragments import face_level, sample_face, sample_face_mip

    face = torch.rand(1, 4, 128, 128, generator=torch.Generator().manual_seed(0))
    uv = torch.rand(3, 5, 5, 2, generator=torch.Generator().manual_seed(1))
    out = sample_face_mip(face, uv, torch.tensor([20.0, 100.0, 40.0]))
    for i, fp in enumerate([20.0, 100.0, 40.0]):
        assert torch.equal(out[i:i + 1], sample_face(face_level(face, fp), uv[i:i + 1]))
    with pytest.raises(PatchsimError, match="footprint_px"):
        sample_face_mip(face, uv, torch.tensor([20.0]))


def test_every_scene_range_draws_into_a_condition_field(driveby_scene):
    """The sampler's range records name the condition fields they fill; one that does not is an error."""
    import dataclasses

    from patchsim.errors import PatchsimError
    from patchsim.render.sampler import draw_ranges

    names = set(Conditions.field_names())
    for ranges in (driveby_scene.eot, driveby_scene.lighting, driveby_scene.effects):
        drawn = draw_ranges(ranges, 3, torch.Generator().manual_seed(0))
        assert set(drawn) == {f.name for f in dataclasses.fields(ranges)} and set(drawn) <= names

    @dataclasses.dataclass(frozen=True)
    class Stray:
        fog_density: tuple = (0.0, 1.0)

    with pytest.raises(PatchsimError, match="Stray.fog_density has no Conditions field"):
        draw_ranges(Stray(), 3, torch.Generator())
