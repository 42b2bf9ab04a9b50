"""Detector attacks: the windows a detector sees, the objectives, gradients reaching the sticker."""

import dataclasses

import math

import pytest
import torch

from patchsim.attack import AttackConfig, EOTAttack
from patchsim.objectives import losses
from patchsim.errors import PatchsimError
from patchsim.models.detectors.signdet import SignDet
from patchsim.render import Renderer, sample_eot


def test_window_places_the_sign_where_the_pinhole_model_says(driveby_scene, gen):
    r = Renderer.from_scene(driveby_scene, face_resolution=64)
    cond = sample_eot(driveby_scene, 3, gen).replace(distance_m=torch.tensor([6.0, 8.0, 10.0]))
    out = r.render_windows(cond, None, (96, 128), 0.5)
    assert out.images.shape == (3, 3, 96, 128)
    # the face's pixels in the window: bright red inside the projected box, nothing of the sign far outside it
    face = (out.corners - out.boxes[:, None, :2]) * 0.5
    assert torch.allclose(out.boxes[:, 2:], torch.tensor([256.0, 192.0]).expand(3, 2))
    for i in range(3):
        lo, hi = face[i].min(0).values, face[i].max(0).values
        cx, cy = int((lo[0] + hi[0]) / 2), int(lo[1] + 0.15 * (hi[1] - lo[1]))  # the red field above the letters
        if 0 <= cx < 128 and 0 <= cy < 96 and (hi - lo).min() > 12:
            px = out.images[i, :, cy, cx]
            assert px[0] > px[1] + 0.15, "the projected face box shows the red sign where the model says"
    # with no jitter the sign sits in the middle of the window
    still = cond.replace(jitter_x=torch.zeros(3), jitter_y=torch.zeros(3))
    o2 = r.render_windows(still, None, (96, 128), 0.5)
    f2 = (o2.corners - o2.boxes[:, None, :2]) * 0.5
    centre = (f2.min(1).values + f2.max(1).values) / 2
    assert torch.allclose(centre, torch.tensor([64.0, 48.0]).expand(3, 2), atol=1e-3)


def test_near_sign_and_objectives():
    boxes = torch.tensor([[[10.0, 10, 30, 30], [100, 100, 120, 120], [0, 0, 200, 200]]])
    scores = torch.tensor([[[0.9, 0.1], [0.8, 0.0], [0.2, 0.7]]])
    sign = torch.tensor([[12.0, 12, 32, 32]])
    near = losses.near_sign(boxes, sign)
    assert near.tolist() == [[True, False, False]]  # the big box's centre is outside, its IoU 0.01
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    down, up = logit(0.9) - logit(0.15), logit(0.6) - logit(0.1)  # bounds: threshold 0.3 / 2 and * 2
    assert losses.detector_loss("disappear", scores, near, 0, None).item() == pytest.approx(down, rel=1e-5)
    assert losses.detector_loss("misclassify", scores, near, 0, 1).item() == pytest.approx(down + up, rel=1e-5)
    assert losses.detector_loss("create", scores, near, 0, 1).item() == pytest.approx(up, rel=1e-5)


def test_detector_hinge_stops_at_its_bound_and_keeps_a_gradient_when_saturated():
    """A frame whose score is under half the threshold adds nothing; a saturated score (0.999) still pulls
    with a logit-sized gradient; weights move the mean towards the heavier frames."""
    boxes = torch.tensor([[[10.0, 10, 30, 30]]]).repeat(2, 1, 1)
    sign = torch.tensor([[10.0, 10, 30, 30]]).repeat(2, 1)
    near = losses.near_sign(boxes, sign)
    z = torch.tensor([[[6.9]], [[-3.0]]], requires_grad=True)  # sigmoid: 0.999 (found), 0.047 (gone)
    loss = losses.detector_loss("disappear", torch.sigmoid(z), near, 0, None, threshold=0.3)
    g, = torch.autograd.grad(loss, z)
    assert g[0].item() == pytest.approx(0.5, rel=1e-3) and g[1].item() == 0.0  # d/dz of the mean of 2
    per_found = losses.score_hinge(torch.sigmoid(z[:1, 0, 0]), 0.15, down=True).item()
    w = losses.detector_loss("disappear", torch.sigmoid(z), near, 0, None, weights=torch.tensor([3.0, 1.0]))
    assert w.item() == pytest.approx(0.75 * per_found, rel=1e-5)


