"""``patchsim attack``: its options come from :class:`~patchsim.attack.config.AttackConfig`."""

from __future__ import annotations

from patchsim.cli.options import device_arg, model_args, number, printer_arg
from patchsim.printing.pdf import DPI_RANGE


def register(sub) -> None:
    """Add ``attack`` to the ``patchsim`` subparsers ``sub``."""
    _add_attack(sub)


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
    printer_arg(p, default=None)  # the job picks inkjet, or vinyl for vinyl styles
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
    from patchsim.jobs.attack import AttackRequest, run_attack

    from patchsim.models import is_detector

    overrides = {f.name: getattr(args, f.name) for f in AttackConfig.cli_fields()}
    detector = is_detector(args.model, args.detector)
    target = args.target if detector else (None if args.untargeted else args.target or "speed_limit_80")
    req = AttackRequest(args.scene, model=args.model, weights=args.weights, labels=args.labels, detector=detector,
                        defence=args.defence, target=target, true_class=args.true_class, printer=args.printer,
                        dpi=args.dpi, paper=args.paper, sim_to_real=not args.no_sim_to_real, device=args.device,
                        settings=overrides)
    rec = run_attack(req, args.out, resume=args.resume, force=args.force)
    print(f"validation success {100 * rec.final_success:.1f}% after {rec.steps_run} steps; "
          f"sticker area {100 * rec.export.sticker_area_fraction:.1f}% of the face; outputs in {args.out}")
    if rec.sim_to_real is not None:
        from patchsim.evaluate.sim_to_real import format_table

        print(format_table(rec.sim_to_real))
    return 0
