"""Fitting a printer-plus-camera colour model from a photographed chart.

Model (:class:`patchsim.printing.printer.PrinterModel`): ``observed = clip(M @ (offset + gain * x ** gamma))``
per channel tone curve then a 3x3 matrix, from intended sRGB ``x`` to photographed sRGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from patchsim.errors import PatchsimError
from patchsim.io.images import atomic_write_bytes, read_image
from patchsim.printing.chart import ChartLayout, chart_colours, chart_homography, read_patches
from patchsim.realphoto.colour import ciede2000, srgb_to_lab
from patchsim.printing.printer import PrinterModel, apply_printer
from patchsim.records import json_bytes
from patchsim.io.outputs import check_output_file


def fit_profile(intended: np.ndarray, observed: np.ndarray, steps: int = 300) -> dict:
    """Fit the model to colour pairs ``(N, 3)``; returns {matrix, gain, offset, gamma, fit:{...}} with
    the fit's mean and max CIEDE2000."""
    if intended.shape != observed.shape or intended.ndim != 2 or intended.shape[1] != 3 or len(intended) < 8:
        raise PatchsimError(f"need at least 8 colour pairs (N, 3), got {intended.shape} and {observed.shape}")
    x = torch.tensor(intended, dtype=torch.float64).T.reshape(1, 3, -1, 1)
    y = torch.tensor(observed, dtype=torch.float64).T.reshape(1, 3, -1, 1)
    m = torch.eye(3, dtype=torch.float64, requires_grad=True)
    gain = torch.ones(3, dtype=torch.float64, requires_grad=True)
    offset = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    log_gamma = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    params = [m, gain, offset, log_gamma]
    opt = torch.optim.LBFGS(params, lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        pred = apply_printer(x, m, gain, offset, log_gamma.exp())
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = apply_printer(x, m, gain, offset, log_gamma.exp()).reshape(3, -1).T.numpy()
    de = ciede2000(srgb_to_lab(pred), srgb_to_lab(observed))
    return {"matrix": m.detach().tolist(), "gain": gain.detach().tolist(), "offset": offset.detach().tolist(),
            "gamma": log_gamma.detach().exp().tolist(),
            "fit": {"patches": int(len(intended)), "mean_ciede2000": float(de.mean()), "max_ciede2000": float(de.max()),
                    "model": "observed = clip(M @ (offset + gain * intended ** gamma)), sRGB in [0, 1]"}}


def palette_from_profile(profile: dict, levels: int = 6) -> list[list[float]]:
    """Printable colours as they come out: the profile applied to a ``levels``^3 grid of intended colours."""
    g = np.linspace(0, 1, levels)
    grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pm = PrinterModel(profile["matrix"], profile["gain"], profile["offset"], profile["gamma"])
    with torch.no_grad():
        out = pm(torch.tensor(grid, dtype=torch.float32).T.reshape(1, 3, -1, 1)).reshape(3, -1).T
    return np.round(out.numpy(), 4).tolist()


def calibrate_photo(photo_path: str | Path, out: str | Path, layout: ChartLayout = ChartLayout(),
                    force: bool | None = None) -> dict:
    """Find the chart in a photo, read its patches, fit the profile; write ``out`` (profile JSON) and a
    ``*.palette.json`` of printable colours beside it. Returns the profile."""
    out = check_output_file(out, inputs=(photo_path,), sidecars=(Path(out).with_suffix(".palette.json"),), force=force)
    photo = read_image(photo_path)
    h = chart_homography(photo, layout)
    observed = read_patches(photo, h, layout)
    profile = fit_profile(chart_colours(layout), observed)
    profile["fit"]["photo"] = str(photo_path)
    atomic_write_bytes(out, json_bytes(profile))
    pal = {"description": f"printable colours from the profile fitted to {photo_path}",
           "colors": palette_from_profile(profile)}
    atomic_write_bytes(out.with_suffix(".palette.json"), json_bytes(pal, indent=None))
    return profile
