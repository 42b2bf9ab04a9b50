"""Relighting a sticker with a photographed sign's own light (REAP, Hingun et al. ICCV 2023).

The clean sign face as designed (``ref``) and the same pixels of the photographed sign (``obs``) give a
per-channel map from designed colour to photographed colour; the printed sticker's colours go through
the same map, so the sticker looks lit, exposed and white-balanced like the sign it is stuck on.

Methods (all per channel, on sRGB values in [0, 1]):
- ``none``: the identity: the sticker shows its printed colours as designed (a candidate like the others:
  auto-exposed photos often show a sign close to its design colours).
- ``percentile``: REAP's: the map sends the reference's 20th / 80th percentiles onto the photo's.
- ``affine``: least-squares ``obs = gain * ref + offset``.
- ``poly``: least-squares quadratic ``obs = c0 + c1 ref + c2 ref^2`` (camera tone curves bend).
- ``tone``: ``obs = black + gain_c * ref^g`` with one black level and one exponent for all channels and
  a gain per channel (light colour and exposure). A stop sign's red channel has almost no contrast
  (red and white both have high red), so per-channel fits extrapolate it wildly to the sticker's
  dark reds; here green and blue pin the shared black level and curve, and red only needs its gain.
- ``physical``: light colour x exposure, flare and the camera's tone response in linear light, fitted
  maximum a posteriori with a prior from the attacker photos (:mod:`patchsim.realphoto.relight_physical`).
- ``reap_lab``: REAP's colour transfer (Hingun et al., ``adv_patch_bench/transforms/lighting_tf.py``):
  the design's CIELAB mean and spread per channel moved onto the photo's. Not per RGB channel, so it
  has no polynomial form (``space = "lab"``): scoring on photos only, not the optimiser's batches.
Colours are arrays ``(..., 3)`` float in [0, 1].

Per-channel maps are kept as polynomial coefficients per channel (``space = "srgb"``), the form the
optimiser's torch path applies (tone as its degree-5 least-squares polynomial), or, for curves no low
polynomial follows (physical: the sRGB encoding's steep foot, clipping at white), as 129 samples per
channel interpolated linearly (``space = "lut"``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from patchsim.errors import PatchsimError

METHODS = ("none", "percentile", "affine", "poly", "tone", "physical", "reap_lab")
TONE_EXPONENTS = np.linspace(0.4, 2.5, 43)
LUT_SAMPLES = 129  # samples per channel of a "lut" map
MIN_PIXELS = 30  # fewer sign pixels than this cannot give a fit
MAX_FIT_PIXELS = 20000  # larger signs are fitted on a regular subsample of this many pixels


@dataclass(frozen=True)
class Relight:
    """A per-channel polynomial colour map: ``coeffs`` ``(3, D + 1)``, row c holding the coefficients of
    channel c from the constant term up; ``method`` names how it was fitted; ``rmse`` its residual on
    the sign pixels it was fitted to (sRGB units)."""

    method: str
    coeffs: tuple[tuple[float, ...], ...]
    rmse: float = 0.0
    params: tuple[float, ...] = ()  # tone: (black, gain_r, gain_g, gain_b, exponent); physical: (b, k_r, k_g, k_b, t)
    space: str = "srgb"  # srgb: per-channel polynomials; lut: per-channel samples at linspace(0, 1, K); lab: CIELAB

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Relit colours ``(..., 3)`` float32 in [0, 1] of colours ``x`` ``(..., 3)`` in [0, 1]."""
        x = np.asarray(x, np.float32)
        c = np.asarray(self.coeffs, np.float32)
        if self.space == "lab":
            from patchsim.realphoto.colour import lab_to_srgb, srgb_to_lab

            return lab_to_srgb(srgb_to_lab(x) * c[:, 1] + c[:, 0]).astype(np.float32)
        if self.space == "lut":
            grid = np.linspace(0.0, 1.0, c.shape[1])
            return np.stack([np.interp(np.clip(x[..., k], 0, 1), grid, c[k]) for k in range(3)], -1).astype(np.float32)
        out = np.zeros_like(x)
        for k in range(c.shape[1] - 1, -1, -1):  # Horner
            out = out * x + c[:, k]
        return np.clip(out, 0.0, 1.0)

    @property
    def gain(self) -> np.ndarray:
        """Slope ``(3,)`` of each channel along the grey axis at its middle (the affine gain for
        degree-1 maps)."""
        return (self(np.full(3, 0.75)) - self(np.full(3, 0.25))).astype(np.float64) / 0.5

    @property
    def offset(self) -> np.ndarray:
        """The map's value ``(3,)`` at black (the affine offset for degree-1 maps)."""
        return self(np.zeros(3)).astype(np.float64)

def identity() -> Relight:
    """The map that changes nothing."""
    return Relight("none", ((0.0, 1.0),) * 3)


