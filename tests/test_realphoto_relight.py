"""Relighting models, their validation on held-out pixels, sheeting colours and the relit band."""

import json

import numpy as np
import pytest

from patchsim.errors import PatchsimError
from patchsim.realphoto.relight import METHODS, Relight, fit_relight
from patchsim.realphoto.relight_physical import physical_map
from patchsim.records import from_data, json_bytes

RNG = np.random.default_rng(7)


def test_physical_model_recovers_a_known_camera():
    """Design colours through a known light, flare and tone exponent: the MAP fit returns them."""
    from patchsim.realphoto.relight_physical import fit_physical

    ref = RNG.random((3000, 3))
    truth = (0.02, 0.55, 0.7, 0.9, 0.85)
    assert np.allclose(fit_physical(ref, physical_map(ref, truth), prior=False), truth, atol=0.01)
    fit = fit_relight(ref, physical_map(ref, truth), "physical")  # with the prior: still close
    assert np.allclose(fit.params, truth, atol=0.05)
    assert fit.space == "lut" and fit.rmse < 0.01
    x = RNG.random((50, 3))
    assert np.abs(fit(x) - physical_map(x, fit.params)).max() < 0.003  # the sampled curve follows the model


def test_one_design_colour_leaves_the_physical_fit_on_its_prior():
    """Fitted on one colour only (a stop sign's red field), the gains of the channels it cannot see
    stay near the prior instead of running off; per-channel polynomials fall back to a gain."""
    ref = np.tile([[0.73, 0.086, 0.14]], (400, 1))
    obs = np.tile([[0.6, 0.1, 0.12]], (400, 1)) + RNG.normal(0, 0.01, (400, 3))
    b, kr, kg, kb, t = fit_relight(ref, obs, "physical").params
    assert 0.2 < kr / kg < 5 and 0.2 < kb / kg < 5 and 0.2 < t < 5
    aff = fit_relight(ref, obs, "affine")
    assert np.allclose(aff.offset, 0, atol=1e-6) and np.isfinite(aff.gain).all()


def test_reap_lab_moves_lab_moments_and_none_is_identity():
    from patchsim.realphoto.colour import srgb_to_lab

    ref = RNG.random((2000, 3)) * 0.8 + 0.1
    obs = np.clip(ref * [0.8, 0.7, 0.6] + 0.05, 0, 1)
    fit = fit_relight(ref, obs, "reap_lab")
    lab = srgb_to_lab(fit(ref))
    assert np.allclose(lab.mean(0), srgb_to_lab(obs).mean(0), atol=1.0)
    none = fit_relight(ref, obs, "none")
    assert np.allclose(none(ref), ref, atol=1e-6) and none.rmse > 0.05


@pytest.mark.parametrize("method", METHODS)
def test_every_model_round_trips_through_its_record(method):
    ref = RNG.random((500, 3))
    fit = fit_relight(ref, physical_map(ref, (0.01, 0.6, 0.7, 0.8, 0.9)), method)
    back = from_data(Relight, json.loads(json_bytes(fit)))
    x = RNG.random((20, 3))
    assert back == fit and np.allclose(back(x), fit(x))


def test_unknown_model_is_refused():
    with pytest.raises(PatchsimError, match="unknown"):
        fit_relight(np.zeros((50, 3)), np.zeros((50, 3)), "magic")


def test_sheeting_colours_on_the_catalogue_scale():
    """Nominal white sheeting lands on the catalogue white; green, yellow and blue look like their names."""
    from patchsim.realphoto.relight_regions import design_srgb, nominal_xyy
    from patchsim.signs.catalogue import WHITE

    assert np.abs(design_srgb("white") * 255 - WHITE).max() < 15
    g, y, b = design_srgb("green"), design_srgb("yellow"), design_srgb("blue")
    assert g[1] > g[0] and g[1] > g[2] and y[0] > y[2] and y[1] > y[2] and b[2] > b[0]
    assert 0.25 < nominal_xyy("red")[0] < 0.75
    with pytest.raises(PatchsimError, match="unknown"):
        nominal_xyy("mauve")


