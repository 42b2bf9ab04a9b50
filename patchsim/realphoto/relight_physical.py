"""A physically grounded relighting model: light, exposure and the camera's tone response.

A sign face of design colour ``x`` (sRGB-encoded, on the catalogue's scale) reflects light proportional
to its linear reflectance ``lin(x)`` (the sRGB EOTF). The camera sees ``s_c = k_c * lin(x_c) + b``: the
illuminant's colour times the exposure (``k_c``, one gain per channel, what white balance leaves) plus
flare / black level ``b``; it writes ``y_c = enc(s_c) ** t``, the sRGB encoding bent by a tone
exponent ``t`` (camera tone curves are steeper or flatter than sRGB).

A stop sign shows two colours, so five free parameters are poorly pinned (its red channel has almost
no contrast). The fit is maximum a posteriori: a Gaussian prior on the illuminant's chromaticity
(``log k_r / k_g``, ``log k_b / k_g``), on ``b``, on ``log t`` and on the exposure ``log k_g`` (cameras
auto-expose: a sign's white lands near the top of the range), fitted on the attacker photos' signs
(``patchsim/data/relight_prior.json``, written by ``bench/relight_validation.py``; a broad built-in
prior when absent). Parameters are ``(b, k_r, k_g, k_b, t)``."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

PRIOR_FILE = Path(__file__).resolve().parents[1] / "data" / "relight_prior.json"
# (mean, std) of log(k_r/k_g), log(k_b/k_g), b, log t, log k_g: broad, used when no fitted prior ships
DEFAULT_PRIOR = ((0.0, 0.4), (0.0, 0.4), (0.0, 0.05), (0.0, 0.3), (0.0, 1.0))
PIXEL_SIGMA = 0.04  # sRGB units: spread of a sign's pixels about the model (texture, dirt, JPEG)
FIT_PIXELS = 4000
EFFECTIVE_PIXELS = 60  # independent observations a photographed sign is worth against the prior


def _lin(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _enc(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0, 1)
    return np.where(s <= 0.0031308, 12.92 * s, 1.055 * np.power(np.maximum(s, 1e-12), 1 / 2.4) - 0.055)


def physical_map(x: np.ndarray, params) -> np.ndarray:
    """``y`` ``(..., 3)`` in [0, 1] of design colours ``x`` ``(..., 3)`` in [0, 1] under ``params``
    ``(b, k_r, k_g, k_b, t)``."""
    b, kr, kg, kb, t = params
    s = np.asarray([kr, kg, kb]) * _lin(np.asarray(x, np.float64)) + b
    return np.clip(_enc(s), 0, 1) ** t


@functools.lru_cache(maxsize=1)
def load_prior() -> tuple:
    """((mean, std) x 5) of log k_r/k_g, log k_b/k_g, b, log t, log k_g: the packaged fit, else the
    default."""
    try:
        d = json.loads(PRIOR_FILE.read_text())
        prior = tuple((float(m), float(s)) for m, s in d["prior"])
    except (OSError, KeyError, ValueError, TypeError):
        return DEFAULT_PRIOR
    return prior if len(prior) == len(DEFAULT_PRIOR) and all(s > 0 for _, s in prior) else DEFAULT_PRIOR


def fit_physical(ref: np.ndarray, obs: np.ndarray, prior=None) -> tuple:
    """MAP ``(b, k_r, k_g, k_b, t)`` sending design colours ``ref`` ``(N, 3)`` to photographed ``obs``
    ``(N, 3)`` (sRGB in [0, 1]); ``prior`` ((mean, std) x 5) or None for :func:`load_prior`; pass
    ``prior=False`` for the unregularised fit (used to fit the prior itself)."""
    from scipy.optimize import least_squares

    pr = load_prior() if prior is None else prior
    ref, obs = np.asarray(ref, np.float64), np.asarray(obs, np.float64)
    if len(ref) > FIT_PIXELS:  # a regular subsample: the prior, not the pixel count, limits the fit
        keep = (np.arange(FIT_PIXELS) * (len(ref) / FIT_PIXELS)).astype(np.int64)
        ref, obs = ref[keep], obs[keep]
    # neighbouring pixels are not independent observations: the sign counts as EFFECTIVE_PIXELS of them
    w = np.sqrt(EFFECTIVE_PIXELS / (3 * len(ref)))

    def unpack(p):
        lkg, lr, lb, b, lt = p
        return b, np.exp(lkg + lr), np.exp(lkg), np.exp(lkg + lb), np.exp(lt)

    def resid(p):
        r = ((physical_map(ref, unpack(p)) - obs) / PIXEL_SIGMA).ravel() * w
        if pr is False:
            return r
        lkg, lr, lb, b, lt = p
        return np.concatenate([r, [(v - m) / s for v, (m, s) in zip((lr, lb, b, lt, lkg), pr)]])

    lkg0 = float(np.log(max(np.median(_lin(obs)[:, 1]) / max(np.median(_lin(ref)[:, 1]), 1e-3), 1e-3)))
    lo, hi = np.array([-8, -3, -3, -0.3, -1.5]), np.array([6, 3, 3, 0.5, 1.5])
    p0 = np.clip(np.array([lkg0, 0.0, 0.0, 0.0, 0.0]), lo + 1e-6, hi - 1e-6)
    fit = least_squares(resid, p0, bounds=(lo, hi), x_scale="jac")
    return tuple(float(v) for v in unpack(fit.x))