def _check(ref: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, obs = np.asarray(ref, np.float64).reshape(-1, 3), np.asarray(obs, np.float64).reshape(-1, 3)
    if ref.shape != obs.shape:
        raise PatchsimError(f"relighting needs matching colour lists, got {ref.shape} and {obs.shape}")
    if len(ref) < MIN_PIXELS:
        raise PatchsimError(f"relighting needs at least {MIN_PIXELS} sign pixels, got {len(ref)}")
    return ref, obs


def fit_relight(ref: np.ndarray, obs: np.ndarray, method: str = "percentile", lo: float = 20.0,
                hi: float = 80.0) -> Relight:
    """Fit the map from designed colours ``ref`` ``(N, 3)`` to photographed colours ``obs`` ``(N, 3)``
    (the same N sign pixels; sRGB in [0, 1]) with ``method`` (see the module doc); ``lo`` / ``hi``
    are the percentiles of the ``percentile`` method."""
    if method not in METHODS:
        raise PatchsimError(f"relight method {method!r} is unknown; allowed: {', '.join(METHODS)}")
    ref, obs = _check(ref, obs)
    if len(ref) > MAX_FIT_PIXELS:  # a regular subsample: the same fit to well under 1/255, 10x faster
        step = len(ref) / MAX_FIT_PIXELS
        keep = (np.arange(MAX_FIT_PIXELS) * step).astype(np.int64)
        ref, obs = ref[keep], obs[keep]
    if method == "none":
        return dataclasses.replace(identity(), rmse=float(np.sqrt(((identity()(ref) - obs) ** 2).mean())))
    if method in ("tone", "physical", "reap_lab"):
        fit = {"tone": _fit_tone, "physical": _fit_physical, "reap_lab": _fit_reap_lab}[method](ref, obs)
        return dataclasses.replace(fit, rmse=float(np.sqrt(((fit(ref) - obs) ** 2).mean())))
    rows = []
    for c in range(3):
        r, o = ref[:, c], obs[:, c]
        if method == "percentile":
            r_lo, r_hi = np.percentile(r, [lo, hi])
            o_lo, o_hi = np.percentile(o, [lo, hi])
            if r_hi - r_lo < 0.05:  # the design has no contrast in this channel at these percentiles
                gain = float(np.median(o) / max(np.median(r), 1e-3))
                rows.append((0.0, gain))
                continue
            gain = (o_hi - o_lo) / (r_hi - r_lo)
            rows.append((float(o_lo - gain * r_lo), float(gain)))
        elif np.ptp(r) < 0.05:  # one design colour in this channel: only a gain can be fitted
            rows.append((0.0, float(np.median(o) / max(np.median(r), 1e-3))) + (0.0,) * (method == "poly"))
        else:
            deg = 1 if method == "affine" else 2
            a = np.stack([r**k for k in range(deg + 1)], 1)
            coef, *_ = np.linalg.lstsq(a, o, rcond=None)
            rows.append(tuple(float(v) for v in coef))
    fit = Relight(method, tuple(rows))
    return Relight(method, fit.coeffs, float(np.sqrt(((fit(ref) - obs) ** 2).mean())))


def _fit_tone(ref: np.ndarray, obs: np.ndarray) -> Relight:
    """``obs_c = black + gain_c * ref_c ** g``: for each exponent on a grid, a joint linear least squares
    for (black, gain_r, gain_g, gain_b); the exponent with the smallest residual wins. Returned as an
    exact polynomial only for g = 1, so the map is kept as a sampled curve: coefficients of a degree-5
    least-squares polynomial per channel over [0, 1] (error < 0.01 for g in [0.4, 2.5])."""
    best = None
    ref, obs = np.clip(ref, 0, 1), obs
    n = len(ref)
    yy = float((obs**2).sum())
    for g in TONE_EXPONENTS:
        # normal equations of the joint fit over the 3n values: unknowns (black, gain_r, gain_g, gain_b)
        x = ref**g
        ata = np.zeros((4, 4))
        ata[0, 0] = 3 * n
        ata[0, 1:] = ata[1:, 0] = x.sum(0)
        ata[1:, 1:] = np.diag((x**2).sum(0))
        aty = np.concatenate([[obs.sum()], (x * obs).sum(0)])
        coef = np.linalg.lstsq(ata + 1e-9 * np.eye(4), aty, rcond=None)[0]  # one design colour: singular
        err = yy - 2 * coef @ aty + coef @ ata @ coef
        if best is None or err < best[0]:
            best = (err, g, coef)
    _, g, (black, *gains) = best
    t = np.linspace(0, 1, 64)
    v = np.vander(t, 6, increasing=True)
    rows = tuple(tuple(float(c) for c in np.linalg.lstsq(v, black + k * t**g, rcond=None)[0]) for k in gains)
    return Relight("tone", rows, 0.0, (float(black), *map(float, gains), float(g)))


def _fit_physical(ref: np.ndarray, obs: np.ndarray) -> Relight:
    from patchsim.realphoto.relight_physical import fit_physical, physical_map

    params = fit_physical(ref, obs)
    t = np.linspace(0, 1, LUT_SAMPLES)
    table = physical_map(np.repeat(t[:, None], 3, 1), params).T
    return Relight("physical", tuple(tuple(float(v) for v in row) for row in table), 0.0, params, space="lut")


def _fit_reap_lab(ref: np.ndarray, obs: np.ndarray) -> Relight:
    """REAP's colour transfer: ``lab_obs = (lab_ref - mean_ref) * std_obs / std_ref + mean_obs`` per
    CIELAB channel; a channel without spread in the design only moves its mean."""
    from patchsim.realphoto.colour import srgb_to_lab

    lr, lo = srgb_to_lab(ref), srgb_to_lab(obs)
    mr, sr, mo, so = lr.mean(0), lr.std(0), lo.mean(0), lo.std(0)
    gain = np.where(sr > 1.0, so / np.maximum(sr, 1e-6), 1.0)
    return Relight("reap_lab", tuple((float(mo[k] - gain[k] * mr[k]), float(gain[k])) for k in range(3)), 0.0,
                   space="lab")
