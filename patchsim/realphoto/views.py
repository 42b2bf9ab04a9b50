"""A photographed sign, located and lit, ready for a sticker: where the sign is (annotation, locator
markers or the red octagon with perspective), how large, how blurred, and its light under a relighting
model. Nothing here depends on a sticker or a model: the photo scorer
(:mod:`patchsim.evaluate.photos`) and the optimiser's real-photo batches
(:mod:`patchsim.realphoto.batches`) share it, and :mod:`patchsim.realphoto.view_cache` keeps it between
runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchsim.io.images import read_image
from patchsim.realphoto.find_sign import corners_from_markers, find_stop_sign
from patchsim.realphoto.octagon import (FACE_CORNERS_UV, apply_homography, canonical_vertices, fit_stop_octagon,
                                        homography_from_corners)
from patchsim.realphoto.placement import FacePyramid, SignLight, estimate_blur, fit_sign_light, sign_region, warp_face
from patchsim.realphoto.relight import identity
from patchsim.realphoto.sources import SignPhoto
from patchsim.realphoto.view_cache import load_view, store_view, view_key
from patchsim.render.crop import square_box

MIN_SIGN_PX = 16  # a sign narrower than this in the photo is skipped (too few pixels to relight)
BOX_PAD = 0.25  # an annotated box is grown by this fraction per side before the octagon is searched in it


def locate_sign(photo: np.ndarray, sp: SignPhoto) -> tuple[np.ndarray | None, str]:
    """(img_from_face homography, how) for the sign ``sp`` in ``photo``; (None, reason) if not found."""
    if sp.corners is not None:
        return homography_from_corners(np.asarray(sp.corners, np.float64)), "annotation"
    if sp.box is not None:
        x1, y1, x2, y2 = sp.box
        px, py = BOX_PAD * (x2 - x1), BOX_PAD * (y2 - y1)
        fit = fit_stop_octagon(photo, (int(x1 - px), int(y1 - py), int(np.ceil(x2 + px)), int(np.ceil(y2 + py))),
                               min_area_frac=0.2)
        if fit is not None and _inside_box(fit.corners, sp.box):
            return fit.img_from_face, "octagon"
        rect = np.array([[x1 - 0.5, y1 - 0.5], [x2 - 0.5, y1 - 0.5], [x2 - 0.5, y2 - 0.5], [x1 - 0.5, y2 - 0.5]])
        return homography_from_corners(rect), "box"
    c = corners_from_markers(photo)
    if c is not None:
        return homography_from_corners(c), "markers"
    fit = fit_stop_octagon(photo)
    if fit is not None:
        return fit.img_from_face, "octagon"
    c = find_stop_sign(photo)
    if c is not None:
        return homography_from_corners(c), "octagon-box"
    return None, "sign not found"


def _inside_box(corners: np.ndarray, box: tuple, tol: float = 0.25) -> bool:
    """Does the fitted face square agree with the annotated box (each edge within ``tol`` of its size)?"""
    x1, y1, x2, y2 = box
    lo, hi = corners.min(0), corners.max(0)
    w, h = x2 - x1, y2 - y1
    return (abs(lo[0] - x1) < tol * w and abs(hi[0] - x2) < tol * w and abs(lo[1] - y1) < tol * h
            and abs(hi[1] - y2) < tol * h)


def sign_blur(photo: np.ndarray, img_from_face: np.ndarray, face: FacePyramid, sign: str) -> float:
    """The blur (Gaussian sigma, photo pixels) of the sign at ``img_from_face`` in ``photo``, judged
    along the red octagon's outline for a stop sign (:func:`patchsim.realphoto.placement.estimate_blur`)."""
    x0, y0, x1, y1 = sign_region(img_from_face, photo.shape[:2])
    edge = apply_homography(img_from_face, canonical_vertices()) - [x0, y0] if sign == "stop" else None
    return estimate_blur(photo[y0:y1, x0:x1], warp_face(face, img_from_face, (x0, y0, x1, y1)), edge)