def test_distance_weights_weigh_far_views_up_by_the_power_of_their_distance():
    """(d / nearest) ** p: 10 m and 40 m at p=1 weigh 1 and 4; p=0 gives equal weights; the detector loss
    with them is the weighted mean of the per-view hinges; bad distances and powers are refused."""
    d = torch.tensor([10.0, 40.0, 20.0])
    assert losses.distance_weights(d, 1.0).tolist() == [1.0, 4.0, 2.0]
    assert losses.distance_weights(d, 2.0).tolist() == [1.0, 16.0, 4.0]
    assert losses.distance_weights(d, 0.0).tolist() == [1.0, 1.0, 1.0]
    boxes = torch.tensor([[[10.0, 10, 30, 30]]]).repeat(2, 1, 1)
    near = losses.near_sign(boxes, torch.tensor([[10.0, 10, 30, 30]]).repeat(2, 1))
    scores = torch.tensor([[[0.9]], [[0.6]]])
    per = losses.score_hinge(scores[:, 0, 0], 0.15, down=True)
    far = losses.detector_loss("disappear", scores, near, 0, None, weights=losses.distance_weights(torch.tensor([5.0, 50.0]), 1.0))
    assert far.item() == pytest.approx((per[0] + 10 * per[1]).item() / 11, rel=1e-5)
    for bad_d, bad_p in ((torch.tensor([0.0, 1.0]), 1.0), (torch.ones(2, 1), 1.0), (d, -1.0)):
        with pytest.raises(PatchsimError):
            losses.distance_weights(bad_d, bad_p)


def test_gradient_reaches_the_sticker_through_the_detector(driveby_scene):
    torch.manual_seed(0)
    det = SignDet().eval()
    for p in det.parameters():
        p.requires_grad_(False)
    cfg = AttackConfig(goal="disappear", true_class=0, steps=1, batch=2, val_size=2, face_resolution=32, window=64)
    attack = EOTAttack(driveby_scene, det, cfg, device="cpu")
    assert attack.window_hw == (64, 64)
    w = attack.init_params(torch.Generator().manual_seed(0))
    cond = sample_eot(driveby_scene, 2, torch.Generator().manual_seed(1))
    loss, _ = attack.loss(w, cond)
    loss.backward()
    inside = w.grad.abs().sum(1, keepdim=True) * attack.mask
    assert inside.sum() > 0 and (w.grad.abs().sum(1, keepdim=True) * (attack.mask == 0)).sum() == 0
    rate, per = attack.score(None, cond)
    assert per.shape == (2, 1) and rate == float(per.mean())
    blind = EOTAttack(driveby_scene, det, dataclasses.replace(cfg, goal="disappear"), device="cpu")
    blind.det_goal = dataclasses.replace(blind.det_goal, score_threshold=1.01)  # no score reaches it: nothing found
    assert blind.score(None, cond)[0] == 1.0  # so the sign "disappears" in every frame


def test_detector_attack_refuses_what_it_cannot_do(driveby_scene):
    det = SignDet().eval()
    with pytest.raises(PatchsimError, match="needs its goal resolved"):
        EOTAttack(driveby_scene, det, AttackConfig(true_class=0), device="cpu")
    from patchsim.models import load

    with pytest.raises(PatchsimError, match="applies to detectors"):
        EOTAttack(driveby_scene, load("gtsrb-cnn"), AttackConfig(goal="disappear"), device="cpu")
