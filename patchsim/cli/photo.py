"""The photo subcommands of ``patchsim``: print, calibrate, score and evaluate-photos."""

from __future__ import annotations

from patchsim.printing.pdf import DPI_RANGE
from patchsim.cli.options import device_arg, model_args, number, printer_arg


def register(sub) -> None:
    """Add ``print``, ``calibrate``, ``score`` and ``evaluate-photos`` to the subparsers ``sub``."""
    add_photo(sub)
    add_evaluate_photos(sub)


def add_photo(sub) -> None:
    p = sub.add_parser("print", help="print-ready PDF of an attack's sticker pieces and a calibration chart")
    p.add_argument("dir", help="an attack output folder (sticker.png, attack.json), or a sticker PNG with --scene "
                   "(e.g. a backdoor trigger's NAME.trigger.png)")
    p.add_argument("--scene", help="with a sticker PNG: the scene (sign size) it is printed for, e.g. stop_backdoor")
    p.add_argument("--paper", choices=["A4", "letter"], default="A4")
    p.add_argument("--dpi", type=number(*DPI_RANGE), default=300.0, help="print resolution (default 300)")
    p.add_argument("--out", help="PDF to write (default DIR/print.pdf, or the PNG's name with .pdf)")
    p.add_argument("--force", action="store_true", help="replace an existing PDF")
    p.set_defaults(func=_cmd_print)

    p = sub.add_parser("calibrate", help="fit a printer+camera colour profile from a photo of the chart")
    p.add_argument("photo")
    p.add_argument("--out", required=True, help="profile JSON (a .palette.json of printable colours goes beside it)")
    p.add_argument("--force", action="store_true", help="replace an existing profile")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("score", help="score real photos or video of a sign exactly like the simulation")
    p.add_argument("sources", nargs="+", help="photos, folders of photos, or video files")
    model_args(p)
    p.add_argument("--sign", default="stop", help="the sign's class (default stop)")
    p.add_argument("--target", help="target class of the sticker (default: untargeted)")
    p.add_argument("--corners", help="JSON corners file (4 points, or per frame)")
    p.add_argument("--find-with", metavar="DETECTOR", help="find the sign with a detector (sign-det, sign-yolo, or an ultralytics "
                   "export with --find-with-labels) instead of corners, markers or the red octagon")
    p.add_argument("--find-with-labels", help="labels file of the --find-with detector")
    p.add_argument("--fps", type=number(0.1, 1000), help="frame rate of the footage (default: the video's own)")
    p.add_argument("--allow-partial", action="store_true", help="score a video that ends before its stated frame "
                   "count (cut or damaged) on the frames it has, instead of refusing it")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_score)


def add_evaluate_photos(sub) -> None:
    p = sub.add_parser("evaluate-photos", help="a sticker on real photos of signs, placed by homography and relit")
    p.add_argument("source", help="rp2, street:asadi, street:praveen (scoring sets), street:praveen-train (attacker "
                   "set), or a folder of photos")
    p.add_argument("--sticker", help="sticker.png from patchsim attack (omit to score the clean photos only)")
    model_args(p)
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--target", help="target class (default: the attack's target from attack.json beside the sticker)")
    goal.add_argument("--untargeted", action="store_true", help="fooled = read as anything but --sign, whatever the "
                      "sticker's attack aimed at")
    p.add_argument("--sign", default="stop", help="the sign's class (default stop)")
    printer_arg(p)
    p.add_argument("--relight", default="validated", help="how the sticker takes the sign's light: validated (default: "
                   "the best-validated model, with the band over every model that passed validation; see "
                   "docs/results/relight_validation.md) or one model: tone, physical, reap_lab, percentile, affine, poly")
    p.add_argument("--annotations", help="JSON of face corners ({file: 4 points}) or boxes (street boxes.json format)")
    p.add_argument("--twins", action="store_true", help="also render each sign's condition-matched twin (pose, blur, "
                   "JPEG quality and light read off the photo) and report how often its verdict agrees with the photo's")
    p.add_argument("--twin-hfov", type=number(1, 170), help="the photos' horizontal field of view in degrees for the "
                   "twins (default: EXIF focal length, else 60)")
    p.add_argument("--twin-scene", default="stop_driveby", help="scene whose sign, camera and crop the twins use")
    p.add_argument("--margin", type=number(0, 2), default=0.1, help="detector box margin per side (default 0.1)")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_evaluate_photos)


def _cmd_evaluate_photos(args) -> int:
    from patchsim.jobs.evaluate_photos import run_evaluate_photos

    r = run_evaluate_photos(args.source, args.sticker, args.model, args.out, args.target, args.weights, args.labels,
                            args.sign, args.printer, args.relight, args.annotations, args.margin, force=args.force,
                            device=args.device, defence=args.defence, twins=args.twins, twin_hfov=args.twin_hfov,
                            twin_scene=args.twin_scene, untargeted=args.untargeted)
    m = r["metrics"]
    if r["sticker"]:
        from patchsim.evaluate.photos import band_text

        said = f"fooled clean {m['clean_fooled']}, raw {m['raw_fooled']}, relit {m['relit_fooled']}"
        if "relit_worst_success" in m:
            said += (f"; relit {band_text(m)} over {', '.join(m['relit_models'])}, worst plausible case "
                     f"{m['relit_worst_fooled']} ({m['relit_worst_model']})")
    else:
        said = f"read as {r['sign']} {m['clean_correct']} (no sticker)"
    if "twins" in r:
        t = r["twins"]
        said += f"; twins agree {100 * t['agreement_clean']:.0f}% clean"
        said += f", {100 * t['agreement_attacked']:.0f}% attacked" if t.get("agreement_attacked") is not None else ""
    print(f"{m['signs']} signs ({r['role']} photos): {said}; report {args.out}/report.html")
    return 0


def _cmd_print(args) -> int:
    from patchsim.jobs.print_sticker import run_print

    path, pages = run_print(args.dir, args.paper, args.dpi, args.out, scene=args.scene, force=args.force)
    print(f"wrote {path} ({pages} pages); print at 100% scale")
    return 0


def _cmd_calibrate(args) -> int:
    from patchsim.realphoto.calibrate import calibrate_photo

    p = calibrate_photo(args.photo, args.out, force=args.force)
    print(f"profile {args.out}: mean CIEDE2000 {p['fit']['mean_ciede2000']:.2f}, max {p['fit']['max_ciede2000']:.2f} "
          f"over {p['fit']['patches']} patches")
    return 0


def _cmd_score(args) -> int:
    from patchsim.jobs.score import run_score

    s = run_score(args.sources, args.model, args.out, args.sign, args.target, args.corners, args.weights,
                  args.labels, fps=args.fps, force=args.force, device=args.device, find_with=args.find_with,
                  find_with_labels=args.find_with_labels, defence=args.defence, allow_partial=args.allow_partial)
    m = s["metrics"]["real"]
    print(f"{s['frames_scored']} frames scored ({len(s['frames_without_sign'])} without a sign): fooled "
          f"{100 * m.success:.1f}%, flip rate {m.flip_rate:.3f}; report {args.out}/report.html")
    return 0