def sign_light(photo: np.ndarray, img_from_face: np.ndarray, face: FacePyramid, sign: str, method: str,
               blur_px: float | None = None):
    """The light of the sign at ``img_from_face`` in ``photo`` (a
    :class:`patchsim.realphoto.placement.SignLight`) against the designed ``face`` of ``sign``, fitted by
    ``method`` at blur ``blur_px`` (None: estimated first, :func:`sign_blur`)."""
    if blur_px is None:
        blur_px = sign_blur(photo, img_from_face, face, sign)
    x0, y0, x1, y1 = sign_region(img_from_face, photo.shape[:2])
    return fit_sign_light(photo[y0:y1, x0:x1], warp_face(face, img_from_face, (x0, y0, x1, y1)), blur_px, method)


def face_side_px(img_from_face: np.ndarray) -> float:
    """Mean side (pixels) of the face square in the photo."""
    c = apply_homography(img_from_face, FACE_CORNERS_UV)
    return float(np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[3] - c[0])) / 2


@dataclass(frozen=True)
class SignView:
    """One located sign in a photo, ready for a sticker: ``photo`` uint8 ``(H, W, 3)``,
    ``img_from_face`` homography, ``located_by``, ``corners`` ``(4, 2)`` px, ``side_px``, ``light`` (a
    :class:`patchsim.realphoto.placement.SignLight`) and the detector ``box`` (left, top, side) px."""

    photo: np.ndarray
    img_from_face: np.ndarray
    located_by: str
    corners: np.ndarray
    side_px: float
    light: object
    box: tuple


def view_sign(sp: SignPhoto, face: FacePyramid, sign: str, relight: str, margin: float) -> SignView | str:
    """Read the photo of ``sp``, locate the sign, check its size, fit its light with ``relight`` and cut
    the detector box: a :class:`SignView`, or the reason it cannot be used. Shared by the photo scorer
    and the optimiser's real-photo batches. The location and each model's light do not depend on any
    sticker and are kept in :mod:`patchsim.realphoto.view_cache` between runs (the location once for all
    relighting models, with the blur: neither depends on the relighting model)."""
    photo = read_image(sp.path)
    where_key = view_key(sp, f"{sign}@{face.levels[0].shape[0]}", "@where")
    where = load_view(where_key)
    if isinstance(where, str):
        return where
    if where is None:
        h, how = locate_sign(photo, sp)
        if h is None:
            store_view(where_key, how)
            return how
        side = face_side_px(h)
        if side < MIN_SIGN_PX:
            reason = f"sign {side:.0f} px across, under {MIN_SIGN_PX} px"
            store_view(where_key, reason)
            return reason
        blur = sign_blur(photo, h, face, sign)
        store_view(where_key, (h, how, SignLight(identity(), blur)))  # the location, and the blur with no light
    else:
        h, how, carrier = where
        blur = carrier.blur_px
    light = _cached_light(sp, photo, h, how, face, sign, relight, blur)
    side = face_side_px(h)
    corners = apply_homography(h, FACE_CORNERS_UV)
    return SignView(photo, h, how, corners, side, light, square_box(corners, margin))


def _cached_light(sp: SignPhoto, photo: np.ndarray, h: np.ndarray, how: str, face: FacePyramid, sign: str,
                  relight: str, blur: float):
    """The sign's light under ``relight`` at ``blur``, from the view cache or fitted and stored."""
    key = view_key(sp, f"{sign}@{face.levels[0].shape[0]}", relight)
    cached = load_view(key)
    if isinstance(cached, tuple):
        return cached[2]
    light = sign_light(photo, h, face, sign, relight, blur)
    store_view(key, (h, how, light))
    return light


def model_light(sp: SignPhoto, view: SignView, face: FacePyramid, sign: str, relight: str):
    """The light of an already viewed sign (:func:`view_sign`) under another relighting model: the
    same photo, location and blur, the model's own fit (cached like :func:`view_sign`'s)."""
    return _cached_light(sp, view.photo, view.img_from_face, view.located_by, face, sign, relight, view.light.blur_px)
