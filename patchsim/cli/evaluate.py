"""``patchsim evaluate``, ``evaluate-real`` and ``sweep``: scoring stickers in the independent simulator and on real sequences."""

from __future__ import annotations

from patchsim.objectives.goals import DETECTION_GOALS
from patchsim.cli.options import device_arg, model_args, number, printer_arg


def register(sub) -> None:
    """Add ``evaluate``, ``evaluate-real`` and ``sweep`` to the ``patchsim`` subparsers ``sub``."""
    _add_evaluate(sub)
    _add_evaluate_real(sub)
    _add_sweep(sub)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a sticker over a drive-by or grid with the independent simulator")
    p.add_argument("scene", help="scene YAML file or packaged scene name, or an attack output folder (its scene, "
                   "sticker, model, target and printer)")
    p.add_argument("--sticker", help="sticker.png from patchsim attack (omit to score the clean sign only)")
    model_args(p, default=None, shown="default: the attack's model for an attack folder, else gtsrb-cnn", detectors=True)
    p.add_argument("--target", help="target class (default: the attack's target from attack.json beside the sticker)")
    p.add_argument("--trust-model-code", action="store_true", help="with an attack folder: load its recorded model "
                   "even when that runs code (a module:factory or TorchScript file named in attack.json)")
    p.add_argument("--goal", choices=["auto", *DETECTION_GOALS], default="auto",
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
    from patchsim.jobs.evaluate_detector import stop_verdict
    from patchsim.scene import load_scene

    sticker, model, weights, target, printer = args.sticker, args.model, args.weights, args.target, args.printer
    if is_attack_dir(args.scene):  # an attack folder: its scene, sticker, model, target and printer
        rec = load_attack_dir(args.scene)
        scene, sticker = rec.scene, sticker or str(rec.sticker)
        if model is None:
            from patchsim.models import check_recorded_model

            check_recorded_model(rec.model, str(rec.path / "attack.json"), args.trust_model_code)
            model, weights = rec.model, weights or rec.weights
        target = target or rec.target
        printer = printer or rec.printer
    else:
        scene = load_scene(args.scene)
    req = EvaluateRequest(scene, sticker, model or "gtsrb-cnn", weights, args.labels, target, args.mode, args.seed,
                          printer or "inkjet", not args.no_video, device=args.device, target_from_sticker=True,
                          detector=args.detector, goal=args.goal, defence=args.defence)
    s = run_evaluate(req, args.out, force=args.force)
    if s.header.kind == "detector":
        d = s.disappearance_rate
        print(f"{s.sign_class} detected: clean {100 * s.detection_rate['clean']:.1f}%, attacked "
              f"{100 * s.detection_rate['attacked']:.1f}% of {s.header.frames} frames; disappearance rate "
              f"{'-' if d is None else f'{100 * d:.1f}%'}; the car stops before the line: clean "
              f"{stop_verdict(s.runs['clean'].braking)}; attacked {stop_verdict(s.runs['attacked'].braking)}; "
              f"report: {args.out}/report.html")
        return 0
    m = s.metrics
    print(f"fooled frames: clean {100 * m['clean'].success:.1f}%, attacked {100 * m['attacked'].success:.1f}% "
          f"of {s.header.frames}; report: {args.out}/report.html")
    return 0


def _add_evaluate_real(sub) -> None:
    p = sub.add_parser("evaluate-real", help="per-frame and temporal metrics on real footage or GTSRB tracks")
    p.add_argument("source", help="folder of cropped sign images, a video of a sign, or 'gtsrb' (real tracks)")
    model_args(p)
    p.add_argument("--true-class", default="stop")
    p.add_argument("--target")
    p.add_argument("--data", help="GTSRB folder (default ../shared/data/gtsrb)")
    p.add_argument("--allow-partial", action="store_true", help="score a video that ends before its stated frame "
                   "count (cut or damaged) on the frames it has, instead of refusing it")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_evaluate_real)


def _cmd_evaluate_real(args) -> int:
    from patchsim.jobs.evaluate_real import run_real

    s = run_real(args.source, args.model, args.out, args.true_class, args.target, args.weights, args.labels, args.data,
                 force=args.force, device=args.device, defence=args.defence, allow_partial=args.allow_partial)
    if args.source == "gtsrb":
        print(f"{s.tracks} real tracks: frame accuracy {100 * s.frame_accuracy:.2f}%, "
              f"{100 * s.tracks_that_flicker:.1f}% of tracks flicker, mean flip rate {s.mean_flip_rate:.4f}")
    else:
        print(f"{s.frames} frames: fooled {100 * s.metrics.success:.1f}%, flip rate {s.metrics.flip_rate:.3f}")
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
