"""Putting a printed sticker onto a real photo of a sign (REAP-style): warp it with the sign's
homography, relight it with the sign's own light, blur it like the photo is blurred at the sign.

Images are numpy ``(H, W, C)``; colours float32 sRGB in [0, 1] unless uint8. ``img_from_face`` is the
3x3 homography from face uv ([0, 1] over the face's bounding square) to image pixels (centres at
integers), as :mod:`patchsim.realphoto.octagon` fits it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.realphoto.octagon import FACE_CORNERS_UV, apply_homography
from patchsim.realphoto.relight import Relight, fit_relight, identity

BLUR_SIGMAS_PX = (0.0, 0.5, 0.8, 1.2, 1.6, 2.2, 3.0, 4.0)  # candidate photo blur at the sign (pixels)


@dataclass(frozen=True)
class SignLight:
    """How the photo shows the sign: ``relight`` maps designed colours to photographed ones; ``blur_px``
    is the Gaussian sigma (photo pixels) that makes the sharp design look like the photo."""

    relight: Relight
    blur_px: float


class FacePyramid:
    """An RGBA face-square image (uint8 or float ``(N, N, 4)``) kept at halving sizes, so that each warp
    starts from about twice the sign's size in the photo (area-filtered, no aliasing)."""

    def __init__(self, rgba: np.ndarray, max_px: int = 2048):
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[0] != rgba.shape[1]:
            raise PatchsimError(f"face image must be square RGBA (N, N, 4), got {rgba.shape}")
        if rgba.shape[0] > max_px:  # a 300-DPI print image is far finer than any photo of it
            rgba = cv2.resize(rgba, (max_px, max_px), interpolation=cv2.INTER_AREA)
        x = rgba.astype(np.float32) / (255.0 if rgba.dtype == np.uint8 else 1.0)
        x = np.concatenate([x[..., :3] * x[..., 3:], x[..., 3:]], 2)  # premultiplied
        self.levels = [x]
        while self.levels[-1].shape[0] > 32:
            n = self.levels[-1].shape[0] // 2
            self.levels.append(cv2.resize(self.levels[-1], (n, n), interpolation=cv2.INTER_AREA))

    def level_for(self, side_px: float) -> np.ndarray:
        """The smallest level at least twice ``side_px`` across (the largest if none is)."""
        for lv in reversed(self.levels):
            if lv.shape[0] >= 2 * side_px:
                return lv
        return self.levels[0]


def sign_region(img_from_face: np.ndarray, shape: tuple[int, int], pad: int = 8) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels: the face square's bounding box in the image grown by ``pad``, clipped."""
    c = apply_homography(img_from_face, FACE_CORNERS_UV)
    x0, y0 = np.floor(c.min(0)).astype(int) - pad
    x1, y1 = np.ceil(c.max(0)).astype(int) + pad + 1
    h, w = shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise PatchsimError("the sign lies outside the photo")
    return int(x0), int(y0), int(x1), int(y1)


def warp_face(pyr: FacePyramid, img_from_face: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """The premultiplied RGBA face ``(h, w, 4)`` float32 warped into ``region`` of the image."""
    x0, y0, x1, y1 = region
    c = apply_homography(img_from_face, FACE_CORNERS_UV)
    side = float(np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[3] - c[0])) / 2
    tex = pyr.level_for(side)
    n = tex.shape[0]
    face_from_px = np.array([[1.0 / n, 0, 0.5 / n], [0, 1.0 / n, 0.5 / n], [0, 0, 1]])
    shift = np.array([[1.0, 0, -x0], [0, 1, -y0], [0, 0, 1]])
    h = shift @ img_from_face @ face_from_px
    return cv2.warpPerspective(tex, h, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE) if sigma > 0.05 else x


def _edge_band(outline_px: np.ndarray, shape: tuple[int, int], width: int) -> np.ndarray:
    """Bool ``(h, w)``: pixels within ``width`` of the polygon ``outline_px`` ``(K, 2)``'s edge."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(outline_px * 16).astype(np.int32)], 1, cv2.LINE_AA, shift=4)
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.dilate(m, k) - cv2.erode(m, k)) > 0


def _sign_pixels(photo_region: np.ndarray, ref_rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo float (h, w, 3), alpha (h, w), inside: bool (h, w) the face one pixel in from its edge)."""
    obs = photo_region.astype(np.float32) / 255
    alpha = ref_rgba[..., 3]
    inside = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if inside.sum() < 30:
        raise PatchsimError(f"the sign covers only {int(inside.sum())} pixels of the photo: too small to relight")
    return obs, alpha, inside


