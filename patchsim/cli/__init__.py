"""The ``patchsim`` command: one entry point with subcommands."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from patchsim.printing.pdf import DPI_RANGE
from patchsim.cli.options import Parser, device_arg, model_args, number, printer_arg, weights_labels_args
from patchsim.cli.defence import add_defence_commands
from patchsim.cli.detect import add_detect
from patchsim.cli.photo import add_evaluate_photos, add_photo
from patchsim.cli.poison import add_poison_commands
from patchsim.errors import Interrupted, PatchsimError, failure_line

log = logging.getLogger("patchsim")


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="render frames and classifier crops of a scene")
    p.add_argument("scene", help="scene YAML file, or the name of a packaged scene (stop_driveby, stop_lab)")
    p.add_argument("--sticker", help="sticker PNG (RGB or RGBA covering the face's bounding square)")
    p.add_argument("--n", type=number(1, 10000, integer=True), default=8, help="number of frames (default 8)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0, help="sampler seed (default 0)")
    p.add_argument("--mode", choices=["eot", "driveby", "grid"], default="eot",
                   help="conditions: random EOT draws, the drive-by sequence (every k-th frame to give N), or the grid")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from patchsim.jobs.render import render_job

    render_job(args.scene, args.out, n=args.n, seed=args.seed, sticker_path=args.sticker, mode=args.mode,
               force=args.force, device=args.device)
    return 0


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the shipped models with their classes and accuracy")
    p.set_defaults(func=lambda args: print(__import__("patchsim.jobs.models", fromlist=["x"]).list_models()) or 0)

    p = sub.add_parser("classify", help="print the top 3 classes for each image")
    p.add_argument("model", help="shipped model name, TorchScript/ONNX file or package.module:factory")
    p.add_argument("images", nargs="+", help="image files")
    weights_labels_args(p)
    device_arg(p)
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("train", help="train a shipped GTSRB model from ../shared/data/gtsrb")
    p.add_argument("model", help="gtsrb-cnn or gtsrb-resnet")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors; the card goes beside it)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0)
    p.add_argument("--epochs", type=number(1, 1000, integer=True), help="override the recipe's epoch count")
    p.add_argument("--data", help="folder holding train.npz and test.npz (default ../shared/data/gtsrb)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint.pt (left by Ctrl-C)")
    device_arg(p)
    p.set_defaults(func=_cmd_train)


def _cmd_classify(args) -> int:
    from patchsim.jobs.models import classify

    for path, top in classify(args.model, args.images, args.weights, args.labels, device=args.device):
        print(path + ": " + ", ".join(f"{name} {p:.3f}" for name, p in top))
    return 0


def _cmd_train(args) -> int:
    from patchsim.models.train import train_model

    c = train_model(args.model, args.out, seed=args.seed, data_dir=args.data, epochs=args.epochs,
                    resume=args.resume, device=args.device)
    print(f"{args.model}: test accuracy {100 * c['test_acc']:.2f}%, weights {args.out}")
    return 0


def _add_attack(sub) -> None:
    p = sub.add_parser("attack", help="optimise a printable sticker with expectation over transformation")
    p.add_argument("scene", help="scene YAML file or packaged scene name")
    model_args(p, detectors=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--target", help="target class name or id (default speed_limit_80 for classifiers; detectors: "
                   "the class of --goal misclassify / create)")
    g.add_argument("--untargeted", action="store_true", help="any class but the true one")
    p.add_argument("--true-class", help="the sign's class in the model (default: the scene's sign class)")
    p.add_argument("--out", default="runs/attack", help="output folder (default runs/attack)")
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    _config_args(p)
    printer_arg(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--paper", choices=["A4", "letter"], default="A4")
    p.add_argument("--dpi", type=number(*DPI_RANGE), default=300.0, help="print resolution (default 300)")
    p.add_argument("--no-sim-to-real", action="store_true", help="skip the sim-to-real table (held-out renders, "
                   "independent drive-by, real photos raw and relit) in attack.json")
    device_arg(p)
    p.set_defaults(func=_cmd_attack)


def _config_args(p) -> None:
    """One ``--name`` option per :class:`AttackConfig` field that has help: type, choices, help and the
    default shown all come from the dataclass (the option's own default is None: the config's applies)."""
    from patchsim.attack.config import AttackConfig

    d = AttackConfig()
    for f in AttackConfig.cli_fields():
        default = getattr(d, f.name)
        if f.type == "bool":  # a switch, off by default
            p.add_argument("--" + f.name.replace("_", "-"), action="store_true", default=None,
                           help=f"{f.metadata['help']} (default {default})")
            continue
        b = f.metadata.get("bounds")
        kind = number(*b, integer=f.type == "int") if b else str
        p.add_argument("--" + f.name.replace("_", "-"), type=kind,
                       choices=f.metadata.get("choices"), metavar=None if f.metadata.get("choices") else f.name.upper(),
                       help=f"{f.metadata['help']} (default {default if default is not None else 'none'})")


def _cmd_attack(args) -> int:
    from patchsim.attack.config import AttackConfig
    from patchsim.jobs.attack import run_attack

    from patchsim.models import is_detector

    overrides = {f.name: getattr(args, f.name) for f in AttackConfig.cli_fields()}
    detector = is_detector(args.model, args.detector)
    target = args.target if detector else (None if args.untargeted else args.target or "speed_limit_80")
    rec = run_attack(args.scene, args.out, model=args.model, weights=args.weights, labels=args.labels,
                     detector=detector, target=target, true_class=args.true_class, resume=args.resume,
                     printer=args.printer, dpi=args.dpi, paper=args.paper, sim_to_real=not args.no_sim_to_real,
                     force=args.force, device=args.device, defence=args.defence, **overrides)
    print(f"validation success {100 * rec.final_success:.1f}% after {rec.steps_run} steps; "
          f"sticker area {100 * rec.export.sticker_area_fraction:.1f}% of the face; outputs in {args.out}")
    if rec.sim_to_real is not None:
        from patchsim.evaluate.sim_to_real import format_table

        print(format_table(rec.sim_to_real))
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a sticker over a drive-by or grid with the independent simulator")
    p.add_argument("scene", help="scene YAML file or packaged scene name, or an attack output folder (its scene, "
                   "sticker, model, target and printer)")
    p.add_argument("--sticker", help="sticker.png from patchsim attack (omit to score the clean sign only)")
    model_args(p, default=None, shown="default: the attack's model for an attack folder, else gtsrb-cnn", detectors=True)
    p.add_argument("--target", help="target class (default: the attack's target from attack.json beside the sticker)")
    p.add_argument("--goal", choices=["auto", "disappear", "misclassify", "create"], default="auto",
                   help="detectors: what counts as fooled (default: the sticker's attack's goal, else disappear)")
    p.add_argument("--mode", choices=["driveby", "grid"], default="driveby")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0)
    p.add_argument("--no-video", action="store_true")
    printer_arg(p, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from patchsim.jobs.attack_record import is_attack_dir, load_attack_dir
    from patchsim.jobs.evaluate import EvaluateRequest, run_evaluate
    from patchsim.scene import load_scene

    sticker, model, weights, target, printer = args.sticker, args.model, args.weights, args.target, args.printer
    if is_attack_dir(args.scene):  # an attack folder: its scene, sticker, model, target and printer
        rec = load_attack_dir(args.scene)
        scene, sticker = rec.scene, sticker or str(rec.sticker)
        if model is None:
            model, weights = rec.model, weights or rec.weights
        target = target or rec.target
        printer = printer or rec.printer
    else:
        scene = load_scene(args.scene)
    req = EvaluateRequest(scene, sticker, model or "gtsrb-cnn", weights, args.labels, target, args.mode, args.seed,
                          printer or "inkjet", not args.no_video, device=args.device, target_from_sticker=True,
                          detector=args.detector, goal=args.goal, defence=args.defence)
    s = run_evaluate(req, args.out, force=args.force)
    if hasattr(s, "detection_rate"):
        d = s.disappearance_rate
        print(f"{s.sign_class} detected: clean {100 * s.detection_rate['clean']:.1f}%, attacked "
              f"{100 * s.detection_rate['attacked']:.1f}% of {s.frames} frames; disappearance rate "
              f"{'-' if d is None else f'{100 * d:.1f}%'}; the car stops: clean "
              f"{'yes' if s.runs['clean'].car_stops else 'no'}, attacked {'yes' if s.runs['attacked'].car_stops else 'no'}; "
              f"report: {args.out}/report.html")
        return 0
    m = s.metrics
    print(f"fooled frames: clean {100 * m['clean'].success:.1f}%, attacked {100 * m['attacked'].success:.1f}% "
          f"of {s.frames}; report: {args.out}/report.html")
    return 0


def _add_evaluate_real(sub) -> None:
    p = sub.add_parser("evaluate-real", help="per-frame and temporal metrics on real footage or GTSRB tracks")
    p.add_argument("source", help="folder of cropped sign images, a video of a sign, or 'gtsrb' (real tracks)")
    model_args(p)
    p.add_argument("--true-class", default="stop")
    p.add_argument("--target")
    p.add_argument("--data", help="GTSRB folder (default ../shared/data/gtsrb)")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_evaluate_real)


def _cmd_evaluate_real(args) -> int:
    from patchsim.jobs.evaluate_real import run_real

    s = run_real(args.source, args.model, args.out, args.true_class, args.target, args.weights, args.labels, args.data,
                 force=args.force, device=args.device, defence=args.defence)
    if args.source == "gtsrb":
        print(f"{s['tracks']} real tracks: frame accuracy {100 * s['frame_accuracy']:.2f}%, "
              f"{100 * s['tracks_that_flicker']:.1f}% of tracks flicker, mean flip rate {s['mean_flip_rate']:.4f}")
    else:
        m = s["metrics"]
        print(f"{s['frames']} frames: fooled {100 * m.success:.1f}%, flip rate {m.flip_rate:.3f}")
    return 0


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="evaluate scenes x models x stickers x seeds into one results table")
    p.add_argument("--scenes", nargs="+", required=True)
    p.add_argument("--models", nargs="+", default=["gtsrb-cnn"], help="model names, or NAME@WEIGHTS")
    p.add_argument("--stickers", nargs="*", default=[], help="sticker.png files (none: clean only)")
    p.add_argument("--seeds", nargs="+", type=number(0, 2**63 - 1, integer=True), default=[0])
    p.add_argument("--mode", choices=["driveby", "grid"], default="driveby")
    p.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster (optional extra 'ray')")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args) -> int:
    from patchsim.jobs.sweep import run_sweep

    rows = run_sweep(args.scenes, args.models, args.stickers or [None], args.seeds, args.out, args.mode, args.ray,
                     force=args.force, device=args.device)
    print(f"{len(rows)} evaluations; table: {args.out}/results.csv, plot: {args.out}/summary.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="patchsim", description="Physical-world adversarial patch simulator")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_render(sub)
    _add_models(sub)
    _add_attack(sub)
    _add_evaluate(sub)
    _add_evaluate_real(sub)
    _add_sweep(sub)
    add_photo(sub)
    add_evaluate_photos(sub)
    add_detect(sub)
    add_defence_commands(sub)
    add_poison_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 2 bad input (a one-line ``patchsim CMD: error: ...`` naming
    the option or field, the value and what is allowed, before any heavy work); 1 a failure while running
    (disk, decoder, an unexpected error: one line, the traceback with ``--verbose``); 130 interrupted."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed its one-line usage error (or the help)
        return int(e.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    say = lambda msg: print(f"patchsim {args.command}: error: {msg}", file=sys.stderr)  # noqa: E731
    try:
        return args.func(args)
    except Interrupted as e:
        print(f"patchsim {args.command}: interrupted: {e}", file=sys.stderr)
        if e.resume:
            line = list(sys.argv[1:] if argv is None else argv)
            print("continue with: patchsim " + shlex.join(line + ([] if "--resume" in line else ["--resume"])),
                  file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"patchsim {args.command}: interrupted", file=sys.stderr)
        return 130
    except PatchsimError as e:
        say(e)
        return 2
    except BaseException as e:  # noqa: BLE001 -- every failure leaves as one line, never a traceback
        if isinstance(e, SystemExit):
            raise
        if args.verbose:
            logging.exception("patchsim %s failed", args.command)
        say(failure_line(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
