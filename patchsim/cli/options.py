"""Command-line options shared by the ``patchsim`` subcommands: one checked type per kind of value
(numbers, devices), one-line usage errors, and the model, printer and device options."""

from __future__ import annotations

import argparse

from patchsim.errors import PatchsimError
from patchsim.checks import check_number
from patchsim.device import DEVICE_HELP, device_problem


def weights_labels_args(p) -> None:
    """--weights and --labels, for every command that loads a classifier."""
    p.add_argument("--weights", help="weights file (e.g. ../shared/data/rp2/lisa_cnn.npz for lisa-cnn)")
    p.add_argument("--labels", help="labels file for your own model (one class name per line)")


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``patchsim CMD: error: ... (see patchsim CMD --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(lo: float, hi: float, integer: bool = False):
    """An argparse type: a finite number (an integer when ``integer``) in [lo, hi], checked when the
    command line is parsed, before any work (argparse names the option in its one-line error)."""

    def parse(text: str):
        try:
            return check_number(None, text, lo, hi, integer)
        except PatchsimError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = "integer" if integer else "number"
    return parse


def device_type(text: str) -> str:
    """argparse type of --device: checked (the device exists) when the command line is parsed."""

    problem = device_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def device_arg(p) -> None:
    p.add_argument("--device", default="auto", type=device_type,
                   help=f"where models and the renderer run: {DEVICE_HELP} (default auto)")


def defence_type(text: str) -> str:
    """argparse type of --defence: the spec is checked when the command line is parsed."""
    from patchsim.defences import parse_defence

    if text.lower() != "none":
        try:
            parse_defence(text)
        except PatchsimError as e:
            raise argparse.ArgumentTypeError(str(e).replace("--defence ", "", 1)) from None
    return text


def defence_arg(p) -> None:
    """--defence, for the commands that score or attack a classifier."""
    from patchsim.defences import DEFENCE_HELP

    p.add_argument("--defence", type=defence_type, help=f"the classifier behind a defence: {DEFENCE_HELP}; an attack "
                   "through it is adaptive (BPDA where it is not differentiable, EOT over its masks)")


def model_args(p, default: str | None = "gtsrb-cnn", shown: str | None = None, detectors: bool = False) -> None:
    """--model, --weights, --labels and --defence, shared by the commands that load a model (and --detector where
    ``detectors`` are accepted). ``shown``: the default as the help states it, when it is not a plain value."""
    shown = shown or (f"default {default}" if default else "")
    what = "shipped model (a classifier, or the detector sign-det or sign-yolo)" if detectors else "shipped classifier"
    p.add_argument("--model", default=default, help=f"{what}, TorchScript/ONNX file or package.module:factory"
                   f"{f' ({shown})' if shown else ''}")
    weights_labels_args(p)
    defence_arg(p)
    if not detectors:
        return
    p.add_argument("--detector", action="store_true", help="--model is a detector (ultralytics YOLO layout, or "
                   "torchvision-style for a factory); sign-det and sign-yolo are known by name")


def printer_arg(p, default: str | None = "inkjet") -> None:
    """--printer, for every command that prints a sticker (in simulation or for real)."""
    p.add_argument("--printer", default=default, help="how the sticker prints: 'inkjet' (default, consumer inkjet on "
                   "matte paper or printable vinyl), 'identity' (no printer effect), 'vinyl' (cut solid-colour vinyl, the "
                   "default of attack --style vinyl / graffiti) or a profile JSON from patchsim calibrate")