def estimate_blur(photo_region: np.ndarray, ref_rgba: np.ndarray, edge_px: np.ndarray | None = None,
                  sigmas=BLUR_SIGMAS_PX) -> float:
    """The Gaussian sigma (photo pixels) that makes the sharp design look like the photo.
    ``photo_region`` ``(h, w, 3)`` uint8 and ``ref_rgba`` ``(h, w, 4)`` the clean designed face warped
    onto the same pixels (premultiplied, from :func:`warp_face`). ``edge_px`` ``(K, 2)``: an outline in
    region pixels where the design and the photo are known to line up (the red octagon the homography
    was fitted to); the blur is judged in a band around it, since a real sign's legend never matches the
    drawn one to the pixel (None: the whole sign). The design is composited over the photo, blurred with
    each candidate sigma, an affine map fitted; the sigma with the smallest residual wins."""
    obs, alpha, inside = _sign_pixels(photo_region, ref_rgba)
    judge = inside
    if edge_px is not None:
        side = float(np.ptp(edge_px, 0).max())
        band = _edge_band(edge_px, alpha.shape, max(2, int(round(0.04 * side)))) & (alpha > 0.99)
        judge = band if band.sum() >= 30 else inside
    best = None
    for s in sigmas:
        # the design composited over the photo's own surroundings, then blurred like the camera would
        ref = _blur(ref_rgba[..., :3] + obs * (1 - alpha[..., None]), s)
        fit = fit_relight(ref[judge], obs[judge], "affine")
        if best is None or fit.rmse < best[0] - 1e-4:
            best = (fit.rmse, s)
    return float(best[1])


def fit_sign_light(photo_region: np.ndarray, ref_rgba: np.ndarray, blur_px: float, method: str = "tone") -> SignLight:
    """``method``'s map (:mod:`patchsim.realphoto.relight`) fitted on all the sign's pixels (alpha 1, one
    pixel in from the edge), the design blurred by ``blur_px`` like the photo."""
    obs, alpha, inside = _sign_pixels(photo_region, ref_rgba)
    ref = _blur(ref_rgba[..., :3] + obs * (1 - alpha[..., None]), blur_px)
    return SignLight(fit_relight(ref[inside], obs[inside], method), float(blur_px))


def estimate_light(photo_region: np.ndarray, ref_rgba: np.ndarray, edge_px: np.ndarray | None = None,
                   method: str = "tone", sigmas=BLUR_SIGMAS_PX) -> SignLight:
    """Fit the sign's light and blur: :func:`estimate_blur`, then :func:`fit_sign_light` at that blur."""
    return fit_sign_light(photo_region, ref_rgba, estimate_blur(photo_region, ref_rgba, edge_px, sigmas), method)


def place_sticker(photo: np.ndarray, img_from_face: np.ndarray, sticker: FacePyramid,
                  light: SignLight | None = None) -> np.ndarray:
    """The photo ``(H, W, 3)`` uint8 with the sticker (a pyramid of its RGBA over the face's bounding
    square, colours as printed) stuck on the sign: warped by ``img_from_face``, its colours through
    ``light.relight``, blurred by ``light.blur_px`` (None: pasted as is, sharp). Returns a new uint8
    image; pixels outside the sign region are untouched."""
    return place_sticker_lights(photo, img_from_face, sticker, [light or SignLight(identity(), 0.0)])[0]


def place_sticker_lights(photo: np.ndarray, img_from_face: np.ndarray, sticker: FacePyramid,
                         lights: list[SignLight]) -> list[np.ndarray]:
    """:func:`place_sticker` under each of ``lights`` (e.g. every relighting model of one sign), the
    sticker warped once per blur rather than once per light."""
    out, warped = [], {}
    for light in lights:
        if light.blur_px not in warped:
            region = sign_region(img_from_face, photo.shape[:2], pad=8 + int(np.ceil(3 * light.blur_px)))
            st = warp_face(sticker, img_from_face, region)
            a = st[..., 3:]
            warped[light.blur_px] = (region, np.where(a > 1e-6, st[..., :3] / np.maximum(a, 1e-6), 0.0), a,
                                     _blur(a, light.blur_px))
        (x0, y0, x1, y1), rgb, a, a_blur = warped[light.blur_px]
        lit = _blur(light.relight(rgb) * a, light.blur_px)
        a_blur = a_blur.reshape(a_blur.shape[0], a_blur.shape[1], 1)
        img = photo.copy()
        base = photo[y0:y1, x0:x1].astype(np.float32) / 255
        img[y0:y1, x0:x1] = np.clip((lit + base * (1 - a_blur)) * 255 + 0.5, 0, 255).astype(np.uint8)
        out.append(img)
    return out