def test_region_colour_reads_the_family_pixels_inside_the_polygon():
    from patchsim.realphoto.relight_regions import family_mask, region_colour

    img = np.full((60, 100, 3), 200, np.uint8)
    img[10:40, 10:80] = (20, 120, 60)  # a green plate
    img[20:25, 20:60] = 255  # with white lettering
    poly = np.array([[10, 10], [79, 10], [79, 39], [10, 39]], float)
    assert family_mask(img, "green")[15, 15] and not family_mask(img, "green")[22, 30]
    assert np.allclose(region_colour(img, poly, "green") * 255, (20, 120, 60), atol=1)
    assert region_colour(img, poly * 0.05, "green") is None  # too few pixels


def _synthetic_sign(params, side=200):
    """A stop face warped into a photo face-on and put through the physical model ``params``."""
    from patchsim.realphoto.placement import FacePyramid, warp_face
    from patchsim.signs import draw_face_array

    face = FacePyramid(draw_face_array("stop", 1024))
    h = np.array([[side, 0, 30.0], [0, side, 30.0], [0, 0, 1]])
    rgba = warp_face(face, h, (0, 0, side + 60, side + 60))
    bg = np.full((side + 60, side + 60, 3), 0.4, np.float32)
    design = rgba[..., :3] + bg * (1 - rgba[..., 3:])
    photo = (physical_map(design, params) * 255 + 0.5).astype(np.uint8)
    return photo, h, face


def test_validation_prefers_the_model_that_made_the_photo():
    """A sign photographed through a camera typical of the attacker photos (the prior's mean): predicting
    white from a fit on red (and the reverse), the physical model beats the plain design colour."""
    from patchsim.realphoto.relight_physical import load_prior
    from patchsim.realphoto.relight_validation import validate_sign

    (lr, _), (lb, _), (b, _), (lt, _), (lkg, _) = load_prior()
    photo, h, face = _synthetic_sign((max(b, 0.0), np.exp(lkg + lr), np.exp(lkg), np.exp(lkg + lb), np.exp(lt)))
    res = validate_sign(photo, h, 0.0, face, methods=("none", "physical", "affine"))
    assert not isinstance(res, str)
    phys, none = np.mean(res["physical"][:2]), np.mean(res["none"][:2])
    assert phys < 3.0 < none
    assert max(res["affine"][2:]) < 2.0  # in sample, an affine map fits two colours well


def test_region_errors_and_choice():
    from patchsim.realphoto.relight_regions import design_srgb
    from patchsim.realphoto.relight_validation import choose_models, region_errors

    params = (0.0, 0.6, 0.6, 0.6, 1.0)
    img = np.zeros((40, 40, 3), np.uint8)
    img[5:35, 5:35] = (physical_map(design_srgb("green"), params) * 255 + 0.5).astype(np.uint8)
    poly = [[5, 5], [34, 5], [34, 34], [5, 34]]
    lights = {"physical": Relight("physical", ((0.0, 0.6),) * 3),  # not the model, only a gain: close, not exact
              "none": fit_relight(np.zeros((50, 3)), np.zeros((50, 3)), "none")}
    e = region_errors(img, lights, [{"family": "green", "polygon": poly}])
    assert e["none"][0] > e["physical"][0] > 0
    best, keep = choose_models({"a": {"s": 10.0}, "b": {"s": 14.0}, "c": {"s": 16.0}}, 1.5, "s")
    assert best == "a" and keep == ()  # none of them is a known model name
    best, keep = choose_models({"tone": {"s": 10.0}, "affine": {"s": 14.0}, "poly": {"s": 16.0}}, 1.5, "s")
    assert best == "tone" and keep == ("affine", "tone")
